"""Procedural German-style speed-limit signs seen as camera crops (GTSRB-like).

Every image is a white disk with a red ring and black condensed digits, photographed under varied
conditions: scale, offset, in-plane rotation, out-of-plane tilt, lighting, faded paint, blur, JPEG
softness, sensor noise and a cluttered background. The in-distribution classes are the speed limits
in `CLASS_NAMES`; the out-of-distribution sign (20 km/h) goes through exactly the same pipeline, so
only its digits set it apart.

The digits are drawn from stroke outlines defined here (a DIN 1451-like construction of lines and
arcs), so no font file is ever needed and the glyphs do not change with the installed Pillow.

Images are float32 arrays of shape (3, size, size), RGB, values in [0, 1]. All randomness comes
from the `numpy.random.Generator` passed in; the only cache holds deterministic glyph masks.
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

CLASS_NAMES: tuple[str, ...] = ("30", "50", "60", "70", "80", "100", "120")  # km/h
OOD_NAME = "20"

# Scenes are composed at this multiple of the output size and box-filtered down, which
# anti-aliases the digits and the clutter at little cost.
_SUPERSAMPLE = 2

# --------------------------------------------------------------------------------------------
# Digit glyphs
# --------------------------------------------------------------------------------------------

# Glyph centre lines live in a box 4.2 units wide and 8.6 units tall (y points down); the stroke
# is drawn around them, so the ink is one stroke width larger in each direction.
_GLYPH_W = 4.2
_GLYPH_H = 8.6
# Stroke weights (glyph units) and gaps between digits (glyph units) the signs are drawn with.
_STROKE_WEIGHTS = (1.35, 1.55, 1.75)
_DIGIT_GAPS = (0.35, 0.7)
# Pixels per glyph unit in the cached masks: about 70 px of digit height, close to the largest
# digits a 2x super-sampled 64 px crop shows, so sampling the mask rarely minifies much.
_MASK_SCALE = 7.0


def _arc(cx: float, cy: float, rx: float, ry: float, start_deg: float, end_deg: float,
         steps: int = 28) -> list[tuple[float, float]]:
    """Points on an elliptical arc; angles in degrees with y down, so -90 is the top."""
    angles = np.radians(np.linspace(start_deg, end_deg, steps))
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles]


def _bezier(p0, p1, p2, steps: int = 16) -> list[tuple[float, float]]:
    """Points on a quadratic Bezier curve from p0 to p2 pulled towards p1."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    pts = (1 - t) ** 2 * np.array(p0) + 2 * (1 - t) * t * np.array(p1) + t ** 2 * np.array(p2)
    return [tuple(p) for p in pts]


def _six_strokes() -> list[list[tuple[float, float]]]:
    """A 6: a curved spine falling into a closed lower bowl."""
    spine = _bezier((3.7, 0.0), (0.1, 2.2), (0.0, 6.0))
    return [spine + _arc(2.1, 6.0, 2.1, 2.6, 180, 540, 40)]


def _glyph_strokes(digit: str) -> list[list[tuple[float, float]]]:
    """Centre-line polylines of one digit, in glyph units."""
    w, h = _GLYPH_W, _GLYPH_H
    if digit == "0":
        return [_arc(2.1, 2.4, 2.1, 2.4, 180, 360) + _arc(2.1, 6.2, 2.1, 2.4, 0, 180)
                + [(0.0, 2.4)]]
    if digit == "1":
        return [[(0.6, 2.0), (3.0, 0.0), (3.0, h)]]
    if digit == "2":
        bowl = _arc(2.1, 2.25, 2.1, 2.25, 190, 385)
        return [bowl + [(0.0, h), (w, h)]]
    if digit == "3":
        bowl = _arc(2.1, 6.0, 2.1, 2.6, -118, 150)
        return [[(0.15, 0.0), (4.0, 0.0)] + bowl]
    if digit == "4":
        return [[(3.2, h), (3.2, 0.0), (0.0, 6.1), (w + 0.2, 6.1)]]
    if digit == "5":
        bowl = _arc(2.1, 5.9, 2.1, 2.7, -142, 150)
        return [[(4.0, 0.0), (0.45, 0.0)] + bowl]
    if digit == "6":
        return _six_strokes()
    if digit == "7":
        return [[(0.0, 0.0), (w, 0.0), (1.3, h)]]
    if digit == "8":
        return [_arc(2.1, 2.0, 1.8, 2.0, 90, 450, 36), _arc(2.1, 6.2, 2.1, 2.4, -90, 270, 40)]
    if digit == "9":
        return [[(w - x, h - y) for x, y in line] for line in _six_strokes()]
    raise ValueError(f"no glyph for character {digit!r}")


