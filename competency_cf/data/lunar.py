"""Procedural rover-camera views of lunar terrain (eight terrain classes plus an anomaly set).

Every image goes through the same four stages:

1. Terrain. A periodic height field (fractal noise from a power-law spectrum, small craters, rocks
   and, for some classes, one large landform: a crater the rover is in or at the rim of, or a hill)
   on a square grid, plus a small tiled detail field for the regolith texture close to the camera.
2. Projection. Each image column is a vertical plane through the camera; the ground along it is
   sampled at geometrically spaced distances, the nearest surface covering each pixel row is
   found with one vectorised ``searchsorted`` over the running minimum of the projected rows, and
   the hit distance is refined between samples. Camera roll is a per-column shift of the centre
   row.
3. Lighting. The sun always shines along +x of the grid (the terrain is statistically isotropic,
   so the camera yaw alone sets where the sun is in the view), which makes hard cast shadows one
   running maximum along the grid rows. Slopes, shadow and albedo are looked up at each pixel's
   ground point and shaded there: Lambertian sunlight plus ambient light from the sky and one
   broad fill direction (sunlit slopes, the Earth). The fine detail tile modulates the result.
4. Sensor. White balance, area downsampling from the 2x render, slight blur and sensor noise.

The out-of-distribution set (human-made structures) reuses the terrain of a random class and
ray-casts astronauts, landers, antenna masts, solar arrays and habitat modules built from boxes,
cylinders and ellipsoids into the view, lit by the same sun and casting shadows on the ground.

Images are float32 arrays of shape (3, size, size), RGB, values in [0, 1]. All randomness comes
from the ``numpy.random.Generator`` passed in; the only caches hold deterministic spectral filters.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
import scipy.fft
from scipy import ndimage

CLASS_NAMES: tuple[str, ...] = ("sunny_smooth", "gray_smooth", "sunny_bumpy", "gray_bumpy",
                                "light_crater", "dark_crater", "edge_of_crater", "hill")
OOD_NAME = "human_made_structures"

# Scenes are rendered at this multiple of the output size and area-averaged down (anti-aliasing).
_SUPERSAMPLE = 2

# The main height field: 256 cells of 12.5 cm, a 32 m periodic tile; large landforms must fit.
# All grid sides are powers of two (see _sample_periodic).
_GRID_N = 256
_GRID_CELL = 0.125
_GRID_SIZE = _GRID_N * _GRID_CELL
# Albedo varies slowly: its own 64-cell grid over the main tile (0.5 m cells).
_ALBEDO_N = 64
# A 2.56 m tile of fine relief (pebbles, clods) that gives the near ground its texture.
_DETAIL_N = 64
_DETAIL_CELL = 0.04
# Ground samples per image column, and how far the view reaches (short of one tile, so the
# periodic terrain never shows the camera's own surroundings again).
_DEPTH_SAMPLES = 128
_MAX_DISTANCE = 0.9 * _GRID_SIZE

# Base colour of mature regolith (slightly warm gray); it is scaled per image. Exposure targets
# refer to ground of this mean reflectance.
_REGOLITH_RGB = np.array([0.61, 0.595, 0.565])
_REGOLITH_MEAN = float(_REGOLITH_RGB.mean())


# --------------------------------------------------------------------------------------------
# Scene description
# --------------------------------------------------------------------------------------------


@dataclass
class _Lighting:
    """Sun and camera exposure. The sun always shines along +x of the terrain grid."""

    elevation: float  # sun elevation, radians
    sun: float  # direct irradiance (1 = full sunlight)
    ambient: float  # sky, earthshine and light scattered from sunlit slopes
    fill: np.ndarray  # unit vector towards where most of the ambient light comes from
    fill_share: float  # 0: ambient light from the whole sky dome, 1: all from `fill`
    softness: float  # height excess (m) over which a cast-shadow edge fades: penumbra width
    exposure: float  # radiance-to-pixel gain
    tint: np.ndarray  # camera white balance, (3,)
    noise: float  # sensor noise standard deviation (output pixel units)
    blur: float  # optical blur, Gaussian sigma in output pixels

    @property
    def to_sun(self) -> np.ndarray:
        """Unit vector from the ground towards the sun."""
        return np.array([-np.cos(self.elevation), 0.0, np.sin(self.elevation)])


@dataclass
class _Camera:
    """Rover mast camera. Position in grid metres; `z` is set once the terrain is known."""

    x: float
    y: float
    yaw: float  # viewing direction, radians from +x
    pitch: float  # downward tilt, radians
    roll: float  # radians
    height: float  # above the ground under the rover, m
    hfov: float  # horizontal field of view, radians
    z: float = 0.0


@dataclass
class _Scene:
    """Everything a view is rendered from."""

    height: np.ndarray  # (_GRID_N, _GRID_N) metres
    detail: np.ndarray  # (_DETAIL_N, _DETAIL_N) metres
    albedo: np.ndarray  # (_ALBEDO_N, _ALBEDO_N) relative albedo around 1
    regolith: np.ndarray  # (3,) regolith colour
    camera: _Camera
    lighting: _Lighting


@dataclass
class _View:
    """Per-pixel result of projecting the terrain (internal resolution, rows x cols)."""

    camera: _Camera
    focal: float  # pixels
    azimuth: np.ndarray  # (C,) ray azimuth of each column
    elevation: np.ndarray  # (R, C) ray elevation of each pixel
    distance: np.ndarray  # (R, C) horizontal distance to the ground hit, inf for sky
    ground_z: np.ndarray  # (R, C) height of the ground hit
    direct: np.ndarray  # (R, C) sunlight reflected by the ground (shading x shadow x albedo)
    ambient: np.ndarray  # (R, C) ambient light reflected by the ground
    shadow_height: np.ndarray  # grid of heights a point must exceed to see the sun

    @property
    def sky(self) -> np.ndarray:
        return ~np.isfinite(self.distance)

    def rays(self) -> np.ndarray:
        """(R, C, 3) unit ray directions."""
        cos_el = np.cos(self.elevation)
        return np.stack(np.broadcast_arrays(cos_el * np.cos(self.azimuth),
                                            cos_el * np.sin(self.azimuth),
                                            np.sin(self.elevation)), -1)

    def ray_lengths(self) -> np.ndarray:
        """(R, C) distance along each ray to the ground, inf for sky."""
        return self.distance / np.cos(self.elevation)

    def ground_points(self) -> np.ndarray:
        """(R, C, 3) ground hit points (meaningless for sky pixels)."""
        d = np.where(self.sky, 0.0, self.distance)
        return np.stack([self.camera.x + d * np.cos(self.azimuth),
                         self.camera.y + d * np.sin(self.azimuth), self.ground_z], -1)


# --------------------------------------------------------------------------------------------
# Height-field building blocks
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _spectral_filter(n: int, beta: float, cutoff: float) -> np.ndarray:
    """Amplitude filter on the rfft2 half-plane for noise with power ~ k**-beta and unit std.

    `cutoff` (cycles per cell, 0 for none) rolls off fine detail with a Gaussian. The white
    spectrum it is applied to has real and imaginary parts uniform on [-0.5, 0.5) (variance 1/12).
    """
    fy = np.fft.fftfreq(n)[:, None]
    fx = np.fft.rfftfreq(n)[None, :]
    k = np.hypot(fy, fx)
    k[0, 0] = 1.0
    amplitude = k ** (-beta / 2.0)
    if cutoff > 0:
        amplitude *= np.exp(-((k / cutoff) ** 2))
    amplitude[0, 0] = 0.0
    # Columns other than the first and the Nyquist column stand for two conjugate coefficients.
    weight = np.full(fx.shape, 2.0)
    weight[0, 0] = weight[0, -1] = 1.0
    variance = np.sum(weight * 2.0 * amplitude**2) / float(n) ** 4 / 12.0
    return (amplitude / np.sqrt(variance)).astype(np.float32)


def _fractal_noise(rng: np.random.Generator, n: int,
                   *fields: tuple[tuple[float, float, float], ...]) -> list[np.ndarray]:
    """Periodic n x n noise fields, each the sum of (std, beta, cutoff) layers.

    One white spectrum serves all layers of a field (one inverse FFT per field). A second field
    reads the white spectrum with its rows reversed, which pairs each frequency with another
    one's coefficient, so the fields are independent without drawing more random numbers.
    Uniform rather than Gaussian white noise is several times cheaper to draw; summed over
    thousands of frequencies the fields come out Gaussian all the same.
    """
    if len(fields) > 2:
        raise ValueError("at most two fields per white spectrum")
    white = rng.random((2, n, n // 2 + 1), dtype=np.float32)
    white -= 0.5
    spectra = np.empty((len(fields), n, n // 2 + 1), np.complex64)
    for index, layers in enumerate(fields):
        real, imag = (white[0], white[1]) if index == 0 else (white[1, ::-1], white[0, ::-1])
        gain = sum(std * _spectral_filter(n, beta, cutoff) for std, beta, cutoff in layers)
        spectra[index].real = real * gain
        spectra[index].imag = imag * gain
    return list(scipy.fft.irfft2(spectra, s=(n, n), workers=1))


def _stamp(field: np.ndarray, cell: float, cx: np.ndarray, cy: np.ndarray, radius: np.ndarray,
           reach: float, profile: Callable[[np.ndarray, np.ndarray], np.ndarray],
           wobble: np.ndarray | None = None) -> None:
    """Add radial landforms (craters, rocks, hills) to a periodic grid, in place.

    `profile(r, items)` maps normalised radius (k, W, W) of the items with indices `items` to
    height and must vanish at `reach`. `wobble` (k, 4): amplitudes and phases of 2nd and 3rd
    angular harmonics that make outlines irregular. Items are processed in batches of similar
    size that share one window, each batch one vectorised pass and one bincount.
    """
    order = np.argsort(radius)
    for batch in np.array_split(order, max(1, min(len(order) // 6, 3))):
        if len(batch) > 0:
            _stamp_batch(field, cell, cx[batch], cy[batch], radius[batch], reach, profile, batch,
                         None if wobble is None else wobble[batch])


def _stamp_batch(field, cell, cx, cy, radius, reach, profile, items, wobble) -> None:
    """One _stamp batch: every item evaluated on a common square window around its centre."""
    n = field.shape[0]
    half = int(np.ceil(reach * radius.max() / cell))
    offsets = np.arange(-half, half + 1)
    centre_x = np.round(cx / cell).astype(np.intp)
    centre_y = np.round(cy / cell).astype(np.intp)
    # Offsets from each item's centre, (k, 1, W) and (k, W, 1), in float32.
    span = (offsets * cell).astype(np.float32)
    dx = (centre_x * cell - cx).astype(np.float32)[:, None, None] + span[None, None, :]
    dy = (centre_y * cell - cy).astype(np.float32)[:, None, None] + span[None, :, None]
    values = profile(_wobbly_radius(dx, dy, radius, wobble), items)
    ix = (centre_x[:, None, None] + offsets[None, None, :]) & (n - 1)
    iy = (centre_y[:, None, None] + offsets[None, :, None]) & (n - 1)
    flat, values = np.broadcast_arrays(iy * n + ix, values)
    field += np.bincount(flat.ravel(), values.ravel(), minlength=n * n).reshape(n, n).astype(
        field.dtype)


def _wobbly_radius(dx: np.ndarray, dy: np.ndarray, radius: np.ndarray,
                   wobble: np.ndarray | None) -> np.ndarray:
    """Distance from the centre in units of each item's radius, with an irregular outline."""
    dist = np.sqrt(dx * dx + dy * dy)
    r = dist / radius.astype(np.float32)[:, None, None]
    if wobble is None:
        return r
    # cos(k theta + phase) from the direction cosines, avoiding arctan2 and cos per cell.
    inv = 1 / np.maximum(dist, np.float32(1e-6))
    c, s = dx * inv, dy * inv
    w = wobble.astype(np.float32)[:, :, None, None]
    second = (c * c - s * s) * np.cos(w[:, 1]) - 2 * c * s * np.sin(w[:, 1])
    third = c * (4 * c * c - 3) * np.cos(w[:, 3]) - s * (3 - 4 * s * s) * np.sin(w[:, 3])
    return r * (1 + w[:, 0] * second + w[:, 2] * third)


