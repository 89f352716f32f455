"""Several independent implementations of each cause the explainer names, in fixed groups.

Why: the explainer was fitted on degradations made by `competency_cf.data.causes.degrade`, the
same code that makes the example set, so the example set cannot tell whether it recognises a
cause or one formula. Here every cause (the paper's six, and blur, haze, lens occlusion and
glare from `data.field_causes`) has several implementations (other formulas, other
strengths, the robustness benchmark's corruptions and pastes), each in a group fixed in code:

- "fit": may be used to fit or tune the explainer;
- "held_out": for reporting only (leave-one-implementation-out per cause);
- "outside" (`OUTSIDE_IMPLEMENTATIONS`): causes outside the explainer's label set (a colour
  cast, a rolling-shutter skew), for reporting how often the answer is "unsure".

The robustness benchmark's own groups are respected: only `TUNING_CORRUPTIONS` and
`TUNING_PASTES` appear in "fit"; every other ImageNet-C corruption and paste source used here is
"held_out".

An implementation maps a batch and one strength to a degraded batch. `strengths` is the range
(weakest, strongest) in the implementation's own parameter (a gain, a gamma, a block size, an
ImageNet-C severity, a pasted area fraction...); spatial OOD renders have no strength. Images
follow the package convention: float32 tensors, NCHW, RGB, values in [0, 1].
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from competency_cf.data.causes import (CAUSES, add_uniform_noise, adjust_brightness,
                                       adjust_contrast, adjust_saturation, grayscale, pixelate)
from competency_cf.data.dataset import check_each_image
from competency_cf.data.field_causes import (FIELD_CAUSES, bloom_spot, box_blur, corner_finger,
                                             dark_blobs, disc_defocus, graded_haze,
                                             light_streak, line_motion_blur, mud_streak,
                                             overexposed_patch, scattering_haze, sun_flare,
                                             translucent_smudge, uniform_haze)
from competency_cf.explain.explanation import HIGH, LOW

# Every cause the explainer names: the paper's six, then the field causes.
EXPLAINED_CAUSES: tuple[str, ...] = CAUSES + FIELD_CAUSES

GROUPS: tuple[str, ...] = ("fit", "held_out")
# Cause and group of the degradations outside the explainer's label set: nothing is fitted on
# them; a good explainer answers "unsure" about them.
OUTSIDE = "outside"
# Image indices of the fresh renders of the shifted set (robustness uses 2,000,000 and
# exploratory work 3,000,000): never used for training, calibration, tests or benchmarks.
SHIFT_RENDER_INDEX = 4_000_000
_DISPLAY_GAMMA = 2.2

# (images, strength, seed, domain) -> degraded images
Transform = Callable[[torch.Tensor, float, int, str], torch.Tensor]


# ----------------------------------------------------------------------------- new formulas

def gamma_curve(images: torch.Tensor, gamma: float) -> torch.Tensor:
    """Tone curve x -> x ** gamma: gamma above 1 darkens the mid-tones, below 1 brightens them."""
    return images.clamp(0.0, 1.0).pow(gamma)


def black_level_offset(images: torch.Tensor, offset: float) -> torch.Tensor:
    """Subtract `offset` from every value and clip: an under-exposure that crushes the shadows."""
    return (images - offset).clamp(0.0, 1.0)


def exposure_curve(images: torch.Tensor, stops: float) -> torch.Tensor:
    """Saturating exposure curve (1 - exp(-k x)) / (1 - exp(-k)): brighter as k grows."""
    # Clamped: in float32 the curve can land a rounding error above 1 at x = 1.
    return ((1.0 - torch.exp(-stops * images)) / (1.0 - math.exp(-stops))).clamp(0.0, 1.0)


def _mean_luma(images: torch.Tensor) -> torch.Tensor:
    # Curves pivot on each image's mean gray, as the generator's contrast blend does, so that on
    # dark or bright views they change contrast rather than brightness.
    return grayscale(images).mean(dim=(1, 2, 3), keepdim=True).clamp(0.05, 0.95)


def _pivoted(images: torch.Tensor, half_curve: Callable[[torch.Tensor], torch.Tensor]
             ) -> torch.Tensor:
    """Apply `half_curve` (a map of [0, 1] onto itself) to the distance from the mean gray, on
    each side of it, so black, the pivot and white stay where they are."""
    pivot = _mean_luma(images)
    images = images.clamp(0.0, 1.0)
    below = pivot - pivot * half_curve((pivot - images) / pivot)
    above = pivot + (1.0 - pivot) * half_curve((images - pivot) / (1.0 - pivot))
    return torch.where(images < pivot, below, above).clamp(0.0, 1.0)


def s_curve(images: torch.Tensor, steepness: float) -> torch.Tensor:
    """Tanh S-curve about the mean gray: steeper mid-tones, more contrast as steepness grows."""
    return _pivoted(images, lambda t: torch.tanh(steepness * t) / math.tanh(steepness))


def inverse_s_curve(images: torch.Tensor, steepness: float) -> torch.Tensor:
    """Inverse of `s_curve`: flatter mid-tones, less contrast as steepness grows."""
    return _pivoted(images, lambda t: torch.atanh(
        (t * math.tanh(steepness)).clamp(max=1.0 - 1e-7)) / steepness)


def power_contrast(images: torch.Tensor, exponent: float) -> torch.Tensor:
    """Contrast scaled in the log domain, y = m (x / m) ** exponent with m the mean gray:
    exponents below 1 pull every value towards m multiplicatively."""
    pivot = _mean_luma(images)
    return (pivot * (images.clamp_min(1e-4) / pivot).pow(exponent)).clamp(0.0, 1.0)


def local_contrast(images: torch.Tensor, amount: float) -> torch.Tensor:
    """Unsharp mask with a wide gaussian (sigma a sixteenth of the side): local contrast boost,
    x + amount (x - blurred x)."""
    sigma = max(1.0, min(images.shape[-2:]) / 16.0)
    radius = int(math.ceil(3.0 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = (kernel / kernel.sum()).view(1, 1, 1, -1).repeat(3, 1, 1, 1)
    blurred = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    blurred = F.conv2d(blurred, kernel, groups=3)
    blurred = F.conv2d(blurred, kernel.transpose(-1, -2), groups=3)
    return (images + amount * (images - blurred)).clamp(0.0, 1.0)


def hsv_saturation_scale(images: torch.Tensor, scale: float) -> torch.Tensor:
    """Scale the HSV saturation by `scale` (clipped to 1), keeping hue and value."""
    value = images.max(dim=1, keepdim=True).values
    saturation = (value - images.min(dim=1, keepdim=True).values) / value.clamp_min(1e-6)
    # Keeping hue and value, a channel's distance below the value scales with the saturation.
    ratio = (saturation * scale).clamp(0.0, 1.0) / saturation.clamp_min(1e-6)
    ratio = torch.where(saturation > 1e-6, ratio, torch.ones_like(ratio))
    return (value - (value - images) * ratio).clamp(0.0, 1.0)


def linear_light_saturation(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend with the luminance in linear light (display gamma 2.2 undone, then redone)."""
    linear = images.clamp(0.0, 1.0).pow(_DISPLAY_GAMMA)
    luminance = grayscale(linear)
    blended = (luminance + factor * (linear - luminance)).clamp(0.0, 1.0)
    return blended.pow(1.0 / _DISPLAY_GAMMA)