def _glyph_extent(strokes: list[list[tuple[float, float]]]) -> tuple[float, float]:
    """Horizontal extent (min x, max x) of a glyph's centre lines."""
    xs = [x for line in strokes for x, _ in line]
    return min(xs), max(xs)


def _distance_to_polylines(points: np.ndarray, lines: list[np.ndarray]) -> np.ndarray:
    """Distance from each point (N, 2) to the nearest segment of any polyline.

    Open ends are cut square (butt caps, as in DIN lettering) by ignoring points beyond them;
    joints between segments stay round.
    """
    starts = np.concatenate([line[:-1] for line in lines])
    ends = np.concatenate([line[1:] for line in lines])
    open_start = np.concatenate([_open_end_flags(line, first=True) for line in lines])
    open_end = np.concatenate([_open_end_flags(line, first=False) for line in lines])
    seg = ends - starts
    seg_len2 = np.maximum((seg ** 2).sum(axis=1), 1e-12)
    rel = points[:, None, :] - starts[None, :, :]
    t = (rel * seg[None]).sum(axis=2) / seg_len2[None]
    beyond_cap = ((t < 0) & open_start[None]) | ((t > 1) & open_end[None])
    t = np.clip(t, 0.0, 1.0)
    nearest = starts[None] + t[..., None] * seg[None]
    distance = np.sqrt(((points[:, None, :] - nearest) ** 2).sum(axis=2))
    return np.where(beyond_cap, np.inf, distance).min(axis=1)


def _open_end_flags(line: np.ndarray, first: bool) -> np.ndarray:
    """Per segment of `line`: whether it starts (first=True) or ends the line at an open end."""
    flags = np.zeros(len(line) - 1, dtype=bool)
    if not np.allclose(line[0], line[-1]):
        flags[0 if first else -1] = True
    return flags


@lru_cache(maxsize=None)
def _text_mask(text: str, weight: float, gap: float) -> np.ndarray:
    """Ink coverage of `text` (float32, 1 = ink), tightly cropped to the ink box.

    Strokes are rasterised from their exact distance field, which gives clean anti-aliased edges
    at any weight. Digits are laid out proportionally (a 1 is narrower), as on real speed signs.
    """
    glyph_lines, cursor = [], 0.0
    for char in text:
        strokes = _glyph_strokes(char)
        x_min, x_max = _glyph_extent(strokes)
        shift = np.array([cursor - x_min + weight / 2, weight / 2])
        glyph_lines.append([np.asarray(line, dtype=np.float64) + shift for line in strokes])
        cursor += (x_max - x_min) + weight + gap
    ink_w, ink_h = cursor - gap, _GLYPH_H + weight

    s = _MASK_SCALE
    cols, rows = int(np.ceil(ink_w * s)), int(np.ceil(ink_h * s))
    distance = np.full((rows, cols), np.inf)
    ys, xs = (np.mgrid[0:rows, 0:cols] + 0.5) / s
    # Each glyph only affects the columns around it, which keeps the distance field cheap.
    for glyph in glyph_lines:
        x_lo = max(int(min(line[:, 0].min() for line in glyph) * s - weight * s), 0)
        x_hi = min(int(max(line[:, 0].max() for line in glyph) * s + weight * s) + 1, cols)
        points = np.column_stack([xs[:, x_lo:x_hi].ravel(), ys[:, x_lo:x_hi].ravel()])
        near = _distance_to_polylines(points, glyph).reshape(rows, x_hi - x_lo)
        distance[:, x_lo:x_hi] = np.minimum(distance[:, x_lo:x_hi], near)
    mask = np.clip((weight / 2 - distance) * s + 0.5, 0.0, 1.0).astype(np.float32)
    mask.setflags(write=False)
    return mask


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------