def _add_landform(height: np.ndarray, cx: float, cy: float, radius: float, profile,
                  wobble: np.ndarray) -> None:
    """Add one large radial landform (crater, hill) to the periodic height grid, in place.

    It spans most of the tile, so it is evaluated on the whole tile with periodic distances
    rather than a window, and at half resolution: large landforms are smooth, and the
    bilinear upsampling keeps a crater rim's crest sharp to within one coarse cell.
    """
    n = height.shape[0] // 2
    cell = 2 * _GRID_CELL
    coords = (np.arange(n) * cell).astype(np.float32)
    dx = (coords - cx + _GRID_SIZE / 2) % _GRID_SIZE - _GRID_SIZE / 2
    dy = (coords - cy + _GRID_SIZE / 2) % _GRID_SIZE - _GRID_SIZE / 2
    coarse = profile(_wobbly_radius(dx[None, None, :], dy[None, :, None], np.array([radius]),
                                    wobble), np.array([0]))[0]
    height += _upsample_twice(coarse.astype(height.dtype))


def _upsample_twice(grid: np.ndarray) -> np.ndarray:
    """Periodic 2x bilinear upsampling: sample i lands on 2i, midpoints are averaged."""
    rows, cols = grid.shape
    wide = np.empty((rows, 2 * cols), grid.dtype)
    wide[:, 0::2] = grid
    wide[:, 1::2] = 0.5 * (grid + np.roll(grid, -1, axis=1))
    out = np.empty((2 * rows, 2 * cols), grid.dtype)
    out[0::2] = wide
    out[1::2] = 0.5 * (wide + np.roll(wide, -1, axis=0))
    return out


def _random_wobble(rng: np.random.Generator, count: int, amount: float) -> np.ndarray:
    """Outline irregularity for _stamp: harmonic amplitudes up to `amount`, random phases."""
    amplitudes = rng.uniform(0.0, amount, (count, 2))
    phases = rng.uniform(0.0, 2 * np.pi, (count, 2))
    return np.stack([amplitudes[:, 0], phases[:, 0], amplitudes[:, 1], phases[:, 1]], axis=1)


def _crater_profile(depth: np.ndarray, rim: np.ndarray, flatness: np.ndarray, reach: float):
    """Bowl below a raised rim at r = 1, and an ejecta blanket falling off to zero at `reach`.

    `flatness` in [0, 1] blends a parabolic bowl towards a quartic one (flatter floor, steeper
    upper walls).
    """
    tail = np.float32(reach**-3.0)
    depth, rim, flatness = (np.asarray(a, np.float32) for a in (depth, rim, flatness))

    def profile(r: np.ndarray, items: np.ndarray) -> np.ndarray:
        d, h, f = (a[items, None, None] for a in (depth, rim, flatness))
        inner = np.minimum(r, 1) ** 2
        bowl = d * ((1 - f) * inner + f * inner * inner - 1) + h
        outer = np.maximum(r, 1)
        ejecta = h * np.clip((1 / (outer * outer * outer) - tail) / (1 - tail), 0, None)
        return np.where(r < 1, bowl, ejecta)

    return profile


def _rock_profile(height: np.ndarray):
    """Blocky dome: steep flanks, rounded top."""
    height = height.astype(np.float32)
    return lambda r, items: height[items, None, None] * np.clip(1.0 - r**2, 0.0, None) ** 0.35


def _hill_profile(height: np.ndarray):
    """Raised-cosine mound, zero at r = 1."""
    height = height.astype(np.float32)
    return lambda r, items: (height[items, None, None] * 0.5
                             * (1.0 + np.cos(np.pi * np.minimum(r, 1.0))))


def _bilinear_taps(shape: tuple[int, int], u: np.ndarray, v: np.ndarray):
    """Flat indices and weights of the four cells around fractional cell coordinates (u: column,
    v: row) in a periodic grid. Sides are powers of two, so wrapping is a bit mask."""
    n_rows, n_cols = shape
    u0 = np.floor(u)
    v0 = np.floor(v)
    fu = u - u0
    fv = v - v0
    gu = 1 - fu
    gv = 1 - fv
    # int32 indices: half the memory of intp, and ample for grids of up to 2**15 a side.
    i0 = u0.astype(np.int32) & (n_cols - 1)
    i1 = (i0 + 1) & (n_cols - 1)
    j0 = (v0.astype(np.int32) & (n_rows - 1)) * n_cols
    j1 = (j0 + n_cols) & (n_rows * n_cols - 1)
    return (j0 + i0, j0 + i1, j1 + i0, j1 + i1), (gu * gv, fu * gv, gu * fv, fu * fv)