def monochrome_gaussian_noise(images: torch.Tensor, sigma: float,
                              generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise of std `sigma`, the same on the three channels (luminance grain)."""
    noise = torch.randn((len(images), 1) + tuple(images.shape[-2:]), generator=generator)
    return (images + sigma * noise.to(images.device)).clamp(0.0, 1.0)


def salt_and_pepper(images: torch.Tensor, amount: float,
                    generator: torch.Generator) -> torch.Tensor:
    """A share `amount` of whole pixels set to black or white, half each."""
    shape = (len(images), 1) + tuple(images.shape[-2:])
    hit = torch.rand(shape, generator=generator) < amount
    white = torch.rand(shape, generator=generator) < 0.5
    hit, white = hit.to(images.device), white.to(images.device)
    return torch.where(hit, white.to(images.dtype).expand_as(images), images)


def _reduced_side(images: torch.Tensor, block: float) -> tuple[int, int]:
    height, width = images.shape[-2:]
    return max(1, round(height / block)), max(1, round(width / block))


def area_pixelate(images: torch.Tensor, block: float) -> torch.Tensor:
    """Area-average down to 1/`block` of the side, then nearest up: blocks of mean colour."""
    small = F.interpolate(images, size=_reduced_side(images, block), mode="area")
    return F.interpolate(small, size=tuple(images.shape[-2:]), mode="nearest")


def bilinear_resample(images: torch.Tensor, block: float) -> torch.Tensor:
    """Antialiased bilinear down to 1/`block` of the side, then bilinear up: soft low-res."""
    small = F.interpolate(images, size=_reduced_side(images, block), mode="bilinear",
                          antialias=True, align_corners=False)
    return F.interpolate(small, size=tuple(images.shape[-2:]), mode="bilinear",
                         align_corners=False).clamp(0.0, 1.0)


# ------------------------------------------------- causes outside the explainer's label set

def colour_cast(images: torch.Tensor, amount: float) -> torch.Tensor:
    """A warm white-balance error: red gained by 1 + amount, blue by 1 - amount."""
    gains = torch.tensor([1.0 + amount, 1.0, 1.0 - amount], dtype=images.dtype,
                         device=images.device).view(1, 3, 1, 1)
    return (images * gains).clamp(0.0, 1.0)


def rolling_shutter_skew(images: torch.Tensor, slope: float) -> torch.Tensor:
    """Rows read out while the camera pans: row y shifts sideways by slope * y pixels (edges
    replicated)."""
    height, width = images.shape[-2:]
    rows = torch.linspace(-1.0, 1.0, height, dtype=images.dtype, device=images.device)
    columns = torch.linspace(-1.0, 1.0, width, dtype=images.dtype, device=images.device)
    y, x = torch.meshgrid(rows, columns, indexing="ij")
    shift = slope * (y + 1.0) * (height - 1) / 2.0 * 2.0 / (width - 1)  # pixels -> grid units
    grid = torch.stack([x - shift, y], dim=-1).expand(len(images), height, width, 2)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border",
                         align_corners=True).clamp(0.0, 1.0)


# ----------------------------------------------------------------------------- adapters

def _deterministic(function: Callable[[torch.Tensor, float], torch.Tensor]) -> Transform:
    return lambda images, strength, seed, domain: function(images, strength)


def _seeded(function: Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]
            ) -> Transform:
    return lambda images, strength, seed, domain: function(
        images, strength, torch.Generator().manual_seed(seed))


def _generator_pixelation(images: torch.Tensor, block: float) -> torch.Tensor:
    # The generator's nearest-neighbour pixelation, with the block size in this image's pixels.
    return pixelate(images, block, reference_size=min(images.shape[-2:]))


def _imagenet_c(name: str) -> Transform:
    def transform(images, strength, seed, domain):
        from competency_cf.data.corruptions import corrupt

        return corrupt(images, name, int(strength), seed=seed)
    transform.benchmark_shift = ("corruption", name)  # checked against the benchmark's groups
    return transform


def _paste(source: str) -> Transform:
    def transform(images, strength, seed, domain):
        from competency_cf.data.pastes import paste_objects

        return paste_objects(images, source, strength, seed=seed, domain=domain)
    transform.benchmark_shift = ("paste", source)
    return transform


def _benchmark_tuning_group(kind: str) -> tuple[str, ...]:
    if kind == "corruption":
        from competency_cf.data.corruptions import TUNING_CORRUPTIONS
        return TUNING_CORRUPTIONS
    from competency_cf.data.pastes import TUNING_PASTES
    return TUNING_PASTES


def _ood_render(images, strength, seed, domain):
    """The domain's own out-of-distribution renders (image `SHIFT_RENDER_INDEX + seed + i` for
    the i-th image), replacing the views: the generator's spatial anomalies."""
    from competency_cf.data.dataset import from_uint8
    from competency_cf.data.domains import get_domain
    from competency_cf.data.synthesize import OOD_LABEL, render_image

    spec = get_domain(domain)
    if tuple(images.shape[-2:]) != (spec.image_size, spec.image_size):
        raise ValueError(f"ood_render: {domain} renders {spec.image_size}x{spec.image_size} "
                         f"images, got {tuple(images.shape[-2:])}")
    rendered = np.stack([render_image(spec, OOD_LABEL, SHIFT_RENDER_INDEX + seed + i)
                         for i in range(len(images))])
    return from_uint8(rendered).to(images.device)