def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation of the sign plane: roll about the view axis, then pitch and yaw (radians)."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    yaw_m = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    pitch_m = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    roll_m = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return yaw_m @ pitch_m @ roll_m


def _sign_homography(rng: np.random.Generator, canvas: int) -> tuple[np.ndarray, float]:
    """Homography from sign coordinates (unit disk) to canvas pixels, and the sign radius (px).

    The sign is a plane tilted in 3D and seen through a pinhole camera, so the disk becomes an
    ellipse with a touch of perspective, as in a real crop of a roadside sign.
    """
    fill = rng.uniform(0.55, 0.95)                     # sign diameter / crop side
    radius = fill * canvas / 2
    yaw = np.radians(np.clip(rng.normal(0.0, 16.0), -42, 42))
    pitch = np.radians(np.clip(rng.normal(0.0, 9.0), -25, 25))
    roll = np.radians(rng.normal(0.0, 3.5))
    # Camera distance in sign radii: near cameras show strong perspective.
    distance = rng.uniform(4.0, 12.0)
    slack = max(canvas / 2 - radius, 0.0) + 0.04 * canvas
    centre = canvas / 2 + rng.uniform(-0.8, 0.8, size=2) * slack
    rot = _rotation(yaw, pitch, roll)
    focal = radius * distance
    camera = np.array([[focal, 0, centre[0]], [0, focal, centre[1]], [0, 0, 1.0]])
    plane_to_camera = np.column_stack([rot[:, 0], rot[:, 1], [0.0, 0.0, distance]])
    return camera @ plane_to_camera, radius