def _sample_periodic(grid: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear lookup in a periodic 2-D grid at fractional cell coordinates."""
    return _sample_periodic_many([grid], u, v)[0]


def _sample_periodic_many(grids, u: np.ndarray, v: np.ndarray) -> list[np.ndarray]:
    """Bilinear lookups in several periodic grids of one shape, sharing the index arithmetic.

    np.take on flat indices is several times faster than indexing with two index arrays.
    """
    corners, weights = _bilinear_taps(grids[0].shape, u, v)
    out = []
    for grid in grids:
        flat = grid.ravel()
        taps = [np.take(flat, c) for c in corners]
        out.append(taps[0] * weights[0] + taps[1] * weights[1] + taps[2] * weights[2]
                   + taps[3] * weights[3])
    return out


def _height_at(height: np.ndarray, x, y):
    """Terrain height at grid positions in metres (bilinear, periodic)."""
    return _sample_periodic(height, np.asarray(x) / _GRID_CELL, np.asarray(y) / _GRID_CELL)


# --------------------------------------------------------------------------------------------
# Lighting
# --------------------------------------------------------------------------------------------


def _cast_shadows(height: np.ndarray, cell: float, lighting: _Lighting):
    """Sunlit fraction per cell and the height a point above each cell needs to see the sun.

    With the sun along +x, a cell is shadowed when some cell up-sun rises above the sun ray
    through it: max over x' <= x of h(x') + x' tan(e) exceeds h(x) + x tan(e). On the periodic
    grid the previous copy of the row adds one candidate per row: its maximum, shifted by a tile.
    """
    n = height.shape[1]
    rise = (cell * np.tan(lighting.elevation) * np.arange(n)).astype(height.dtype)
    along_ray = height + rise
    horizon = np.maximum.accumulate(along_ray, axis=1)
    wrapped = along_ray.max(axis=1, keepdims=True) - n * cell * np.tan(lighting.elevation)
    horizon = np.maximum(horizon, wrapped.astype(height.dtype))
    lit = np.clip(1.0 - (horizon - along_ray) / lighting.softness, 0.0, 1.0)
    return lit, horizon - rise


def _slopes(height: np.ndarray, cell: float):
    """Height-field gradient (dh/dx, dh/dy) by central differences with periodic wrap."""
    gx = np.empty_like(height)
    gy = np.empty_like(height)
    np.subtract(height[:, 2:], height[:, :-2], out=gx[:, 1:-1])
    gx[:, 0] = height[:, 1] - height[:, -1]
    gx[:, -1] = height[:, 0] - height[:, -2]
    np.subtract(height[2:], height[:-2], out=gy[1:-1])
    gy[0] = height[1] - height[-1]
    gy[-1] = height[0] - height[-2]
    gx *= 0.5 / cell
    gy *= 0.5 / cell
    return gx, gy


def _surface_light(gx: np.ndarray, gy: np.ndarray, lit: np.ndarray, lighting: _Lighting):
    """Sunlight (cosine x cast shadow) and ambient light (1 on flat open ground) on surfaces
    with slopes (gx, gy); works on grids and on per-pixel samples alike."""
    inv_norm = 1 / np.sqrt(1 + gx * gx + gy * gy)
    elevation = lighting.elevation
    direct = np.maximum(gx * np.cos(elevation) + np.sin(elevation), 0) * inv_norm * lit
    # Ambient light: part from the sky dome (upward-facing ground sees most of it), part from
    # one broad direction (sunlit slopes across the way, the Earth), which keeps relief legible
    # when the sun itself is hidden.
    fill, share = lighting.fill, lighting.fill_share
    towards_fill = np.clip((fill[2] - gx * fill[0] - gy * fill[1]) * inv_norm / fill[2], 0, 2.5)
    ambient = (1 - share) * (0.5 + 0.5 * inv_norm) + share * towards_fill
    return direct, ambient


# --------------------------------------------------------------------------------------------
# Lighting and camera presets
# --------------------------------------------------------------------------------------------


def _exposure(target: float, sun: float, reference_elevation: float, ambient: float) -> float:
    """Gain that maps flat ground lit at `reference_elevation` to `target` pixel brightness."""
    return target / (_REGOLITH_MEAN * (sun * np.sin(reference_elevation) + ambient))


def _unit_vector(azimuth: float, elevation: float) -> np.ndarray:
    """Unit vector at an azimuth (from grid +x, i.e. away from the sun) and an elevation."""
    return np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
                     np.sin(elevation)])


def _sunny_lighting(rng: np.random.Generator, elevation_deg=(10.0, 36.0)) -> _Lighting:
    """Direct sunlight: hard shadows, little fill light, warm white balance, clean sensor.

    The camera exposes for the sun at 25 degrees or higher, so a low sun leaves level ground dim
    and only slopes facing the sun bright.
    """
    elevation = np.radians(rng.uniform(*elevation_deg))
    ambient = rng.uniform(0.02, 0.07)
    return _Lighting(
        elevation=elevation, sun=1.0, ambient=ambient,
        fill=_unit_vector(rng.uniform(-0.5, 0.5), np.radians(rng.uniform(25, 40))),
        fill_share=rng.uniform(0.3, 0.7), softness=rng.uniform(0.01, 0.04),
        exposure=_exposure(rng.uniform(0.42, 0.7), 1.0, max(elevation, np.radians(25.0)), ambient),
        tint=np.array([1.0, rng.uniform(0.955, 0.985), rng.uniform(0.89, 0.94)]),
        noise=rng.uniform(0.004, 0.014), blur=rng.uniform(0.25, 0.6))


def _gray_lighting(rng: np.random.Generator, view_yaw: float) -> _Lighting:
    """Diffuse low light: sun hidden or grazing, mostly fill light; flat, cool, darker, noisier.

    The broad fill light comes from one side of the view, so that relief stays legible.
    """
    elevation = np.radians(rng.uniform(10.0, 50.0))
    sun = rng.uniform(0.0, 0.12)
    ambient = rng.uniform(0.5, 0.8)
    fill_azimuth = view_yaw + rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0)
    return _Lighting(
        elevation=elevation, sun=sun, ambient=ambient,
        fill=_unit_vector(fill_azimuth, np.radians(rng.uniform(30, 60))),
        fill_share=rng.uniform(0.35, 0.65), softness=rng.uniform(0.4, 1.2),
        exposure=_exposure(rng.uniform(0.22, 0.42), sun, elevation, ambient),
        tint=np.array([rng.uniform(0.92, 0.96), rng.uniform(0.95, 0.98), 1.0]),
        noise=rng.uniform(0.01, 0.028), blur=rng.uniform(0.35, 0.8))


def _shadowed_crater_lighting(rng: np.random.Generator) -> _Lighting:
    """Grazing sun: the bowl lies in the rim's shadow, lit only by its sunlit far wall.

    Exposure is set for ordinary daylight, so the shadowed bowl comes out dark.
    """
    elevation = np.radians(rng.uniform(2.0, 9.0))
    ambient = rng.uniform(0.12, 0.25)
    return _Lighting(
        elevation=elevation, sun=1.0, ambient=ambient,
        fill=_unit_vector(rng.uniform(-0.4, 0.4), np.radians(rng.uniform(15, 30))),
        fill_share=rng.uniform(0.6, 0.9), softness=rng.uniform(0.02, 0.06),
        exposure=_exposure(rng.uniform(0.45, 0.7), 1.0, np.radians(35.0), ambient),
        tint=np.array([1.0, rng.uniform(0.955, 0.985), rng.uniform(0.9, 0.95)]),
        noise=rng.uniform(0.008, 0.022), blur=rng.uniform(0.3, 0.7))


def _any_lighting(rng: np.random.Generator, diffuse_share: float, view_yaw: float) -> _Lighting:
    """For classes defined by geometry alone: mostly sunlit at any height, sometimes diffuse."""
    if rng.random() >= diffuse_share:
        return _sunny_lighting(rng, (12.0, 60.0))
    return _gray_lighting(rng, view_yaw)


def _random_camera(rng: np.random.Generator, pitch_deg: tuple[float, float]) -> _Camera:
    roll = np.radians(np.clip(rng.normal(0.0, 2.0), -5.0, 5.0))
    return _Camera(x=rng.uniform(0, _GRID_SIZE), y=rng.uniform(0, _GRID_SIZE),
                   yaw=rng.uniform(-np.pi, np.pi), pitch=np.radians(rng.uniform(*pitch_deg)),
                   roll=roll, height=rng.uniform(1.3, 1.9), hfov=np.radians(rng.uniform(55, 68)))


def _ahead(camera: _Camera, distance, bearing):
    """Grid position at `distance` along `bearing` (radians, relative to the view direction)."""
    angle = camera.yaw + bearing
    return camera.x + distance * np.cos(angle), camera.y + distance * np.sin(angle)


# --------------------------------------------------------------------------------------------
# Terrain composition
# --------------------------------------------------------------------------------------------


def _base_relief(rng: np.random.Generator, undulation: float, roughness: float):
    """Rolling ground (steep spectrum) plus small-scale roughness (shallow spectrum), and albedo.

    Returns (height, albedo) grids; albedo is patchy at metre scales around 1.
    """
    height = _fractal_noise(rng, _GRID_N, ((undulation, 3.6, 0.0), (roughness, 2.2, 0.2)))[0]
    albedo = _fractal_noise(rng, _ALBEDO_N, ((0.06, 2.0, 0.2), (0.03, 1.0, 0.2)))[0]
    return height, 1.0 + albedo


def _scatter_craters(rng: np.random.Generator, height: np.ndarray, camera: _Camera, count: int,
                     radius_range: tuple[float, float], depth_ratio: tuple[float, float]) -> None:
    """Small craters, placed mostly in the field of view (log-uniform in distance)."""
    distance = np.exp(rng.uniform(np.log(3.0), np.log(30.0), count))
    bearing = rng.uniform(-0.7, 0.7, count)
    cx, cy = _ahead(camera, distance, bearing)
    radius = np.exp(rng.uniform(*np.log(radius_range), count))
    depth = radius * rng.uniform(*depth_ratio, count)
    rim = depth * rng.uniform(0.1, 0.3, count)
    flatness = rng.uniform(0.0, 0.6, count)
    # Keep craters out from under the rover so that it stands on level ground.
    cx, cy = np.where(distance > radius + 1.5, cx, cx + 2 * radius), cy
    _stamp(height, _GRID_CELL, cx, cy, radius, 1.5, _crater_profile(depth, rim, flatness, 1.5),
           _random_wobble(rng, count, 0.06))


def _scatter_rocks(rng: np.random.Generator, height: np.ndarray, camera: _Camera, count: int,
                   radius_range: tuple[float, float], near: float = 2.0,
                   far: float = 25.0) -> None:
    """Rocks, denser near the camera where they cover more of the image."""
    distance = np.exp(rng.uniform(np.log(near), np.log(far), count))
    bearing = rng.uniform(-0.65, 0.65, count)
    cx, cy = _ahead(camera, distance, bearing)
    radius = np.exp(rng.uniform(*np.log(radius_range), count))
    rock_height = radius * rng.uniform(0.35, 0.75, count)
    _stamp(height, _GRID_CELL, cx, cy, radius, 1.0, _rock_profile(rock_height),
           _random_wobble(rng, count, 0.18))


def _detail_tile(rng: np.random.Generator, amplitude: float, pebbles: int) -> np.ndarray:
    """Fine regolith relief: clods and pebbles a few centimetres across."""
    tile = _fractal_noise(rng, _DETAIL_N, ((amplitude, 2.4, 0.0),))[0]
    cx = rng.uniform(0, _DETAIL_N * _DETAIL_CELL, pebbles)
    cy = rng.uniform(0, _DETAIL_N * _DETAIL_CELL, pebbles)
    radius = rng.uniform(0.025, 0.08, pebbles)
    _stamp(tile, _DETAIL_CELL, cx, cy, radius, 1.0,
           _rock_profile(radius * rng.uniform(0.4, 0.8, pebbles)))
    return tile


def _finish_scene(rng: np.random.Generator, height: np.ndarray, albedo: np.ndarray,
                  detail: np.ndarray, camera: _Camera, lighting: _Lighting) -> _Scene:
    """Regolith colour, and the camera set on the ground."""
    regolith = _REGOLITH_RGB * rng.uniform(0.85, 1.15) * (1 + rng.uniform(-0.02, 0.02, 3))
    camera.z = float(_height_at(height, camera.x, camera.y)) + camera.height
    return _Scene(height, detail, albedo, regolith, camera, lighting)


def _plain_scene(rng: np.random.Generator, sunny: bool, bumpy: bool) -> _Scene:
    """Open ground: smooth (gentle swells, few small craters and pebbles) or bumpy (rock field)."""
    camera = _random_camera(rng, (6.0, 40.0))
    lighting = _sunny_lighting(rng) if sunny else _gray_lighting(rng, camera.yaw)
    if bumpy:
        height, albedo = _base_relief(rng, rng.uniform(0.35, 0.7), rng.uniform(0.05, 0.09))
        _scatter_craters(rng, height, camera, int(rng.integers(4, 10)), (0.5, 3.0), (0.15, 0.22))
        _scatter_rocks(rng, height, camera, int(rng.integers(50, 110)), (0.12, 0.5))
        detail = _detail_tile(rng, rng.uniform(0.008, 0.014), int(rng.integers(40, 90)))
    else:
        height, albedo = _base_relief(rng, rng.uniform(0.12, 0.3), rng.uniform(0.008, 0.02))
        _scatter_craters(rng, height, camera, int(rng.integers(2, 7)), (0.5, 3.0), (0.06, 0.12))
        _scatter_rocks(rng, height, camera, int(rng.integers(0, 6)), (0.08, 0.15))
        detail = _detail_tile(rng, rng.uniform(0.002, 0.004), int(rng.integers(0, 10)))
    return _finish_scene(rng, height, albedo, detail, camera, lighting)


def _big_crater(rng: np.random.Generator, height: np.ndarray, cx: float, cy: float,
                radius: float) -> None:
    """A large fresh crater: deep bowl, sharp raised rim, slightly irregular outline."""
    depth = np.array([radius * rng.uniform(0.4, 0.5)])
    rim = np.array([radius * rng.uniform(0.05, 0.08)])
    _add_landform(height, cx, cy, radius,
                  _crater_profile(depth, rim, np.array([rng.uniform(0.0, 0.35)]), 1.5),
                  _random_wobble(rng, 1, 0.05))


def _crater_interior_scene(rng: np.random.Generator, lit: bool) -> _Scene:
    """The rover is on a crater floor looking across it: the bowl and its walls fill the view."""
    lighting = _sunny_lighting(rng, (35.0, 70.0)) if lit else _shadowed_crater_lighting(rng)
    camera = _random_camera(rng, (4.0, 20.0))
    # Small enough that the walls curve up on both sides of the view.
    radius = rng.uniform(6.0, 9.5)
    # The crater centre lies ahead of the rover, so the far wall is what the camera faces.
    cx, cy = _ahead(camera, radius * rng.uniform(0.0, 0.4), rng.uniform(-0.6, 0.6))
    height, albedo = _base_relief(rng, rng.uniform(0.1, 0.3), rng.uniform(0.015, 0.04))
    _big_crater(rng, height, cx, cy, radius)
    _scatter_craters(rng, height, camera, int(rng.integers(1, 5)), (0.4, 1.5), (0.08, 0.15))
    _scatter_rocks(rng, height, camera, int(rng.integers(5, 30)), (0.08, 0.35))
    detail = _detail_tile(rng, rng.uniform(0.003, 0.008), int(rng.integers(5, 40)))
    return _finish_scene(rng, height, albedo, detail, camera, lighting)


def _crater_edge_scene(rng: np.random.Generator) -> _Scene:
    """The rover stands just outside a rim and looks in: near ground, an edge, the drop beyond."""
    camera = _random_camera(rng, (14.0, 30.0))
    # Sunlight low enough to leave shadow in the bowl: diffuse or overhead light would hide the
    # drop, which is what defines the class.
    lighting = _sunny_lighting(rng, (10.0, 45.0))
    radius = rng.uniform(6.5, 10.0)
    to_rim, bearing = rng.uniform(1.5, 3.5), rng.uniform(-0.25, 0.25)
    cx, cy = _ahead(camera, radius + to_rim, bearing)
    height, albedo = _base_relief(rng, rng.uniform(0.1, 0.3), rng.uniform(0.015, 0.05))
    _big_crater(rng, height, cx, cy, radius)
    _scatter_craters(rng, height, camera, int(rng.integers(1, 4)), (0.4, 1.2), (0.08, 0.15))
    # Few and small rocks: a boulder field at the rim would read as rough ground instead.
    _scatter_rocks(rng, height, camera, int(rng.integers(3, 20)), (0.08, 0.25))
    detail = _detail_tile(rng, rng.uniform(0.003, 0.008), int(rng.integers(5, 30)))
    scene = _finish_scene(rng, height, albedo, detail, camera, lighting)
    # Tilt the camera so that the rim crest, where the ground ends, sits a little below the
    # image centre: near ground below it, the far side of the crater above.
    crest_z = float(_height_at(height, *_ahead(camera, to_rim, bearing)))
    below_crest = np.arctan((camera.z - crest_z) / to_rim)
    camera.pitch = float(np.clip(below_crest - rng.uniform(0.03, 0.2), np.radians(5.0),
                                 np.radians(40.0)))
    return scene


def _hill_scene(rng: np.random.Generator) -> _Scene:
    """A large mound ahead, off to one side or straight on, rising above the horizon."""
    camera = _random_camera(rng, (0.0, 14.0))
    lighting = _any_lighting(rng, 0.2, camera.yaw)
    hill_radius = rng.uniform(8.0, 13.0)
    cx, cy = _ahead(camera, hill_radius * rng.uniform(0.85, 1.3), rng.uniform(-0.45, 0.45))
    height, albedo = _base_relief(rng, rng.uniform(0.15, 0.35), rng.uniform(0.015, 0.05))
    _add_landform(height, cx, cy, hill_radius,
                  _hill_profile(np.array([hill_radius * rng.uniform(0.45, 0.8)])),
                  _random_wobble(rng, 1, 0.12))
    _scatter_craters(rng, height, camera, int(rng.integers(2, 6)), (0.4, 2.0), (0.08, 0.15))
    _scatter_rocks(rng, height, camera, int(rng.integers(5, 40)), (0.08, 0.4))
    detail = _detail_tile(rng, rng.uniform(0.003, 0.01), int(rng.integers(5, 50)))
    return _finish_scene(rng, height, albedo, detail, camera, lighting)


_SCENES: dict[str, Callable[[np.random.Generator], _Scene]] = {
    "sunny_smooth": lambda rng: _plain_scene(rng, sunny=True, bumpy=False),
    "gray_smooth": lambda rng: _plain_scene(rng, sunny=False, bumpy=False),
    "sunny_bumpy": lambda rng: _plain_scene(rng, sunny=True, bumpy=True),
    "gray_bumpy": lambda rng: _plain_scene(rng, sunny=False, bumpy=True),
    "light_crater": lambda rng: _crater_interior_scene(rng, lit=True),
    "dark_crater": lambda rng: _crater_interior_scene(rng, lit=False),
    "edge_of_crater": _crater_edge_scene,
    "hill": _hill_scene,
}


# --------------------------------------------------------------------------------------------
# Projection
# --------------------------------------------------------------------------------------------


def _first_covering_sample(front: np.ndarray, n_rows: int) -> np.ndarray:
    """Index of the first (nearest) ground sample that reaches up to each pixel row, per column.

    `front` (D, C) is the running minimum of projected rows along each column, so it never
    increases with distance. Offsetting each column by a stride larger than its value range
    turns all columns into one sorted array, and one searchsorted answers every pixel.
    Returns (n_rows, C) indices; D means no sample reaches the row (sky).
    """
    n_samples, n_cols = front.shape
    stride = n_rows + 8.0
    offsets = stride * np.arange(n_cols, dtype=front.dtype)
    keys = (offsets[:, None] - front.T).ravel()
    # Bottom row first makes the queries ascending, which searchsorted answers faster.
    rows = np.arange(n_rows, dtype=front.dtype)[::-1] + 0.5
    queries = offsets[:, None] - rows[None, :]
    found = np.searchsorted(keys, queries.ravel()).reshape(n_cols, n_rows)
    return (found - n_samples * np.arange(n_cols)[:, None]).T[::-1]


def _project_terrain(scene: _Scene, res: int) -> _View:
    """Render the terrain into a res x res view: per-pixel ground hits and their lighting.

    Per-pixel arrays are float32: half the memory traffic, and plenty of precision for metres.
    """
    cam, light = scene.camera, scene.lighting
    f32 = np.float32
    focal = (res / 2) / np.tan(cam.hfov / 2)
    cols = np.arange(res, dtype=f32) + f32(0.5 - res / 2)
    azimuth = cam.yaw + np.arctan(cols / f32(focal))
    centre_row = f32(res / 2) + cols * f32(np.tan(cam.roll))

    # Start close enough that the nearest ground lies below the bottom row.
    lowest = cam.pitch + np.arctan((res / 2 + abs(np.tan(cam.roll)) * res / 2) / focal)
    near = 0.6 * cam.height / np.tan(min(lowest, 1.45))
    rho = np.geomspace(near, _MAX_DISTANCE, _DEPTH_SAMPLES, dtype=f32)[:, None]
    cos_az, sin_az = np.cos(azimuth), np.sin(azimuth)
    ground = _height_at(scene.height, f32(cam.x) + rho * cos_az, f32(cam.y) + rho * sin_az)
    # Row where each ground sample appears: tan(elevation + pitch) by the angle-sum formula.
    slope, tilt = (ground - f32(cam.z)) / rho, f32(np.tan(cam.pitch))
    denominator = np.maximum(1 - slope * tilt, f32(1e-3))
    proj = np.clip(centre_row - f32(focal) * (slope + tilt) / denominator, -2, res + 2)
    first = _first_covering_sample(np.minimum.accumulate(proj, axis=0), res)

    sky = first >= _DEPTH_SAMPLES
    hit = np.minimum(first, _DEPTH_SAMPLES - 1)
    before = np.maximum(hit - 1, 0)
    col = np.arange(res)[None, :]
    row = np.arange(res, dtype=f32)[:, None] + f32(0.5)
    rho = rho[:, 0]
    # The surface crosses the pixel row between the hit sample and the one before it.
    y_hit, y_before = proj[hit, col], proj[before, col]
    frac = np.clip((row - y_hit) / np.maximum(y_before - y_hit, f32(1e-6)), 0, 1)
    dist = rho[hit] + frac * (rho[before] - rho[hit])
    elevation = np.arctan((centre_row[None, :] - row) / f32(focal)) - f32(cam.pitch)
    px = f32(cam.x) + dist * cos_az
    py = f32(cam.y) + dist * sin_az

    # Slopes, sunlit fraction and albedo are looked up per pixel and shaded there: four times
    # fewer shading evaluations than over the whole grid.
    gx, gy = _slopes(scene.height, _GRID_CELL)
    lit, shadow_height = _cast_shadows(scene.height, _GRID_CELL, light)
    gx, gy, lit = _sample_periodic_many([gx, gy, lit], px * f32(1 / _GRID_CELL),
                                        py * f32(1 / _GRID_CELL))
    albedo_cell = f32(_GRID_SIZE / _ALBEDO_N)
    albedo = _sample_periodic(scene.albedo, px / albedo_cell, py / albedo_cell)
    direct, ambient = _surface_light(gx, gy, lit, light)
    fine = _sample_periodic(_detail_lighting(scene.detail, light), px * f32(1 / _DETAIL_CELL),
                            py * f32(1 / _DETAIL_CELL))
    # Fade the fine texture where a pixel covers several detail cells (it would only alias).
    weight = np.clip(f32(2.0 * _DETAIL_CELL * focal) / dist - f32(0.5), 0, 1)
    reflectance = albedo * (1 + weight * (fine - 1))
    reflectance[sky] = 0
    return _View(camera=cam, focal=focal, azimuth=azimuth, elevation=elevation,
                 distance=np.where(sky, np.inf, dist).astype(f32),
                 ground_z=f32(cam.z) + dist * np.tan(elevation),
                 direct=f32(light.sun) * direct * reflectance,
                 ambient=f32(light.ambient) * ambient * reflectance, shadow_height=shadow_height)


def _detail_lighting(detail: np.ndarray, lighting: _Lighting) -> np.ndarray:
    """Fine relief as one multiplier of the coarse light, about 1 on average.

    Sunlight and ambient light are shaded by the fine relief differently; one factor mixing
    the two in the proportion they have on open ground is a close enough stand-in, and halves
    the per-pixel lookups.
    """
    gx, gy = _slopes(detail, _DETAIL_CELL)
    direct, sky = _surface_light(gx, gy, _cast_shadows(detail, _DETAIL_CELL, lighting)[0],
                                 lighting)
    sun_share = lighting.sun * np.sin(lighting.elevation)
    sun_share = sun_share / (sun_share + lighting.ambient)
    direct = np.minimum(direct / np.sin(lighting.elevation), 4.0)
    factor = sun_share * direct + (1.0 - sun_share) * sky / sky.mean()
    # Pebbles and clod tops are a little brighter than the fine soil between them.
    return factor * (1.0 + np.clip((detail - detail.mean()) * 8.0, -0.15, 0.15))


def _terrain_luminance(view: _View) -> np.ndarray:
    """Ground radiance relative to the regolith colour, (R, C)."""
    return view.direct + view.ambient


# --------------------------------------------------------------------------------------------
# Human-made structures (out-of-distribution anomalies)
# --------------------------------------------------------------------------------------------

# Albedos relative to regolith (mean about 0.6): white paint and suits outshine the ground.
_WHITE = np.array([0.92, 0.92, 0.9])
_GOLD_FOIL = np.array([0.95, 0.7, 0.26])
_SILVER = np.array([0.72, 0.73, 0.75])
_DARK = np.array([0.16, 0.16, 0.18])
_SOLAR_CELL = np.array([0.07, 0.1, 0.3])
_VISOR = np.array([0.5, 0.36, 0.1])
_RAY_EPSILON = 1e-4


@dataclass
class _Part:
    """A solid primitive. Local coordinates are rows of `frame` (local axes in world terms)."""

    kind: str  # "box", "cylinder" (along local z) or "ellipsoid"
    center: np.ndarray  # (3,)
    frame: np.ndarray  # (3, 3)
    size: np.ndarray  # box half extents, cylinder (radius, radius, half length), semi-axes
    color: np.ndarray  # (3,) albedo
    shine: float = 0.0  # specular strength
    pattern: str = "plain"  # "plain", "foil", "panel" or "bands"


def _part(kind: str, center, size, color, frame=None, shine: float = 0.0,
          pattern: str = "plain") -> _Part:
    """A part from plain sequences; the frame defaults to the object's own axes."""
    return _Part(kind, np.asarray(center, float), np.eye(3) if frame is None else frame,
                 np.asarray(size, float), np.asarray(color, float), shine, pattern)