# ----------------------------------------------------------------------------- registry

@dataclass(frozen=True)
class CauseImplementation:
    """One way of producing one cause, in one direction, over a range of strengths."""

    name: str
    cause: str
    direction: str
    group: str
    strengths: tuple[float, float] | None  # (weakest, strongest); None: no strength
    transform: Transform
    integer: bool = False  # strengths are integer levels (ImageNet-C severities)
    description: str = ""

    def __post_init__(self):
        if self.cause not in EXPLAINED_CAUSES and (self.cause, self.group) != (OUTSIDE, OUTSIDE):
            raise ValueError(f"{self.name}: unknown cause {self.cause!r}")
        if self.direction not in (HIGH, LOW):
            raise ValueError(f"{self.name}: direction must be {HIGH!r} or {LOW!r}")
        if self.group not in GROUPS + (OUTSIDE,):
            raise ValueError(f"{self.name}: group must be one of {', '.join(GROUPS)}")
        if self.strengths is not None and (
                len(self.strengths) != 2 or not all(math.isfinite(s) for s in self.strengths)
                or self.strengths[0] == self.strengths[1]):
            raise ValueError(f"{self.name}: strengths must be two different finite numbers "
                             f"(weakest, strongest), got {self.strengths!r}")
        shift = self.benchmark_shift
        if shift is not None and self.group == "fit" \
                and shift[1] not in _benchmark_tuning_group(shift[0]):
            raise ValueError(f"{self.name}: the robustness benchmark holds out {shift[0]} "
                             f"{shift[1]!r}, so it cannot be in the fit group")

    @property
    def benchmark_shift(self) -> tuple[str, str] | None:
        """("corruption" or "paste", name) for the robustness benchmark's shifts, else None."""
        return getattr(self.transform, "benchmark_shift", None)

    def sample_strength(self, rng: np.random.Generator) -> float:
        """A strength drawn uniformly from the range (uniformly among levels for integers)."""
        if self.strengths is None:
            return float("nan")
        low, high = sorted(self.strengths)
        if self.integer:
            return float(rng.integers(int(low), int(high) + 1))
        return float(rng.uniform(low, high))

    def check_strength(self, strength: float) -> float:
        if self.strengths is None:
            return float("nan")
        low, high = sorted(self.strengths)
        if isinstance(strength, bool) or not isinstance(strength, numbers.Real) \
                or not math.isfinite(strength) or not low <= strength <= high \
                or (self.integer and strength != int(strength)):
            kind = "an integer" if self.integer else "a number"
            raise ValueError(f"{self.name}: strength must be {kind} in [{low:g}, {high:g}], "
                             f"got {strength!r}")
        return float(strength)

    def apply(self, images: torch.Tensor, strength: float = float("nan"), seed: int = 0,
              domain: str = "lunar") -> torch.Tensor:
        """`images` (N, 3, H, W) in [0, 1] degraded at `strength`; the same seed gives the same
        pixels. `domain` names the views' domain (other-domain pastes and OOD renders need it)."""
        strength = self.check_strength(strength)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        check_each_image(images)
        return self.transform(images, strength, int(seed), domain).to(torch.float32)


