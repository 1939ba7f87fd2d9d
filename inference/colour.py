"""Colour conversions for spot finding: true CIELAB and a haemoglobin (erythema-like) index.

The blood index is log(R) - log(G) of the sRGB values: blood absorbs green far more than red, and a
ratio of two channels does not change when the light gets brighter or dimmer (shading, vignetting,
curvature of a limb), so a spot stands out by its colour, not by how it is lit.
"""
from __future__ import annotations

import cv2
import numpy as np

# Offset in 0-255 units added before the logarithm: keeps the index finite and quiet in near-black pixels.
LOG_OFFSET = 4.0


def to_lab(image_rgb: np.ndarray) -> np.ndarray:
    """CIELAB (L 0-100, a*, b*) float32 of an RGB uint8 image (any shape (..., 3))."""
    rgb = np.ascontiguousarray(image_rgb, dtype=np.float32) * np.float32(1 / 255)
    if rgb.ndim == 2:
        return cv2.cvtColor(rgb[None], cv2.COLOR_RGB2LAB)[0]
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)


def blood_index(image_rgb: np.ndarray) -> np.ndarray:
    """Haemoglobin index log(R + 4) - log(G + 4) per pixel, float32 (H, W); higher = redder."""
    rgb = np.asarray(image_rgb)
    r = rgb[..., 0].astype(np.float32) + np.float32(LOG_OFFSET)
    g = rgb[..., 1].astype(np.float32) + np.float32(LOG_OFFSET)
    return cv2.log(r) - cv2.log(g)


def log_luminance(image_rgb: np.ndarray) -> np.ndarray:
    """log of a luma proxy (0.3 R + 0.6 G + 0.1 B + 4), float32 (H, W): darkening shows as a drop."""
    rgb = np.asarray(image_rgb).astype(np.float32)
    y = rgb[..., 0] * 0.3 + rgb[..., 1] * 0.6 + rgb[..., 2] * 0.1 + np.float32(LOG_OFFSET)
    return cv2.log(y)