def _frame_along(axis) -> np.ndarray:
    """An orthonormal frame whose local z axis points along `axis`."""
    z = np.asarray(axis, float) / np.linalg.norm(axis)
    helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


def _rod(start, end, radius: float, color, shine: float = 0.0) -> _Part:
    """Cylinder between two points."""
    start, end = np.asarray(start, float), np.asarray(end, float)
    half = np.linalg.norm(end - start) / 2
    return _part("cylinder", (start + end) / 2, (radius, radius, half), color,
                 _frame_along(end - start), shine)


def _yaw_matrix(angle: float) -> np.ndarray:
    """Rotation about the vertical axis."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _astronaut(rng: np.random.Generator):
    """Suited astronaut, about 1.8 m: white suit and backpack, gold visor. Faces local +x."""
    suit = _WHITE * rng.uniform(0.9, 1.0)
    stride = rng.uniform(-0.15, 0.15)
    reach = rng.uniform(-0.05, 0.3, 2)
    parts = [
        _part("box", (0.0, 0.0, 1.12), (0.14, 0.23, 0.3), suit),  # torso
        _part("box", (-0.26, 0.0, 1.2), (0.12, 0.21, 0.3), suit * 0.85),  # life-support pack
        _part("box", (0.16, 0.0, 1.17), (0.04, 0.12, 0.07), _SILVER * 0.8),  # chest controls
        _part("ellipsoid", (0.02, 0.0, 1.6), (0.16, 0.15, 0.17), suit, shine=0.3),  # helmet
        _part("ellipsoid", (0.085, 0.0, 1.6), (0.11, 0.125, 0.11), _VISOR, shine=1.2),  # visor
    ]
    for side, step, hand in ((1, stride, reach[0]), (-1, -stride, reach[1])):
        parts += [
            _rod((step, 0.12 * side, 0.1), (0.0, 0.12 * side, 0.86), 0.085, suit),  # leg
            _part("box", (step + 0.03, 0.12 * side, 0.06), (0.14, 0.075, 0.06), _DARK * 2),
            _rod((0.0, 0.3 * side, 1.36), (hand, 0.34 * side, 0.9), 0.07, suit),  # arm
            _part("ellipsoid", (hand, 0.34 * side, 0.86), (0.06, 0.05, 0.07), _SILVER * 0.7),
        ]
    return parts, (0.75, 1.78, 0.45)


def _lander(rng: np.random.Generator):
    """Landing craft: gold-foil descent stage on four splayed legs, gray cabin on top."""
    body = rng.uniform(0.85, 1.05)
    parts = [
        _part("box", (0.0, 0.0, 1.25), (body, body, 0.5), _GOLD_FOIL, shine=0.5, pattern="foil"),
        _part("box", (0.0, 0.0, 1.25), (0.85 * body, 0.85 * body, 0.49), _GOLD_FOIL,
              frame=_yaw_matrix(np.pi / 4).T, shine=0.5, pattern="foil"),
        _part("box", (0.0, 0.0, 2.15), (0.62, 0.7, 0.42), _SILVER, shine=0.3),  # cabin
        _part("box", (0.63, 0.0, 2.2), (0.02, 0.25, 0.18), _DARK, shine=0.8),  # hatch window
        _part("cylinder", (0.0, 0.0, 0.62), (0.35, 0.35, 0.16), _DARK),  # engine bell
        _rod((-0.3, 0.4, 2.55), (-0.3, 0.4, 2.85), 0.03, _SILVER),
        _part("cylinder", (-0.3, 0.4, 2.88), (0.32, 0.32, 0.02), _WHITE,
              frame=_frame_along((0.5, 0.2, 1.0))),  # antenna dish
    ]
    for sx in (-1, 1):
        for sy in (-1, 1):
            foot = np.array([1.75 * sx, 1.75 * sy, 0.1]) * rng.uniform(0.95, 1.05)
            parts += [
                _rod((0.85 * body * sx, 0.85 * body * sy, 1.0), foot, 0.055, _SILVER, 0.4),
                _part("ellipsoid", foot - (0, 0, 0.05), (0.25, 0.25, 0.06), _SILVER),
            ]
    return parts, (3.6, 2.9, 0.5)


def _antenna_mast(rng: np.random.Generator):
    """Communications mast on a tripod, a dish aimed at the sky, an electronics box at its foot."""
    mast = rng.uniform(1.8, 2.8)
    dish = rng.uniform(0.8, 1.2)
    heading = rng.uniform(-np.pi, np.pi)
    aim_elevation = np.radians(rng.uniform(15, 60))
    aim = _unit_vector(heading, aim_elevation)
    top = np.array([0.0, 0.0, mast])
    parts = [
        _rod((0.0, 0.0, 0.0), top, 0.05, _SILVER, 0.4),
        # The dish: a thin disc (flat shading reads as a plate, not a ball) on a rounded back.
        _part("cylinder", top + 0.15 * aim, (dish, dish, 0.03), _WHITE, frame=_frame_along(aim),
              shine=0.2),
        _part("ellipsoid", top + 0.1 * aim, (0.6 * dish, 0.6 * dish, 0.12 * dish), _SILVER,
              frame=_frame_along(aim)),
        _rod(top + 0.1 * aim, top + (0.1 + 0.7 * dish) * aim, 0.025, _DARK),  # feed horn
        _part("box", (0.0, 0.0, 0.25), (0.25, 0.2, 0.2), _GOLD_FOIL, shine=0.5, pattern="foil"),
    ]
    for angle in rng.uniform(0, 2 * np.pi) + np.array([0.0, 2.1, 4.2]):
        parts.append(_rod((0.0, 0.0, 0.9), (0.75 * np.cos(angle), 0.75 * np.sin(angle), 0.0),
                          0.035, _SILVER))
    return parts, (2 * dish + 0.3, mast + dish, 0.35)


def _solar_array(rng: np.random.Generator):
    """A row of tilted dark-blue solar panels with visible cell grids, each on a post."""
    count = int(rng.integers(2, 5))
    tilt = np.radians(rng.uniform(25, 65))
    # Panel plane spans local x (tilted) and y; its normal leans towards +x.
    frame = np.array([[np.cos(tilt), 0.0, -np.sin(tilt)], [0.0, 1.0, 0.0],
                      [np.sin(tilt), 0.0, np.cos(tilt)]])
    parts = []
    for i in range(count):
        y = (i - (count - 1) / 2) * 1.75
        parts += [
            _part("box", (0.0, y, 1.2), (0.85, 0.8, 0.025), _SOLAR_CELL, frame=frame, shine=0.9,
                  pattern="panel"),
            _rod((0.0, y, 0.0), (0.0, y, 1.2), 0.045, _SILVER),
        ]
    return parts, (1.75 * count, 2.0, 0.55)


def _habitat(rng: np.random.Generator):
    """A cylindrical habitat module lying on short legs, with a hatch and a radiator on top."""
    radius = rng.uniform(1.1, 1.5)
    half = rng.uniform(1.6, 2.6)
    axis_z = radius + 0.45
    lengthwise = _frame_along((0.0, 1.0, 0.0))
    parts = [
        _part("cylinder", (0.0, 0.0, axis_z), (radius, radius, half), _WHITE, frame=lengthwise,
              shine=0.25, pattern="bands"),
        _part("box", (radius - 0.05, 0.0, axis_z - 0.1), (0.12, 0.45, 0.7), _SILVER * 0.75,
              shine=0.4),  # hatch
        _part("box", (radius + 0.08, 0.0, axis_z + 0.25), (0.02, 0.18, 0.14), _DARK, shine=0.8),
        _part("box", (0.0, 0.0, axis_z + radius + 0.04), (0.55, 0.7 * half, 0.02), _SILVER,
              shine=0.5),  # radiator
    ]
    for end in (-1, 1):
        parts.append(_part("ellipsoid", (0.0, end * half, axis_z), (radius, radius, 0.45 * radius),
                           _WHITE, frame=lengthwise, shine=0.25))
        for side in (-1, 1):
            foot = (0.6 * radius * side, 0.6 * half * end, 0.0)
            parts.append(_rod(foot, (foot[0], foot[1], axis_z - 0.7 * radius), 0.06, _SILVER))
    return parts, (2 * half + 0.9 * radius, 2 * radius + 0.45, 0.8)


_STRUCTURES = {
    "astronaut": _astronaut,
    "lander": _lander,
    "antenna": _antenna_mast,
    "solar_array": _solar_array,
    "habitat": _habitat,
}


def _hit_box(o: np.ndarray, d: np.ndarray, half: np.ndarray):
    """Slab test. Returns ray parameter (inf on miss) and local normal."""
    d = np.where(np.abs(d) < 1e-9, 1e-9, d)
    t1 = (-half - o) / d
    t2 = (half - o) / d
    near = np.minimum(t1, t2)
    far = np.maximum(t1, t2)
    # Column-wise maxima: much faster than reductions over a length-3 axis.
    t_near = np.maximum(np.maximum(near[:, 0], near[:, 1]), near[:, 2])
    t_far = np.minimum(np.minimum(far[:, 0], far[:, 1]), far[:, 2])
    t = np.where((t_far >= t_near) & (t_near > _RAY_EPSILON), t_near, np.inf)
    normal = -np.sign(d) * (near == t_near[:, None])
    return t, normal


def _hit_cylinder(o: np.ndarray, d: np.ndarray, size: np.ndarray):
    """Capped cylinder along local z. Returns ray parameter (inf on miss) and local normal."""
    radius, half = size[0], size[2]
    ox, oy, oz = o[:, 0], o[:, 1], o[:, 2]
    dx, dy, dz = d[:, 0], d[:, 1], d[:, 2]
    a = np.maximum(dx * dx + dy * dy, 1e-12)
    b = ox * dx + oy * dy
    disc = b * b - a * (ox * ox + oy * oy - radius**2)
    t_side = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    side_ok = (disc >= 0) & (t_side > _RAY_EPSILON) & (np.abs(oz + t_side * dz) <= half)
    cap = np.where(oz > 0, half, -half)  # the end cap facing the ray origin
    t_cap = (cap - oz) / np.where(np.abs(dz) < 1e-9, 1e-9, dz)
    cap_x, cap_y = ox + t_cap * dx, oy + t_cap * dy
    cap_ok = (t_cap > _RAY_EPSILON) & (cap_x * cap_x + cap_y * cap_y <= radius**2)
    t_side = np.where(side_ok, t_side, np.inf)
    t = np.minimum(t_side, np.where(cap_ok, t_cap, np.inf))
    on_side = t == t_side
    t_safe = np.where(np.isfinite(t), t, 0.0)
    normal = np.stack([np.where(on_side, (ox + t_safe * dx) / radius, 0.0),
                       np.where(on_side, (oy + t_safe * dy) / radius, 0.0),
                       np.where(on_side, 0.0, np.sign(cap))], -1)
    return t, normal


def _hit_ellipsoid(o: np.ndarray, d: np.ndarray, semi: np.ndarray):
    """Returns ray parameter (inf on miss) and local normal."""
    os_, ds = o / semi, d / semi
    a = ds[:, 0] ** 2 + ds[:, 1] ** 2 + ds[:, 2] ** 2
    b = os_[:, 0] * ds[:, 0] + os_[:, 1] * ds[:, 1] + os_[:, 2] * ds[:, 2]
    c = os_[:, 0] ** 2 + os_[:, 1] ** 2 + os_[:, 2] ** 2 - 1.0
    disc = b * b - a * c
    t = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    t = np.where((disc >= 0) & (t > _RAY_EPSILON), t, np.inf)
    normal = (o + np.where(np.isfinite(t), t, 0.0)[:, None] * d) / semi**2
    length = np.sqrt(normal[:, 0] ** 2 + normal[:, 1] ** 2 + normal[:, 2] ** 2)
    return t, normal / np.maximum(length, 1e-12)[:, None]


_HITTERS = {"box": _hit_box, "cylinder": _hit_cylinder, "ellipsoid": _hit_ellipsoid}


def _rays_near_sphere(origins: np.ndarray, dirs: np.ndarray, centre: np.ndarray,
                      radius: float) -> np.ndarray:
    """Mask of rays that pass within `radius` of `centre` ahead of their origin (culling).

    `origins` is one shared origin (3,) or one per ray (P, 3).
    """
    to_centre = centre - origins
    if to_centre.ndim == 1:
        along = dirs @ to_centre
        miss = to_centre @ to_centre - along * along
    else:
        along = np.einsum("ij,ij->i", to_centre, dirs)
        miss = np.einsum("ij,ij->i", to_centre, to_centre) - along * along
    return (miss <= radius * radius) & (along > -radius)


def _trace(parts: list[_Part], origins: np.ndarray, dirs: np.ndarray, surface: bool = True):
    """Nearest hit of rays (P, 3) with any part: ray parameter (inf on miss), part index (-1),
    world normal and hit point in the part's local coordinates (the last two only if `surface`,
    else None). `origins` is one shared origin (3,) or one per ray (P, 3).

    Each part only tests the rays that pass its bounding sphere, which most rays miss. Normals
    are worked out afterwards for the winning part of each ray only.
    """
    count = len(dirs)
    best_t = np.full(count, np.inf)
    best = np.full(count, -1)
    for index, part in enumerate(parts):
        near = np.flatnonzero(_rays_near_sphere(origins, dirs, part.center,
                                                float(np.linalg.norm(part.size))))
        if len(near):
            t = _hit_part(part, origins, dirs, near)[0]
            closer = t < best_t[near]
            best_t[near[closer]] = t[closer]
            best[near[closer]] = index
    if not surface:
        return best_t, best, None, None
    normal = np.zeros((count, 3))
    local = np.zeros((count, 3))
    for index, part in enumerate(parts):
        won = np.flatnonzero(best == index)
        if len(won):
            t, n_local, o, d = _hit_part(part, origins, dirs, won)
            normal[won] = n_local @ part.frame
            local[won] = o + t[:, None] * d
    return best_t, best, normal, local


def _hit_part(part: _Part, origins: np.ndarray, dirs: np.ndarray, rays: np.ndarray):
    """Intersect the selected rays with one part, in its local frame: (t, local normal, local
    origins, local directions)."""
    d = dirs[rays] @ part.frame.T
    if origins.ndim == 1:
        o = np.broadcast_to(part.frame @ (origins - part.center), d.shape)
    else:
        o = (origins[rays] - part.center) @ part.frame.T
    t, normal = _HITTERS[part.kind](o, d, part.size)
    return t, normal, o, d


def _bounding_sphere(parts: list[_Part]):
    centre = np.mean([p.center for p in parts], axis=0)
    radius = max(np.linalg.norm(p.center - centre) + np.linalg.norm(p.size) for p in parts)
    return centre, radius


def _trace_culled(parts: list[_Part], origins: np.ndarray, dirs: np.ndarray,
                  surface: bool = True):
    """_trace, restricted to rays that can reach the parts' common bounding sphere."""
    count = len(dirs)
    t = np.full(count, np.inf)
    index = np.full(count, -1)
    normal = np.zeros((count, 3)) if surface else None
    local = np.zeros((count, 3)) if surface else None
    centre, radius = _bounding_sphere(parts)
    near = _rays_near_sphere(origins, dirs, centre, radius)
    if near.any():
        sub_origins = origins if origins.ndim == 1 else origins[near]
        hits = _trace(parts, sub_origins, dirs[near], surface)
        t[near], index[near] = hits[0], hits[1]
        if surface:
            normal[near], local[near] = hits[2], hits[3]
    return t, index, normal, local