def _implementations() -> tuple[CauseImplementation, ...]:
    C = CauseImplementation
    return (
        # spatial: the generator's anomalies and the tuning pastes fit; other pastes held out.
        C("ood_render", "spatial", HIGH, "fit", None, _ood_render,
          description="the domain's own out-of-distribution renders (the generator)"),
        C("paste_shapes", "spatial", HIGH, "fit", (0.15, 0.5), _paste("shapes"),
          description="procedural shapes pasted over a share of the view"),
        C("paste_other_domain", "spatial", HIGH, "held_out", (0.15, 0.5),
          _paste("other_domain"), description="a render of the other domain pasted in"),
        C("paste_photographs", "spatial", HIGH, "held_out", (0.15, 0.5), _paste("photographs"),
          description="a crop of a photograph pasted in"),
        # brightness
        C("gain_darken", "brightness", LOW, "fit", (0.6, 0.1),
          _deterministic(adjust_brightness), description="gain below 1 (the generator)"),
        C("gain_brighten", "brightness", HIGH, "fit", (1.4, 4.0),
          _deterministic(adjust_brightness), description="gain above 1 (the generator)"),
        C("gamma_darken", "brightness", LOW, "fit", (1.5, 5.0), _deterministic(gamma_curve),
          description="tone curve x ** gamma"),
        C("gamma_brighten", "brightness", HIGH, "fit", (1 / 1.5, 1 / 5.0),
          _deterministic(gamma_curve), description="tone curve x ** gamma"),
        C("black_offset_darken", "brightness", LOW, "held_out", (0.1, 0.5),
          _deterministic(black_level_offset), description="constant subtracted, clipped"),
        C("exposure_brighten", "brightness", HIGH, "held_out", (1.0, 8.0),
          _deterministic(exposure_curve), description="saturating exposure curve"),
        C("imagenet_c_brightness", "brightness", HIGH, "held_out", (1, 5),
          _imagenet_c("brightness"), integer=True, description="ImageNet-C brightness"),
        # contrast
        C("blend_contrast_low", "contrast", LOW, "fit", (0.6, 0.1),
          _deterministic(adjust_contrast), description="blend with mean gray (the generator)"),
        C("blend_contrast_high", "contrast", HIGH, "fit", (1.5, 4.0),
          _deterministic(adjust_contrast), description="blend with mean gray (the generator)"),
        C("s_curve", "contrast", HIGH, "fit", (1.0, 4.0), _deterministic(s_curve),
          description="tanh S-curve about the mean gray"),
        C("inverse_s_curve", "contrast", LOW, "fit", (1.0, 8.0),
          _deterministic(inverse_s_curve), description="inverse tanh S-curve"),
        C("local_contrast", "contrast", HIGH, "held_out", (1.0, 6.0),
          _deterministic(local_contrast), description="wide unsharp mask"),
        C("power_contrast", "contrast", LOW, "held_out", (0.6, 0.1),
          _deterministic(power_contrast), description="contrast scaled in the log domain"),
        C("imagenet_c_contrast", "contrast", LOW, "held_out", (1, 5), _imagenet_c("contrast"),
          integer=True, description="ImageNet-C contrast"),
        # saturation (ImageNet-C saturate is a tuning corruption; its runs change direction)
        C("blend_saturation_low", "saturation", LOW, "fit", (0.6, 0.0),
          _deterministic(adjust_saturation), description="blend with grayscale (the generator)"),
        C("blend_saturation_high", "saturation", HIGH, "fit", (2.0, 15.0),
          _deterministic(adjust_saturation), description="blend with grayscale (the generator)"),
        C("hsv_saturation_low", "saturation", LOW, "fit", (0.6, 0.0),
          _deterministic(hsv_saturation_scale), description="HSV saturation scaled"),
        C("hsv_saturation_high", "saturation", HIGH, "fit", (1.5, 6.0),
          _deterministic(hsv_saturation_scale), description="HSV saturation scaled"),
        C("imagenet_c_saturate_low", "saturation", LOW, "fit", (1, 2),
          _imagenet_c("saturate"), integer=True, description="ImageNet-C saturate 1-2"),
        C("imagenet_c_saturate_high", "saturation", HIGH, "fit", (3, 5),
          _imagenet_c("saturate"), integer=True, description="ImageNet-C saturate 3-5"),
        C("linear_light_saturation_low", "saturation", LOW, "held_out", (0.6, 0.0),
          _deterministic(linear_light_saturation), description="blend in linear light"),
        C("linear_light_saturation_high", "saturation", HIGH, "held_out", (2.0, 15.0),
          _deterministic(linear_light_saturation), description="blend in linear light"),
        # noise
        C("uniform_noise", "noise", HIGH, "fit", (20.0, 120.0), _seeded(add_uniform_noise),
          description="uniform, +-amplitude in 0-255 units (the generator)"),
        C("monochrome_gaussian_noise", "noise", HIGH, "fit", (0.03, 0.3),
          _seeded(monochrome_gaussian_noise), description="gaussian luminance grain"),
        C("salt_and_pepper", "noise", HIGH, "fit", (0.02, 0.25), _seeded(salt_and_pepper),
          description="whole pixels set to black or white"),
        C("imagenet_c_speckle_noise", "noise", HIGH, "fit", (1, 5),
          _imagenet_c("speckle_noise"), integer=True, description="ImageNet-C speckle noise"),
        C("imagenet_c_gaussian_noise", "noise", HIGH, "held_out", (1, 5),
          _imagenet_c("gaussian_noise"), integer=True, description="ImageNet-C gaussian noise"),
        C("imagenet_c_shot_noise", "noise", HIGH, "held_out", (1, 5),
          _imagenet_c("shot_noise"), integer=True, description="ImageNet-C shot noise"),
        C("imagenet_c_impulse_noise", "noise", HIGH, "held_out", (1, 5),
          _imagenet_c("impulse_noise"), integer=True, description="ImageNet-C impulse noise"),
        # pixelation: strengths are block sizes in pixels of the image
        C("nearest_pixelation", "pixelation", HIGH, "fit", (3.0, 12.0),
          _deterministic(_generator_pixelation), description="nearest down-up (the generator)"),
        C("area_pixelation", "pixelation", HIGH, "fit", (3.0, 12.0),
          _deterministic(area_pixelate), description="area down, nearest up"),
        C("bilinear_resample", "pixelation", HIGH, "held_out", (3.0, 12.0),
          _deterministic(bilinear_resample), description="bilinear down-up"),
        C("imagenet_c_pixelate", "pixelation", HIGH, "held_out", (1, 5),
          _imagenet_c("pixelate"), integer=True, description="ImageNet-C pixelate"),
        # blur: strengths are kernel sizes in pixels of the image
        C("box_blur", "blur", HIGH, "fit", (2.0, 7.0), _deterministic(box_blur),
          description="mean over a square box"),
        C("disc_defocus", "blur", HIGH, "fit", (1.0, 4.0), _deterministic(disc_defocus),
          description="disc kernel (out of focus)"),
        C("line_motion_blur", "blur", HIGH, "fit", (3.0, 12.0), _seeded(line_motion_blur),
          description="line kernel at a random angle (camera motion)"),
        C("imagenet_c_gaussian_blur", "blur", HIGH, "fit", (2, 5), _imagenet_c("gaussian_blur"),
          integer=True, description="ImageNet-C gaussian blur 2-5 (1 barely blurs at 64 px)"),
        C("imagenet_c_defocus_blur", "blur", HIGH, "held_out", (2, 5),
          _imagenet_c("defocus_blur"), integer=True,
          description="ImageNet-C defocus blur 2-5 (1 barely blurs at 64 px)"),
        C("imagenet_c_motion_blur", "blur", HIGH, "held_out", (1, 5),
          _imagenet_c("motion_blur"), integer=True, description="ImageNet-C motion blur"),
        C("imagenet_c_zoom_blur", "blur", HIGH, "held_out", (1, 5),
          _imagenet_c("zoom_blur"), integer=True, description="ImageNet-C zoom blur"),
        C("imagenet_c_glass_blur", "blur", HIGH, "held_out", (1, 5),
          _imagenet_c("glass_blur"), integer=True, description="ImageNet-C glass blur"),
        # haze: shares of airlight, or a scattering density
        C("uniform_haze", "haze", HIGH, "fit", (0.3, 0.85), _seeded(uniform_haze),
          description="blend towards an airlight of random tint"),
        C("graded_haze", "haze", HIGH, "fit", (0.3, 0.9), _seeded(graded_haze),
          description="airlight thickening up the view"),
        C("scattering_haze", "haze", HIGH, "held_out", (0.2, 1.5), _seeded(scattering_haze),
          description="Koschmieder's law over a patchy depth, blue-white sky"),
        C("imagenet_c_fog", "haze", HIGH, "held_out", (1, 5), _imagenet_c("fog"),
          integer=True, description="ImageNet-C fog"),
        # occlusion: shares of the view covered. ImageNet-C spatter's mud (levels 4-5) is not
        # used: at 64 px its specks look like grain, not like a lens covered in places.
        C("dark_blobs", "occlusion", HIGH, "fit", (0.1, 0.45), _seeded(dark_blobs),
          description="one to three opaque dark blobs"),
        C("translucent_smudge", "occlusion", HIGH, "fit", (0.15, 0.5),
          _seeded(translucent_smudge), description="a smudge diffusing and dimming the view"),
        C("corner_finger", "occlusion", HIGH, "held_out", (0.1, 0.4), _seeded(corner_finger),
          description="a fingertip over a corner, out of focus"),
        C("mud_streak", "occlusion", HIGH, "held_out", (0.1, 0.35), _seeded(mud_streak),
          description="a band of mud across the view"),
        # glare: amplitudes of added light, or exposure stops
        C("bloom_spot", "glare", HIGH, "fit", (0.4, 2.0), _seeded(bloom_spot),
          description="additive gaussian bloom at a random place"),
        C("sun_flare", "glare", HIGH, "fit", (0.5, 2.0), _seeded(sun_flare),
          description="sun at the border with lens ghosts"),
        C("overexposed_patch", "glare", HIGH, "held_out", (1.0, 4.0),
          _seeded(overexposed_patch), description="a region gained by 2 ** stops, clipped"),
        C("light_streak", "glare", HIGH, "held_out", (0.5, 2.0), _seeded(light_streak),
          description="a bright band across the view"),
    )


