"""Causes a rover or car camera meets beyond the paper's six: blur, haze, lens occlusion, glare.

Each cause is written several ways, and they differ in kernel, airlight model, dirt shape or
light shape, so that the explainer can be fitted on some and judged on others
(`cause_implementations` puts each in a fixed group):

- blur: box and disc (defocus) kernels, a line kernel at a random angle (motion);
- haze: a blend towards an airlight of random tint, uniform or growing with distance (up the
  view), and a scattering model with a patchy depth;
- occlusion: opaque dark blobs, a translucent smudge that also diffuses what it covers, a
  finger over a corner, a mud streak across the view;
- glare: an additive bloom, a sun at the edge of the view with lens ghosts, a region pushed
  past white by exposure, a streak of light.

Strengths are in each formula's own unit: kernel sizes in pixels of the image, haze amounts and
densities, shares of the view covered, glare amplitudes or exposure stops. Random placement and
tints come from a `torch.Generator`, so the same seed gives the same pixels. Images follow the
package convention: float32 tensors, NCHW, RGB, values in [0, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

FIELD_CAUSES: tuple[str, ...] = ("blur", "haze", "occlusion", "glare")

_SUPERSAMPLING = 8  # sub-pixel samples per side when rasterising a kernel
# Airlight tints: neutral, dust (warm), sky scatter (cool).
_AIRLIGHT_TINTS = ((1.0, 1.0, 1.0), (1.0, 0.92, 0.78), (0.88, 0.94, 1.0))


def _uniform(generator: torch.Generator, low: float, high: float, count: int = 1
             ) -> torch.Tensor:
    return low + (high - low) * torch.rand(count, generator=generator, dtype=torch.float64)


def _grid(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, x) coordinates of the pixel centres in [-1, 1], shape (H, W) each."""
    height, width = images.shape[-2:]
    rows = torch.linspace(-1.0, 1.0, height, dtype=images.dtype, device=images.device)
    columns = torch.linspace(-1.0, 1.0, width, dtype=images.dtype, device=images.device)
    return torch.meshgrid(rows, columns, indexing="ij")


