"""Colour conversions for spot finding: true CIELAB, optical density and pigment indices.

Spots are pigment in skin (haemoglobin, its breakdown products, melanin). Their absorbance adds to
the skin's in optical density (-log of linear RGB), and a ratio of channels does not change when the
light gets brighter or dimmer (shading, vignetting, curvature of a limb), so a spot stands out by
its colour, not by how it is lit, on light and dark skin alike.
"""
from __future__ import annotations

import math

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


_LUMA = np.array([[0.3, 0.6, 0.1, LOG_OFFSET]], np.float32)  # weights of R, G, B and the offset


def log_luminance(image_rgb: np.ndarray) -> np.ndarray:
    """log of a luma proxy (0.3 R + 0.6 G + 0.1 B + 4), float32 (H, W): darkening shows as a drop."""
    rgb = np.asarray(image_rgb)
    y = cv2.transform(rgb.reshape(-1, 1, 3).astype(np.float32), _LUMA)  # one pass, weights and offset
    return cv2.log(y).reshape(rgb.shape[:-1])


OD_EPS = 0.002  # added to linear light before the log: optical density stays finite on black


def _od_lut(eps: float = OD_EPS) -> np.ndarray:
    v = np.arange(256, dtype=np.float64) / 255.0
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return (-np.log(lin + eps)).astype(np.float32)


_OD_LUT = _od_lut()  # constant table, computed once


def optical_density(image_rgb: np.ndarray) -> np.ndarray:
    """Per-channel optical density -log(linear sRGB + 0.002), float32 of the input's shape ((..., 3), or one channel).

    Pigments (blood, melanin, bilirubin) add to it linearly with their amount (Beer-Lambert), and
    a change of illumination adds the same constant to all three channels.
    """
    img = np.ascontiguousarray(image_rgb, dtype=np.uint8)
    return cv2.LUT(img, _OD_LUT)


def pigment_index(image_rgb: np.ndarray) -> np.ndarray:
    """Absorbance of green + blue over red, (OD_G + OD_B) / 2 - OD_R, float32 (H, W).

    Blood (fresh or deoxygenated), old blood and melanin all absorb green and blue more than red;
    shading and lighting changes absorb all channels alike and cancel out.
    """
    od = optical_density(image_rgb)
    return cv2.transform(od.reshape(-1, 1, 3), _PIGMENT).reshape(od.shape[:-1])  # one pass over the pixels


_PIGMENT = np.array([[-1.0, 0.5, 0.5]], np.float32)  # -OD_R + (OD_G + OD_B) / 2


def purple_index(image_rgb: np.ndarray) -> np.ndarray:
    """Absorbance of green over blue, OD_G - OD_B, float32 (H, W).

    Deoxygenated blood deep in the skin (a bruise's purple-blue) absorbs green far more than blue,
    while its red absorption can match the skin's: the pigment index misses it, this does not.
    Melanin absorbs blue more than green (negative here), shading all channels alike (zero).
    """
    od = optical_density(image_rgb)
    return cv2.transform(od.reshape(-1, 1, 3), _PURPLE).reshape(od.shape[:-1])


_PURPLE = np.array([[0.0, 1.0, -1.0]], np.float32)  # OD_G - OD_B


def is_colourless(image_rgb: np.ndarray, max_spread: int = 4, max_share: float = 0.005) -> bool:
    """Whether an RGB uint8 photo holds no colour: under max_share of its pixels have channels
    more than max_spread levels apart (a greyscale photo, however stored, or one too dark to show any).

    Spots are found by their colour; on such a photo none can be, and "no spots" would mislead.
    Skin differs by 30 levels or more between red and blue even when dark; JPEG keeps a grey photo's
    chroma at zero, so rounding moves its channels by a level or two. Checked on a grid of at most
    about 65 000 pixels (under a millisecond: it runs on every photo).
    """
    h, w = image_rgb.shape[:2]
    if image_rgb.ndim < 3 or image_rgb.shape[2] < 3 or h * w == 0:
        return True
    step = max(1, math.ceil(math.sqrt(h * w / 65_536)))
    r, g, b = cv2.split(np.ascontiguousarray(image_rgb[::step, ::step, :3]))
    spread = cv2.subtract(cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b))
    return int(np.count_nonzero(spread > max_spread)) <= max_share * spread.size