IMPLEMENTATIONS: tuple[CauseImplementation, ...] = _implementations()
OUTSIDE_IMPLEMENTATIONS: tuple[CauseImplementation, ...] = (
    CauseImplementation("colour_cast", OUTSIDE, HIGH, OUTSIDE, (0.15, 0.5),
                        _deterministic(colour_cast),
                        description="warm white-balance error (red up, blue down)"),
    CauseImplementation("rolling_shutter_skew", OUTSIDE, HIGH, OUTSIDE, (0.2, 0.7),
                        _deterministic(rolling_shutter_skew),
                        description="rows shifted sideways in proportion to their height"),
)
_BY_NAME: dict[str, CauseImplementation] = {
    impl.name: impl for impl in IMPLEMENTATIONS + OUTSIDE_IMPLEMENTATIONS}


def get_implementation(name: str) -> CauseImplementation:
    """The implementation called `name`, with a clear error for anything else."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown implementation {name!r}; expected one of "
                         f"{', '.join(_BY_NAME)}") from None


def implementations(cause: str | None = None, group: str | None = None
                    ) -> tuple[CauseImplementation, ...]:
    """The implementations of `cause` (all causes when None) in `group` (both when None)."""
    if cause is not None and cause not in EXPLAINED_CAUSES:
        raise ValueError(f"unknown cause {cause!r}; expected one of "
                         f"{', '.join(EXPLAINED_CAUSES)}")
    if group is not None and group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; expected one of {', '.join(GROUPS)}")
    return tuple(impl for impl in IMPLEMENTATIONS if (cause is None or impl.cause == cause)
                 and (group is None or impl.group == group))