@lru_cache(maxsize=8)
def _pixel_centres(canvas: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates (float32) of the pixel centres of a square canvas."""
    ys, xs = np.mgrid[0:canvas, 0:canvas].astype(np.float32) + np.float32(0.5)
    ys.setflags(write=False)
    xs.setflags(write=False)
    return ys, xs


def _sign_coordinates(homography: np.ndarray, canvas: int) -> tuple[np.ndarray, np.ndarray]:
    """Sign-plane coordinates (u, v) seen at every canvas pixel centre."""
    inverse = np.linalg.inv(homography).astype(np.float32)
    ys, xs = _pixel_centres(canvas)
    u = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    v = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    w = inverse[2, 0] * xs + inverse[2, 1] * ys + inverse[2, 2]
    return u / w, v / w


def _coverage(distance_inside: np.ndarray, pixel_size: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of a region, given a signed distance (positive inside)."""
    return np.clip(distance_inside / pixel_size + 0.5, 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Sign
# --------------------------------------------------------------------------------------------

def _sample_digits(rng: np.random.Generator, text: str, u: np.ndarray, v: np.ndarray,
                   inner_radius: float) -> np.ndarray:
    """Digit coverage at sign coordinates (u, v); the layout varies like real sign designs."""
    mask = _text_mask(text, _STROKE_WEIGHTS[rng.integers(len(_STROKE_WEIGHTS))],
                      _DIGIT_GAPS[rng.integers(len(_DIGIT_GAPS))])
    mask_h, mask_w = mask.shape
    height = rng.uniform(0.80, 0.95) * inner_radius / 0.76
    width = height * (mask_w / mask_h) * rng.uniform(0.85, 1.1)
    # Wide numbers are condensed and shrunk to stay inside the white field.
    max_width = (1.28 if len(text) > 2 else 1.12) * inner_radius / 0.76
    if width > max_width:
        height *= (max_width / width) ** 0.35
        width = max_width
    centre_u = rng.normal(0.0, 0.02)
    centre_v = rng.normal(0.0, 0.02)
    rows = (v - centre_v + height / 2) / height * mask_h - 0.5
    cols = (u - centre_u + width / 2) / width * mask_w - 0.5
    return ndimage.map_coordinates(mask, [rows, cols], order=1, mode="constant", cval=0.0,
                                   prefilter=False)


def _paint_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Red, white and black paint, sometimes faded or dirty as on old signs."""
    red = np.array([rng.uniform(0.72, 0.92), rng.uniform(0.04, 0.16), rng.uniform(0.06, 0.2)])
    white = rng.uniform(0.86, 0.98) + rng.normal(0.0, 0.015, size=3)
    black = np.full(3, rng.uniform(0.02, 0.1)) + rng.normal(0.0, 0.01, size=3)
    if rng.random() < 0.25:                            # sun-faded paint
        fade = rng.uniform(0.15, 0.55)
        red = (1 - fade) * red + fade * np.array([0.9, 0.55, 0.55])
        black = (1 - fade * 0.6) * black + fade * 0.6 * np.array([0.4, 0.4, 0.42])
    if rng.random() < 0.2:                             # grime on the white field
        white = white * rng.uniform(0.75, 0.95) * np.array([1.0, 0.98, 0.93])
    return red, np.clip(white, 0, 1), np.clip(black, 0, 1)


def _sign_shading(rng: np.random.Generator, u: np.ndarray,
                  v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicative shading and additive glare over the sign face (uneven light, shadows)."""
    gx, gy = (float(g) for g in rng.normal(0.0, 0.15, size=2))
    shade = 1.0 + gx * u + gy * v
    if rng.random() < 0.2:                             # a soft cast shadow edge across the face
        angle = rng.uniform(0, 2 * np.pi)
        offset = rng.uniform(-0.6, 0.6)
        side = float(np.cos(angle)) * u + float(np.sin(angle)) * v - offset
        shade = shade * (1.0 - rng.uniform(0.25, 0.55) * np.clip(side / 0.1 + 0.5, 0, 1))
    glare = np.zeros_like(u)
    if rng.random() < 0.15:  # specular highlight on retro-reflective film
        su, sv = (float(c) for c in rng.uniform(-0.7, 0.7, size=2))
        spread = rng.uniform(0.15, 0.5)
        squared_distance = (u - su) ** 2 + (v - sv) ** 2
        glare = rng.uniform(0.15, 0.45) * np.exp(-squared_distance / (2 * spread ** 2))
    return shade, glare


def _sign_layer(rng: np.random.Generator, text: str, canvas: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Colour (H, W, 3), coverage (H, W) and pole anchor of a sign of `text` on the canvas."""
    homography, radius = _sign_homography(rng, canvas)
    u, v = _sign_coordinates(homography, canvas)
    r = np.hypot(u, v)
    # Size of one pixel in sign units, per pixel, so edges stay one pixel soft under perspective.
    grad_r = np.hypot(*np.gradient(r))
    pixel_size = np.maximum(grad_r, 1e-4)

    inner_radius = rng.uniform(0.72, 0.8)              # red ring is ~ a quarter of the radius
    rim = rng.uniform(0.0, 0.05) if rng.random() < 0.6 else 0.0
    plate = _coverage(1.0 - r, pixel_size)
    inside_rim = _coverage(1.0 - rim - r, pixel_size)
    white_field = _coverage(inner_radius - r, pixel_size)
    digits = _sample_digits(rng, text, u, v, inner_radius) * white_field

    red, white, black = (c.astype(np.float32) for c in _paint_colours(rng))
    red_part = inside_rim - white_field
    white_part = (plate - inside_rim) + white_field - digits
    colour = (red_part[..., None] * red + white_part[..., None] * white
              + digits[..., None] * black)
    colour = colour / np.maximum(plate, 1e-6)[..., None]
    shade, glare = _sign_shading(rng, u, v)
    colour = colour * shade[..., None] + glare[..., None]

    bottom = homography @ np.array([0.0, 1.0, 1.0])
    pole_anchor = np.array([bottom[0] / bottom[2], bottom[1] / bottom[2], radius])
    return np.clip(colour, 0, 1.2), plate, pole_anchor


# --------------------------------------------------------------------------------------------
# Background clutter
# --------------------------------------------------------------------------------------------

_SKY = ((0.45, 0.62, 0.85), (0.75, 0.8, 0.86), (0.55, 0.58, 0.62), (0.85, 0.75, 0.6))
_FOLIAGE = ((0.18, 0.3, 0.12), (0.3, 0.4, 0.15), (0.1, 0.18, 0.1), (0.42, 0.36, 0.2))
_BUILDING = ((0.55, 0.5, 0.45), (0.6, 0.35, 0.28), (0.75, 0.72, 0.65), (0.35, 0.35, 0.38))
_GROUND = ((0.35, 0.35, 0.35), (0.25, 0.25, 0.27), (0.45, 0.42, 0.38))


def _jitter_colour(rng: np.random.Generator, base, spread: float = 0.08) -> tuple[int, int, int]:
    """A palette colour with random variation, as 8-bit RGB for drawing."""
    colour = np.clip(np.array(base) * rng.uniform(0.7, 1.2) + rng.normal(0, spread, 3), 0, 1)
    return tuple(int(c * 255) for c in colour)


def _smooth_field(rng: np.random.Generator, canvas: int, cells: int, amount: float) -> np.ndarray:
    """Low-frequency random variation (H, W, 1) around 1, like uneven texture and lighting."""
    coarse = Image.fromarray(rng.integers(0, 256, size=(cells, cells), dtype=np.uint8))
    field = np.asarray(coarse.resize((canvas, canvas), Image.BICUBIC), dtype=np.float32) / 255.0
    return 1.0 + amount * (field[..., None] - 0.5)


def _draw_foliage(rng: np.random.Generator, draw: ImageDraw.ImageDraw, canvas: int) -> None:
    """Clusters of leaf-like blobs."""
    for _ in range(rng.integers(8, 30)):
        x, y = rng.uniform(-0.1, 1.1, size=2) * canvas
        rx, ry = rng.uniform(0.03, 0.14, size=2) * canvas
        draw.ellipse([x - rx, y - ry, x + rx, y + ry],
                     fill=_jitter_colour(rng, _FOLIAGE[rng.integers(len(_FOLIAGE))]))


def _draw_building(rng: np.random.Generator, draw: ImageDraw.ImageDraw, canvas: int) -> None:
    """A facade with a grid of windows, or plain panels and stripes."""
    left = rng.uniform(-0.3, 0.6) * canvas
    top = rng.uniform(-0.2, 0.5) * canvas
    draw.rectangle([left, top, canvas * 1.2, canvas * 1.2],
                   fill=_jitter_colour(rng, _BUILDING[rng.integers(len(_BUILDING))]))
    window = _jitter_colour(rng, (0.2, 0.24, 0.3), 0.06)
    step = rng.uniform(0.14, 0.3) * canvas
    size = step * rng.uniform(0.35, 0.7)
    for wy in np.arange(top + step * 0.3, canvas, step):
        for wx in np.arange(left + step * 0.3, canvas, step):
            draw.rectangle([wx, wy, wx + size, wy + size * rng.uniform(0.8, 1.4)], fill=window)


def _draw_stripes(rng: np.random.Generator, draw: ImageDraw.ImageDraw, canvas: int) -> None:
    """Parallel bands: fences, kerbs, lane markings, railings."""
    angle = rng.choice([0.0, np.pi / 2, rng.uniform(0, np.pi)])
    direction = np.array([np.cos(angle), np.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    colour = _jitter_colour(rng, _BUILDING[rng.integers(len(_BUILDING))] if rng.random() < 0.5
                            else (0.85, 0.85, 0.8))
    period = rng.uniform(0.08, 0.3) * canvas
    width = period * rng.uniform(0.15, 0.5)
    centre = np.array([canvas / 2, canvas / 2])
    for k in range(-int(canvas / period) - 2, int(canvas / period) + 3):
        mid = centre + normal * k * period
        a, b = mid - direction * canvas * 1.5, mid + direction * canvas * 1.5
        draw.line([tuple(a), tuple(b)], fill=colour, width=max(1, int(width)))


def _draw_other_plate(rng: np.random.Generator, draw: ImageDraw.ImageDraw, canvas: int) -> None:
    """Part of a neighbouring rectangular sign or board at the crop's edge."""
    palette = ((0.1, 0.3, 0.7), (0.92, 0.92, 0.9), (0.95, 0.8, 0.1), (0.1, 0.45, 0.25))
    colour = _jitter_colour(rng, palette[rng.integers(len(palette))], 0.04)
    edge = rng.integers(4)
    depth = rng.uniform(0.08, 0.22) * canvas
    start, length = rng.uniform(-0.2, 0.6) * canvas, rng.uniform(0.3, 0.9) * canvas
    if edge == 0:
        box = [0, start, depth, start + length]
    elif edge == 1:
        box = [canvas - depth, start, canvas, start + length]
    elif edge == 2:
        box = [start, 0, start + length, depth]
    else:
        box = [start, canvas - depth, start + length, canvas]
    draw.rectangle(box, fill=colour)


def _background(rng: np.random.Generator, canvas: int) -> np.ndarray:
    """A blurred, cluttered roadside scene (H, W, 3) behind the sign."""
    sky = np.array(_jitter_colour(rng, _SKY[rng.integers(len(_SKY))]))
    lower = np.array(_jitter_colour(rng, (_FOLIAGE + _GROUND)[rng.integers(7)]))
    horizon = rng.uniform(-0.2, 1.2) * canvas
    tilt = rng.normal(0.0, 0.15)
    ys, xs = _pixel_centres(canvas)
    below = np.clip((ys - horizon - tilt * (xs - canvas / 2)) / (0.03 * canvas) + 0.5, 0, 1)
    base = (1 - below[..., None]) * sky + below[..., None] * lower
    image = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    painters = (_draw_foliage, _draw_building, _draw_stripes, _draw_other_plate)
    for index in rng.choice(len(painters), size=rng.integers(0, 4), replace=True):
        painters[index](rng, draw, canvas)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 2.5) * canvas / 128))
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    return pixels * _smooth_field(rng, canvas, rng.integers(3, 7), rng.uniform(0.1, 0.6))


