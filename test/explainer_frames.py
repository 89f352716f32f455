"""Fixture frames with known degradations for the descriptor explainer's tests."""

import torch

from competency_cf.data.causes import degrade
from competency_cf.data.field_causes import bloom_spot, box_blur, dark_blobs, uniform_haze
from competency_cf.explain.descriptor_explainer import label_index
from competency_cf.explain.explanation import HIGH, LOW

CASES = [("brightness", 1.8, HIGH), ("brightness", 0.4, LOW), ("contrast", 2.5, HIGH),
         ("contrast", 0.3, LOW), ("saturation", 3.0, HIGH), ("saturation", 0.0, LOW),
         ("noise", 80.0, HIGH), ("pixelation", 16.0, HIGH)]


def smooth_images(count, seed):
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand((count, 3, 6, 6), generator=generator) * 0.5 + 0.25
    return torch.nn.functional.interpolate(coarse, size=64, mode="bilinear")


def blurred(images):
    return torch.nn.functional.avg_pool2d(images, 3, stride=1, padding=1,
                                          count_include_pad=False)


def labelled_set(seed):
    clean = smooth_images(24, seed)
    images, labels = [], []
    for cause, factor, direction in CASES:
        images.append(degrade(clean, cause, factor, reference_size=64,
                              generator=torch.Generator().manual_seed(seed)))
        labels += [label_index(cause, direction)] * len(clean)
    anomalies = clean.clone()
    anomalies[:, :, 8:24, 8:24] = torch.tensor([0.9, 0.1, 0.1]).view(1, 3, 1, 1)
    images.append(anomalies)
    labels += [label_index("spatial", HIGH)] * len(clean)
    images = torch.cat(images).clamp(0, 1)
    # Counterfactual stand-in: the clean source, smoothed as a decoder would.
    counterfactuals = blurred(clean).repeat(len(CASES) + 1, 1, 1, 1)
    return images, torch.tensor(labels), counterfactuals


def field_set(seed):
    """The paper's fixture causes plus the four field causes, on textured views."""
    images, labels, counterfactuals = labelled_set(seed)
    clean = smooth_images(24, seed)
    texture = torch.rand((24, 1, 64, 64), generator=torch.Generator().manual_seed(seed))
    textured = (clean + 0.15 * (texture - 0.5)).clamp(0, 1)
    generator = torch.Generator().manual_seed(seed)
    field = {"blur": box_blur(textured, 5.0), "haze": uniform_haze(clean, 0.7, generator),
             "occlusion": dark_blobs(clean, 0.3, generator),
             "glare": bloom_spot(clean, 1.5, generator)}
    images = torch.cat([images] + list(field.values()))
    labels = torch.cat([labels, torch.tensor([label_index(cause, HIGH) for cause in field
                                              for _ in range(len(clean))])])
    counterfactuals = torch.cat([counterfactuals, blurred(textured), blurred(clean),
                                 blurred(clean), blurred(clean)])
    return images, labels, counterfactuals