def _place(parts: list[_Part], position: np.ndarray, yaw: float) -> list[_Part]:
    """Parts built around the origin, turned by `yaw` and moved to `position`."""
    rotation = _yaw_matrix(yaw)
    return [_Part(p.kind, position + rotation @ p.center, p.frame @ rotation.T, p.size, p.color,
                  p.shine, p.pattern) for p in parts]


def _surface_pattern(pattern: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Brightness factor per hit from each part's pattern and the local hit position."""
    x, y, z = local[:, 0], local[:, 1], local[:, 2]
    factor = np.ones(len(local))
    foil = pattern == "foil"
    # Crumpled foil: ripples along oblique directions, bent by a slower warp.
    warp = 0.8 * np.sin(7.1 * x - 5.3 * z) + 0.7 * np.sin(6.3 * y + 4.7 * z)
    ripples = (np.sin(21.0 * x + 13.0 * y - 9.0 * z + 2.0 * warp)
               + np.sin(-11.0 * x + 24.0 * y + 15.0 * z - 3.0 * warp)
               + np.sin(17.0 * x - 8.0 * y + 26.0 * z + warp))
    factor = np.where(foil, 0.8 + 0.14 * ripples, factor)
    # Solar cells: a bright grid of cell borders.
    grid = (np.abs(((x / 0.17) % 1.0) - 0.5) > 0.42) | (np.abs(((y / 0.17) % 1.0) - 0.5) > 0.42)
    factor = np.where((pattern == "panel") & grid, 5.0, factor)
    # Habitat: darker joint bands around the hull.
    bands = np.abs(((z / 0.7) % 1.0) - 0.5) > 0.44
    return np.where((pattern == "bands") & bands, 0.55, factor)


def _shade_structures(parts: list[_Part], scene: _Scene, view: _View, hits,
                      rays: np.ndarray) -> np.ndarray:
    """Radiance (M, 3) of structure surfaces hit by `rays` (M, 3): sun, shadows, fill, gloss."""
    light = scene.lighting
    t, index, normal, local = hits
    points = np.array([scene.camera.x, scene.camera.y, scene.camera.z]) + t[:, None] * rays
    to_sun = light.to_sun
    sunlit = _sunlit_fraction(parts, scene, view.shadow_height, points + 0.01 * normal)
    cosine = np.maximum(normal @ to_sun, 0.0)
    halfway = to_sun - rays
    halfway /= np.linalg.norm(halfway, axis=-1, keepdims=True)
    gloss = np.maximum((normal * halfway).sum(-1), 0.0) ** 40
    color = np.array([p.color for p in parts])[index]
    shine = np.array([p.shine for p in parts])[index]
    pattern = np.array([p.pattern for p in parts])[index]
    albedo = color * _surface_pattern(pattern, local)[:, None]
    diffuse = light.sun * cosine * sunlit + light.ambient * (0.55 + 0.45 * normal[:, 2])
    return albedo * diffuse[:, None] + (light.sun * shine * gloss * sunlit)[:, None]


def _sunlit_fraction(parts: list[_Part], scene: _Scene, shadow_height: np.ndarray,
                     points: np.ndarray) -> np.ndarray:
    """Sunlit fraction of points: 0 behind a structure, soft-edged behind terrain."""
    light = scene.lighting
    to_sun = np.broadcast_to(light.to_sun, points.shape)
    blocked = np.isfinite(_trace_culled(parts, points, to_sun, surface=False)[0])
    needed = _height_at(shadow_height, points[:, 0], points[:, 1])
    terrain = np.clip(1.0 - (needed - points[:, 2]) / light.softness, 0.0, 1.0)
    return np.where(blocked, 0.0, terrain)


def _structure_coverage(parts: list[_Part], origin: np.ndarray, rays: np.ndarray,
                        ground: np.ndarray) -> float:
    """Fraction of the rays that see the structure in front of the terrain."""
    return float((_trace_culled(parts, origin, rays, surface=False)[0] < ground).mean())


def _add_structures(rng: np.random.Generator, scene: _Scene, view: _View) -> np.ndarray:
    """Terrain radiance with one or two structures placed in view, (R, C, 3)."""
    cam = scene.camera
    rays = view.rays().reshape(-1, 3)
    ground = view.ray_lengths().ravel()
    kinds = list(_STRUCTURES)
    first = int(rng.integers(len(kinds)))
    plan = [(kinds[first], rng.uniform(0.12, 0.3), rng.uniform(-0.25, 0.25))]
    if rng.random() < 0.3:
        second = (first + int(rng.integers(1, len(kinds)))) % len(kinds)
        side = -np.sign(plan[0][2]) or 1.0
        plan.append((kinds[second], rng.uniform(0.04, 0.1), side * rng.uniform(0.2, 0.35)))

    placed: list[_Part] = []
    for kind, coverage, bearing_share in plan:
        bearing = bearing_share * cam.hfov
        yaw = cam.yaw + bearing + np.pi + rng.uniform(-1.2, 1.2)
        # Where terrain leaves no room for this structure (a steep slope close ahead), another
        # kind usually fits.
        alternatives = [kind] + [k for k in kinds if k != kind]
        for attempt in range(3):
            parts, dims = _STRUCTURES[alternatives[attempt]](rng)
            parts, seen = _place_in_view(scene, view, parts, dims, coverage, bearing, yaw, rays,
                                         ground)
            if seen >= 0.4 * coverage:
                break
        placed += parts

    t, index, normal, local = _trace_culled(placed, np.array([cam.x, cam.y, cam.z]), rays)
    visible = t < ground
    radiance = _terrain_radiance_with_shadows(scene, view, placed).reshape(-1, 3)
    if visible.any():
        hits = (t[visible], index[visible], normal[visible], local[visible])
        radiance[visible] = _shade_structures(placed, scene, view, hits, rays[visible])
    return radiance.reshape(view.direct.shape + (3,))


def _place_in_view(scene: _Scene, view: _View, parts: list[_Part], dims, coverage: float,
                   bearing: float, yaw: float, rays: np.ndarray, ground: np.ndarray):
    """Stand a structure on visible ground at about `bearing`, at the distance where it covers
    about `coverage` of the image. Tries the mirrored and the central bearing when terrain
    hides it or crops it too much. Returns the placed parts and the coverage they reach."""
    cam = scene.camera
    origin = np.array([cam.x, cam.y, cam.z])
    res = view.direct.shape[0]
    # Every second pixel in each direction is plenty to judge the apparent size.
    sparse = ((np.arange(res)[:, None] % 2 == 0) & (np.arange(res)[None, :] % 2 == 0)).ravel()
    best, best_error = None, np.inf
    for heading in (bearing, -bearing, 0.0):
        for distance in _foothold_distances(view, heading, dims, coverage):
            x, y = _ahead(cam, distance, heading)
            base = np.array([x, y, float(_height_at(scene.height, x, y)) - 0.03])
            candidate = _place(parts, base, yaw + heading - bearing)
            seen = _structure_coverage(candidate, origin, rays[sparse], ground[sparse])
            error = abs(np.log(max(seen, 1e-3) / coverage))
            if error < best_error:
                best, best_error = (candidate, seen), error
            if error < np.log(1.6):
                return best
    return best


def _foothold_distances(view: _View, bearing: float, dims, coverage: float):
    """Candidate distances for a structure along `bearing`, best first: ground visible in that
    image column, low enough in the frame for the structure's height to fit above it, and
    nearest (in ratio) to the distance that gives the wanted coverage."""
    width, tall, fill = dims
    res = view.direct.shape[0]
    column = int(np.clip(res / 2 + view.focal * np.tan(bearing), 0, res - 1))
    distances = view.distance[:, column]
    # Apparent area falls with distance squared.
    desired = view.focal * np.sqrt(width * tall * fill / (coverage * res * res))
    usable = np.isfinite(distances) & (distances > 0.6 * width + 0.8)
    if not usable.any():
        return [desired]
    with np.errstate(invalid="ignore", divide="ignore"):
        apparent_height = view.focal * tall / distances
        cropped = np.clip(1.0 - np.arange(res) / apparent_height, 0.0, 1.0)
        mismatch = np.abs(np.log(distances / desired))
    score = np.where(usable, mismatch + 2.0 * cropped, np.inf)
    # Keep candidates at clearly different distances, so that a retry is a real alternative.
    chosen: list[float] = []
    for row in np.argsort(score):
        if not np.isfinite(score[row]) or len(chosen) == 4:
            break
        if all(abs(np.log(distances[row] / d)) > 0.2 for d in chosen):
            chosen.append(float(distances[row]))
    return chosen


def _terrain_radiance_with_shadows(scene: _Scene, view: _View, parts: list[_Part]) -> np.ndarray:
    """Terrain radiance with the structures' cast shadows removed from the direct sunlight."""
    points = view.ground_points().reshape(-1, 3)
    ground = ~view.sky.ravel()
    to_sun = np.broadcast_to(scene.lighting.to_sun, points.shape)
    blocked = np.zeros(len(points), bool)
    blocked[ground] = np.isfinite(_trace_culled(parts, points[ground] + (0, 0, 0.02),
                                                to_sun[ground], surface=False)[0])
    direct = np.where(blocked.reshape(view.direct.shape), 0.0, view.direct)
    return (direct + view.ambient)[..., None] * scene.regolith


# --------------------------------------------------------------------------------------------
# Sensor
# --------------------------------------------------------------------------------------------


def _develop(rng: np.random.Generator, radiance: np.ndarray, colour: np.ndarray,
             lighting: _Lighting, size: int) -> np.ndarray:
    """Exposure and white balance, area downsampling, optical blur and sensor noise -> CHW.

    `radiance` is (R, C, 3), or (R, C) times the RGB `colour`; colour is applied after
    downsampling, where it costs a quarter as much.
    """
    factor = radiance.shape[0] // size
    # Area average over factor x factor blocks, as a sum of strided slices (faster than mean).
    image = sum(radiance[i::factor, j::factor] for i in range(factor) for j in range(factor))
    if image.ndim == 2:
        image = image[..., None]
    gain = lighting.exposure * lighting.tint * colour / factor**2
    image = image * gain.astype(np.float32)
    # Highlights roll off smoothly instead of clipping flat, like a sensor's response curve.
    image = np.where(image > 0.8, 0.8 + 0.2 * np.tanh((image - 0.8) / 0.2), image)
    image = ndimage.gaussian_filter(image, sigma=(lighting.blur, lighting.blur, 0.0), truncate=2.5)
    # Shot noise grows with signal; read noise is constant. Both are per channel.
    sigma = lighting.noise * (0.5 + np.sqrt(np.clip(image, 0.0, 1.0)))
    image = image + sigma * rng.standard_normal(image.shape, dtype=np.float32)
    return np.ascontiguousarray(np.clip(image, 0.0, 1.0).transpose(2, 0, 1), dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _check_label(label) -> int:
    try:
        index = operator.index(label)
    except TypeError:
        raise ValueError(f"lunar class label must be an integer, got {label!r}") from None
    if not 0 <= index < len(CLASS_NAMES):
        raise ValueError(f"unknown lunar class label {label!r}; "
                         f"expected 0..{len(CLASS_NAMES) - 1}")
    return index


def render_lunar(rng: np.random.Generator, label: int, size: int = 64) -> np.ndarray:
    """One view of terrain class `label` (an index into CLASS_NAMES).

    Returns float32 (3, size, size), RGB in [0, 1]. Raises ValueError for an unknown label.
    """
    scene = _SCENES[CLASS_NAMES[_check_label(label)]](rng)
    view = _project_terrain(scene, size * _SUPERSAMPLE)
    return _develop(rng, _terrain_luminance(view), scene.regolith, scene.lighting, size)


def render_lunar_ood(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """Terrain of a random class with human-made structures in view: float32 (3, size, size)."""
    scene = _SCENES[CLASS_NAMES[int(rng.integers(len(CLASS_NAMES)))]](rng)
    # Look closer to level than some terrain classes do, so that standing structures fit in view.
    scene.camera.pitch = min(scene.camera.pitch, np.radians(rng.uniform(0.0, 15.0)))
    view = _project_terrain(scene, size * _SUPERSAMPLE)
    radiance = _add_structures(rng, scene, view)
    return _develop(rng, radiance, np.ones(3), scene.lighting, size)
