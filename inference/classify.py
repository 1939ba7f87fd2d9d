"""Label every spot of a photo with the CNN in one batched forward pass: petechia / purpura / other.

The crops come from spotscale.model.crops (the same code training uses). Probabilities are
calibrated by the temperature stored in the checkpoint metadata. With a homography the crop
scale is the local mm per px at each spot (sqrt of the Jacobian determinant), else Scale.mm_per_px.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from spotscale.data.types import Scale, Spot
from spotscale.inference.scale import plane_mm_per_px
from spotscale.model.crops import CropConfig, crop_batch

# Crops are no wider than this (mm; with a scale): about the widest field training showed (the generator's
# ecchymoses, up to 40 mm, at context 2). A wider one reached past the limb: its frame, which sets the
# skin colour the crop is normalised by, lay on the cloth, and a clinic-renderer bruise measured 82 mm
# was `other` at 0.997 (context 2), purpura at 0.85 (context 1.2).
MAX_FIELD_MM = 80.0
# Without a scale a crop's field is 4 x the spot (CropConfig.unknown_context), so a bruise's crop reached
# past the limb and the photo: a clinic-renderer ecchymosis 318 px across, in a 1600x1200 photo, was
# `other` at 0.97 in a 1272 px field and purpura at 0.83 in 954 px. Such fields are narrowed to this
# share of the photo's shorter side (never under 1.2 x the spot). 0.25, 0.15, 0.1 and 0.05 were tried
# on the dev photos of both independent renderers read without a scale; 0.1 did best (benchmarks/known_limits.md).
NO_SCALE_MAX_FIELD_FRAC = 0.1


def classify(image_rgb: np.ndarray, spots: Sequence[Spot], scale: Scale, net: Any, meta: dict,
             batch_size: int = 1024, views: int = 1) -> list[Spot]:
    """Spots with cnn_label, cnn_prob (calibrated max probability) and cnn_probs filled.

    `views`: 1, 4 or 8 mirrored / rotated views of each crop whose logits are averaged (test-time
    augmentation; a spot has no up or left, and training saw every view).
    """
    if not spots:
        return []
    probs = predict_probs(image_rgb, spots, spot_mm_per_px(spots, scale), net, meta, batch_size, views)
    classes = tuple(meta["classes"])
    out = []
    for spot, p in zip(spots, probs):
        j = int(np.argmax(p))
        out.append(dataclasses.replace(spot, cnn_label=classes[j], cnn_prob=float(p[j]),
                                       cnn_probs=tuple(float(v) for v in p)))
    return out


def predict_probs(image_rgb: np.ndarray, items: Sequence[Any], mm_per_px: Any, net: Any, meta: dict,
                  batch_size: int = 1024, views: int = 1) -> np.ndarray:
    """Calibrated class probabilities (N, n_classes) of crop items (Spots or (x, y, bbox, mask))."""
    import torch

    crop = dataclasses.replace(CropConfig.from_dict(meta.get("crop", {})), max_field_mm=MAX_FIELD_MM,
                               max_field_frac=NO_SCALE_MAX_FIELD_FRAC)
    batch = crop_batch(image_rgb, items, mm_per_px, crop)
    logits = logits_of(net, batch.images, batch.scalars, batch_size, views)
    t = float(meta.get("temperature", 1.0))
    return torch.softmax(torch.from_numpy(logits) / t, dim=1).numpy()


VIEWS = (1, 4, 8)


def logits_of(net: Any, images: np.ndarray, scalars: np.ndarray, batch_size: int = 1024,
              views: int = 1) -> np.ndarray:
    """Raw logits of crops (N, C, H, W) under torch.inference_mode (net put in eval mode), averaged
    over `views` of each crop: 4 = the identity and three mirrorings, 8 = those and their transposes."""
    import torch

    if views not in VIEWS:
        raise ValueError(f"views must be one of {VIEWS}, got {views!r}")
    net.eval()
    outs = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(images[i:i + batch_size])
            sc = torch.from_numpy(scalars[i:i + batch_size])
            xs = [x, x.flip(-1), x.flip(-2), x.flip(-1, -2)][:views]
            xs += [v.transpose(-1, -2) for v in xs] if views == 8 else []
            acc = sum(net(v.contiguous(memory_format=torch.channels_last), sc).float() for v in xs)
            outs.append((acc / len(xs)).numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def spot_mm_per_px(spots: Sequence[Spot], scale: Scale) -> list[float | None]:
    """mm per image px at each spot: local from the homography if there is one, else the global value."""
    if scale.mm_per_px is None:
        return [None] * len(spots)
    out: list[float | None] = []
    for s in spots:
        v = plane_mm_per_px(scale, s.x, s.y)
        out.append(v if v is not None else float(scale.mm_per_px))
    return out