def _draw_pole(rng: np.random.Generator, scene: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """The metal post below the sign (drawn before the sign, which hides its top)."""
    canvas = scene.shape[0]
    x, y, radius = (float(a) for a in anchor)
    half_width = radius * rng.uniform(0.06, 0.12)
    lean = rng.normal(0.0, 0.05)
    ys, xs = _pixel_centres(canvas)
    centre_x = x + lean * (ys - y)
    inside = np.clip(half_width - np.abs(xs - centre_x) + 0.5, 0, 1) * (ys > y - radius)
    grey = rng.uniform(0.35, 0.75)
    # Cylinder shading: brighter on one side of the tube.
    shading = 1.0 + 0.35 * np.clip((xs - centre_x) / max(half_width, 1e-3), -1, 1) \
        * float(rng.choice([-1.0, 1.0]))
    pole = grey * shading[..., None] * np.array([1.0, 1.0, 1.03], dtype=np.float32)
    return scene * (1 - inside[..., None]) + pole * inside[..., None]


# --------------------------------------------------------------------------------------------
# Camera
# --------------------------------------------------------------------------------------------

def _light(rng: np.random.Generator, scene: np.ndarray) -> np.ndarray:
    """Exposure, colour cast, haze and gamma of the whole crop."""
    exposure = np.exp(rng.normal(-0.15, 0.4))      # GTSRB-like: many dim crops
    cast = np.clip(rng.normal(1.0, 0.07, size=3), 0.8, 1.2).astype(np.float32)
    scene = scene * exposure * cast
    if rng.random() < 0.3:                             # haze or fog lowers contrast
        haze = rng.uniform(0.05, 0.35)
        scene = (1 - haze) * scene + haze * rng.uniform(0.5, 0.85)
    scene = np.clip(scene, 0.0, 1.0)
    return scene ** rng.uniform(0.8, 1.25)


def _downsample(scene: np.ndarray, factor: int) -> np.ndarray:
    """Box-filter a (H, W, 3) image by an integer factor."""
    h, w, c = scene.shape
    return scene.reshape(h // factor, factor, w // factor, factor, c).mean(axis=(1, 3))


def _motion_kernel(rng: np.random.Generator, length: float) -> np.ndarray:
    """A normalised line-shaped blur kernel of `length` pixels in a random direction."""
    size = int(np.ceil(length)) | 1
    angle = rng.uniform(0, np.pi)
    kernel = np.zeros((size, size))
    centre = size // 2
    for t in np.linspace(-length / 2, length / 2, 4 * size):
        x, y = centre + t * np.cos(angle), centre + t * np.sin(angle)
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        fx, fy = x - x0, y - y0
        for dx, dy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                               (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            if 0 <= x0 + dx < size and 0 <= y0 + dy < size:
                kernel[y0 + dy, x0 + dx] += weight
    return kernel / kernel.sum()


def _blur(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Defocus or motion blur, scaled with the image size."""
    scale = image.shape[0] / 64
    choice = rng.random()
    if choice < 0.45:
        sigma = rng.uniform(0.2, 0.9) * scale
        return ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0), mode="nearest")
    if choice < 0.7:
        kernel = _motion_kernel(rng, rng.uniform(1.5, 3.5) * scale)
        return ndimage.convolve(image, kernel[..., None], mode="nearest")
    return image


def _sensor_and_codec(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Sensor noise (stronger in dark crops) followed by a lossy JPEG round trip."""
    brightness = image.mean()
    sigma = rng.uniform(0.005, 0.03) * (1.0 + 1.5 * (0.5 - min(brightness, 0.5)))
    noise = rng.normal(0.0, sigma, size=image.shape).astype(np.float32)
    noise += rng.normal(0.0, sigma * 0.5, size=image.shape[:2] + (1,)).astype(np.float32)
    image = np.clip(image + noise, 0.0, 1.0)
    pixels = Image.fromarray((image * 255.0 + 0.5).astype(np.uint8))
    buffer = io.BytesIO()
    pixels.save(buffer, format="JPEG", quality=int(rng.integers(30, 95)))
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float32) / 255.0


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

def _render_text(rng: np.random.Generator, text: str, size: int) -> np.ndarray:
    """One camera crop of a speed sign showing `text`, as float32 (3, size, size) in [0, 1]."""
    canvas = size * _SUPERSAMPLE
    scene = _background(rng, canvas)
    colour, coverage, pole_anchor = _sign_layer(rng, text, canvas)
    if rng.random() < 0.75:
        scene = _draw_pole(rng, scene, pole_anchor)
    scene = scene * (1 - coverage[..., None]) + colour * coverage[..., None]
    # Lighting is per pixel, so applying it after down-sampling is equivalent and 4x cheaper.
    image = _light(rng, _downsample(scene, _SUPERSAMPLE))
    image = _blur(rng, image)
    image = _sensor_and_codec(rng, image)
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)


def render_speed(rng: np.random.Generator, label: int, size: int = 64) -> np.ndarray:
    """A speed-limit sign of class `label` (index into `CLASS_NAMES`), shape (3, size, size)."""
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) \
            or not 0 <= label < len(CLASS_NAMES):
        raise ValueError(f"invalid speed-sign label {label!r}; expected an integer in "
                         f"0..{len(CLASS_NAMES) - 1} for classes {', '.join(CLASS_NAMES)}")
    return _render_text(rng, CLASS_NAMES[int(label)], size)


def render_speed_ood(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """An out-of-distribution sign (`OOD_NAME` km/h) from the same pipeline, (3, size, size)."""
    return _render_text(rng, OOD_NAME, size)