def _convolve(images: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Each channel of `images` (N, 3, H, W) with one 2-D `kernel`, edges replicated."""
    kernel = (kernel / kernel.sum()).to(images)
    height, width = kernel.shape
    padded = F.pad(images, ((width - 1) // 2, width // 2, (height - 1) // 2, height // 2),
                   mode="replicate")
    return F.conv2d(padded, kernel.expand(3, 1, height, width), groups=3).clamp(0.0, 1.0)


# ----------------------------------------------------------------------------- blur

def _box_weights(size: float) -> torch.Tensor:
    """1-D weights of a box `size` pixels wide centred on a pixel (partial pixels at the ends)."""
    radius = math.ceil((size - 1.0) / 2.0)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    return ((x + 0.5).clamp(max=size / 2) - (x - 0.5).clamp(min=-size / 2)).clamp(min=0.0)


def box_blur(images: torch.Tensor, size: float) -> torch.Tensor:
    """Mean over a `size` x `size` box (pixels): the cheapest lens or scaler blur."""
    weights = _box_weights(size)
    return _convolve(images, weights.view(-1, 1) * weights.view(1, -1))


def _disc_kernel(radius: float) -> torch.Tensor:
    side = 2 * math.ceil(radius) + 1
    steps = (torch.arange(side * _SUPERSAMPLING, dtype=torch.float64) + 0.5) / _SUPERSAMPLING
    offsets = steps - side / 2.0
    inside = (offsets.view(-1, 1) ** 2 + offsets.view(1, -1) ** 2) <= radius ** 2
    return F.avg_pool2d(inside[None, None].double(), _SUPERSAMPLING)[0, 0]


def disc_defocus(images: torch.Tensor, radius: float) -> torch.Tensor:
    """Out of focus: each point spread over a disc of `radius` pixels (the aperture's image)."""
    return _convolve(images, _disc_kernel(radius))


def _line_kernel(length: float, angle: float) -> torch.Tensor:
    """A line `length` pixels long through the centre at `angle` (radians), splatted
    bilinearly from many points along it."""
    half = math.ceil(length / 2.0) + 1
    kernel = torch.zeros(2 * half + 1, 2 * half + 1, dtype=torch.float64)
    steps = torch.linspace(-length / 2.0, length / 2.0, max(2, int(length * 4) + 1),
                           dtype=torch.float64)
    xs, ys = steps * math.cos(angle) + half, steps * math.sin(angle) + half
    x0, y0 = xs.floor().long(), ys.floor().long()
    fx, fy = xs - x0, ys - y0
    for dy, dx, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                           (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        kernel.index_put_((y0 + dy, x0 + dx), weight, accumulate=True)
    return kernel


def line_motion_blur(images: torch.Tensor, length: float,
                     generator: torch.Generator) -> torch.Tensor:
    """The camera moved during the exposure: a line kernel of `length` pixels at a random
    angle per image."""
    angles = _uniform(generator, 0.0, math.pi, len(images))
    return torch.cat([_convolve(image[None], _line_kernel(length, float(angle)))
                      for image, angle in zip(images, angles)])


# ----------------------------------------------------------------------------- haze

def _airlights(generator: torch.Generator, count: int) -> torch.Tensor:
    """(count, 3) airlight colours: a bright level in one of the tints."""
    levels = _uniform(generator, 0.65, 0.95, count)
    tints = torch.tensor(_AIRLIGHT_TINTS, dtype=torch.float64)[
        torch.randint(len(_AIRLIGHT_TINTS), (count,), generator=generator)]
    return (levels.view(-1, 1) * tints).clamp(max=1.0)


def _towards_airlight(images: torch.Tensor, transmission: torch.Tensor,
                      airlight: torch.Tensor) -> torch.Tensor:
    """The scattering model: scene * t + airlight * (1 - t); t broadcasts over (N, 1, H, W)."""
    airlight = airlight.to(images).view(-1, 3, 1, 1)
    return (images * transmission + airlight * (1.0 - transmission)).clamp(0.0, 1.0)


def uniform_haze(images: torch.Tensor, amount: float, generator: torch.Generator
                 ) -> torch.Tensor:
    """The same share `amount` of airlight (random tint) everywhere in the view."""
    transmission = images.new_full((len(images), 1, 1, 1), 1.0 - amount)
    return _towards_airlight(images, transmission, _airlights(generator, len(images)))


def graded_haze(images: torch.Tensor, amount: float, generator: torch.Generator
                ) -> torch.Tensor:
    """Haze that thickens with distance: `amount` of airlight at the top row, 40 % of that at
    the bottom (nearer ground)."""
    y, _ = _grid(images)
    share = amount * (1.0 - 0.3 * (y[:, :1] + 1.0))  # 1 at the top, 0.4 at the bottom
    transmission = (1.0 - share).expand(images.shape[-2:])[None, None]
    return _towards_airlight(images, transmission, _airlights(generator, len(images)))


def _smooth_field(images: torch.Tensor, generator: torch.Generator, cells: int = 4
                  ) -> torch.Tensor:
    """(N, 1, H, W) smooth random values in [0, 1]: a coarse grid upsampled bicubically."""
    coarse = torch.rand((len(images), 1, cells, cells), generator=generator)
    return F.interpolate(coarse.to(images), size=images.shape[-2:], mode="bicubic",
                         align_corners=True).clamp(0.0, 1.0)


def scattering_haze(images: torch.Tensor, density: float, generator: torch.Generator
                    ) -> torch.Tensor:
    """Koschmieder's law: t = exp(-density * depth), depth growing up the view and patchy,
    towards a fixed blue-white sky."""
    y, _ = _grid(images)
    depth = 0.3 + 0.35 * (1.0 - y)[None, None] + 0.3 * _smooth_field(images, generator)
    airlight = torch.tensor([[0.82, 0.86, 0.92]], dtype=torch.float64).expand(len(images), 3)
    return _towards_airlight(images, torch.exp(-density * depth), airlight)


# ----------------------------------------------------------------------------- occlusion

def _ellipse_alpha(images: torch.Tensor, centre: tuple[float, float], axes: tuple[float, float],
                   angle: float, softness: float) -> torch.Tensor:
    """(H, W) opacity of a soft-edged ellipse; coordinates in [-1, 1] (y, x)."""
    y, x = _grid(images)
    u = (x - centre[1]) * math.cos(angle) + (y - centre[0]) * math.sin(angle)
    v = -(x - centre[1]) * math.sin(angle) + (y - centre[0]) * math.cos(angle)
    radius = torch.sqrt((u / axes[1]) ** 2 + (v / axes[0]) ** 2)
    return torch.sigmoid((1.0 - radius) / softness)


def _ellipse_for_area(share: float, generator: torch.Generator) -> tuple[float, float]:
    """Semi-axes (in [-1, 1] units, where the view's area is 4) of an ellipse covering `share`
    of the view, with a random aspect ratio."""
    aspect = float(_uniform(generator, 0.6, 1.6))
    product = share * 4.0 / math.pi
    return math.sqrt(product * aspect), math.sqrt(product / aspect)


def _composite(images: torch.Tensor, alpha: torch.Tensor | float, colour: torch.Tensor
               ) -> torch.Tensor:
    """Paint `colour` (3,) over `images` with opacity `alpha` (H, W) or (N, 1, H, W)."""
    return (images * (1.0 - alpha) + colour.to(images).view(1, 3, 1, 1) * alpha).clamp(0.0, 1.0)


def dark_blobs(images: torch.Tensor, coverage: float, generator: torch.Generator
               ) -> torch.Tensor:
    """One to three opaque, dark, soft-edged blobs on the lens covering about `coverage` of the
    view together."""
    out = []
    for image in images:
        count = int(torch.randint(1, 4, (1,), generator=generator))
        alpha = torch.zeros(image.shape[-2:], dtype=image.dtype)
        for _ in range(count):
            axes = _ellipse_for_area(coverage / count, generator)
            centre = tuple(float(c) for c in _uniform(generator, -0.7, 0.7, 2))
            blob = _ellipse_alpha(image, centre, axes, float(_uniform(generator, 0, math.pi)),
                                  float(_uniform(generator, 0.05, 0.2)))
            alpha = torch.maximum(alpha, blob)
        level = float(_uniform(generator, 0.02, 0.15))
        out.append(_composite(image[None], alpha, torch.tensor([1.0, 0.9, 0.8]) * level))
    return torch.cat(out)


def translucent_smudge(images: torch.Tensor, coverage: float, generator: torch.Generator
                       ) -> torch.Tensor:
    """A greasy smudge covering `coverage` of the view: what lies under it is diffused and
    dimmed towards a brown-gray film."""
    diffused = box_blur(images, 5.0)
    out = []
    for image, soft in zip(images, diffused):
        axes = _ellipse_for_area(coverage, generator)
        centre = tuple(float(c) for c in _uniform(generator, -0.5, 0.5, 2))
        alpha = _ellipse_alpha(image, centre, axes, float(_uniform(generator, 0, math.pi)), 0.25)
        covered = _composite(soft[None], float(_uniform(generator, 0.5, 0.8)),
                             torch.tensor([0.35, 0.3, 0.25]))
        out.append(image[None] * (1.0 - alpha) + covered * alpha)
    return torch.cat(out).clamp(0.0, 1.0)


def corner_finger(images: torch.Tensor, coverage: float, generator: torch.Generator
                  ) -> torch.Tensor:
    """A fingertip over one corner of the lens, far out of focus, covering `coverage` of the
    view: skin-toned, darker towards the corner."""
    y, x = _grid(images)
    out = []
    for image in images:
        corner = (float(torch.randint(2, (1,), generator=generator)) * 2 - 1,
                  float(torch.randint(2, (1,), generator=generator)) * 2 - 1)
        radius = math.sqrt(16.0 * coverage / math.pi)  # a quarter disc of this radius
        distance = torch.sqrt((y - corner[0]) ** 2 + (x - corner[1]) ** 2)
        alpha = torch.sigmoid((1.0 - distance / radius) / 0.12)
        shade = (0.4 + 0.6 * (distance / radius).clamp(max=1.0))[None, None]
        skin = torch.tensor([0.55, 0.38, 0.3]).to(image).view(1, 3, 1, 1) * shade \
            * float(_uniform(generator, 0.5, 1.0))
        out.append(image[None] * (1.0 - alpha) + skin * alpha)
    return torch.cat(out).clamp(0.0, 1.0)


def mud_streak(images: torch.Tensor, coverage: float, generator: torch.Generator
               ) -> torch.Tensor:
    """A band of mud across the view at a random angle, about `coverage` of it, thinning in
    places."""
    y, x = _grid(images)
    out = []
    for image in images:
        angle = float(_uniform(generator, 0.0, math.pi))
        offset = float(_uniform(generator, -0.4, 0.4))
        across = (x * math.sin(angle) - y * math.cos(angle) - offset).abs()
        half_width = coverage  # a band through the view: width share of a 2 x 2 view
        thinning = 0.75 + 0.25 * _smooth_field(image[None], generator, cells=6)[0, 0]
        alpha = 0.9 * thinning * torch.sigmoid((half_width - across) / 0.04)
        mud = torch.tensor([0.3, 0.22, 0.12]) * float(_uniform(generator, 0.6, 1.2))
        out.append(_composite(image[None], alpha, mud))
    return torch.cat(out)


# ----------------------------------------------------------------------------- glare

_WARM_WHITE = (1.0, 0.97, 0.9)


def _gaussian_spot(images: torch.Tensor, centre: tuple[float, float], sigma: float
                   ) -> torch.Tensor:
    y, x = _grid(images)
    return torch.exp(-((y - centre[0]) ** 2 + (x - centre[1]) ** 2) / (2.0 * sigma ** 2))


def _add_light(image: torch.Tensor, light: torch.Tensor, colour=_WARM_WHITE) -> torch.Tensor:
    tint = torch.tensor(colour).to(image).view(1, 3, 1, 1)
    return (image[None] + light * tint).clamp(0.0, 1.0)


def bloom_spot(images: torch.Tensor, amplitude: float, generator: torch.Generator
               ) -> torch.Tensor:
    """A bright light scattered in the lens: an additive gaussian bloom of `amplitude` at a
    random place."""
    out = []
    for image in images:
        centre = tuple(float(c) for c in _uniform(generator, -0.8, 0.8, 2))
        sigma = float(_uniform(generator, 0.15, 0.35))
        out.append(_add_light(image, amplitude * _gaussian_spot(image, centre, sigma)))
    return torch.cat(out)


def sun_flare(images: torch.Tensor, amplitude: float, generator: torch.Generator
              ) -> torch.Tensor:
    """The sun at the edge of the view: a wide bloom there and three lens ghosts along the
    line through the centre."""
    out = []
    for image in images:
        angle = float(_uniform(generator, 0.0, 2.0 * math.pi))
        source = (math.sin(angle), math.cos(angle))
        scale = 1.0 / max(abs(source[0]), abs(source[1]))  # onto the border
        source = (source[0] * scale, source[1] * scale)
        light = amplitude * _gaussian_spot(image, source, 0.3)
        for along, radius in ((0.4, 0.08), (-0.3, 0.12), (-0.8, 0.06)):
            ghost = (source[0] * along, source[1] * along)
            light = light + 0.3 * amplitude * _ellipse_alpha(image, ghost, (radius, radius),
                                                             0.0, 0.05)
        out.append(_add_light(image, light))
    return torch.cat(out)


def overexposed_patch(images: torch.Tensor, stops: float, generator: torch.Generator
                      ) -> torch.Tensor:
    """A sunlit region the exposure was not set for: `stops` of gain (2 ** stops) inside a soft
    ellipse covering 15-35 % of the view, clipping at white."""
    out = []
    for image in images:
        axes = _ellipse_for_area(float(_uniform(generator, 0.15, 0.35)), generator)
        centre = tuple(float(c) for c in _uniform(generator, -0.5, 0.5, 2))
        alpha = _ellipse_alpha(image, centre, axes, float(_uniform(generator, 0, math.pi)), 0.2)
        gain = 1.0 + (2.0 ** stops - 1.0) * alpha
        out.append((image[None] * gain).clamp(0.0, 1.0))
    return torch.cat(out)


def light_streak(images: torch.Tensor, amplitude: float, generator: torch.Generator
                 ) -> torch.Tensor:
    """A streak of light across the view (a reflection off the windshield or visor): a bright
    band of `amplitude` at a random angle, brightest at one point."""
    y, x = _grid(images)
    out = []
    for image in images:
        angle = float(_uniform(generator, 0.0, math.pi))
        centre = tuple(float(c) for c in _uniform(generator, -0.4, 0.4, 2))
        across = (x - centre[1]) * math.sin(angle) - (y - centre[0]) * math.cos(angle)
        width = float(_uniform(generator, 0.06, 0.12))
        band = torch.exp(-across ** 2 / (2.0 * width ** 2))
        light = amplitude * band * (0.5 + 0.5 * _gaussian_spot(image, centre, 0.5))
        out.append(_add_light(image, light, (1.0, 1.0, 1.0)))
    return torch.cat(out)
