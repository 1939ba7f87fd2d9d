"""The photo's own blur, read from its sharpest edges, for photos whose found reference gives none.

Small spots are deblurred by the camera's blur (segment._deblur_factor). It is measured at the
reference (scale.py: a marker's sides, a ruler's, a sticker's rim), but not where the reference is
a few px wide (a 20 mm marker in a 640x480 photo of a whole leg). The blur was then taken as none,
and spots a few px across came out up to 2 px too large (the generator's 640x480 dev photos: spots
under 3 px +1.3 px at the median). Without a scale no blur is undone (pipeline.camera_blur).

Any photo has some sharp steps of light: a limb's outline on the sheet, cloth, a reference's print,
a hair's side. Profiles across the strongest edges (luma, linear light), kept where they are a clean
step (flat on both sides), give 25-75 % widths; the sharpest of them are the camera's blur and the
rest add the scene's own softness, so a low percentile is taken.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from spotscale.inference.scale import _SHARP_EDGE_SIGMA_PX, _linear, _sample, _quartile_widths

# Edges are found on a copy of at most this many px along its longer side (their positions and
# directions; the profiles are read at full resolution)
FIND_SIDE_PX = 1024
MAX_PROFILES = 3000
# the step between the two flat sides, linear light 0-255: weaker ones are noise, JPEG blocks or skin
MIN_STEP = 20.0
# a side is flat where no sample of its outer fifth leaves the side's level by this share of the step
FLAT_TOL = 0.15
MIN_PROFILES = 30
# The widths' percentile taken for the blur, set against the blur measured at markers, rulers and
# stickers on dev photos (our generator 38000.. and 33000.., the independent renderer 932000.., the
# clinic renderer 957000..): 4 px profiles read 0.1 px under the reference at the 15th percentile and
# as much over it at the 30th; under is the safer side (small spots left a little large, not shrunk).
# As built, on the 59 of those photos with both: median difference -0.09 px (median absolute 0.11 px),
# blurs over 2 px reading low (4.2 px as 2.0-3.2 px).
WIDTH_PERCENTILE = 20.0
# Profiles reach this far each side of the edge, then twice as far while the blur read fills a quarter
# of the reach (a profile of 4 px cuts a blur of over about 1.3 px short), up to MAX_REACH_PX. A camera's
# blur reads the same at both (a clean step's width does not grow with the profile), but the edges of a
# photo without sharp steps (a limb's shaded outline, soft folds) read wider the farther they reach
# (dev clinic 957013: whole sigma 1.1, 2.4, 3.8 px at reaches of 4, 8, 16 px): where the longer
# reading is over STABLE_RATIO x the shorter, the shorter is kept.
REACH_PX = 4.0
MAX_REACH_PX = 16.0
STABLE_RATIO = 1.2


def photo_blur(image: np.ndarray) -> float | None:
    """Gaussian sigma (full-res px) of the photo's blur beyond a sharp edge's own, from its sharpest
    clean luma edges; None when it has too few (a close-up of skin alone, a flat photo).

    Same units as Scale.blur_px (the sharp edge's own width through the pixel and the sampling,
    scale._SHARP_EDGE_SIGMA_PX, taken off in quadrature). A watermark or text laid on after the
    camera reads sharper than the photo: the blur then comes out low, never high.
    """
    if image.ndim == 3:
        image = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    if image.dtype != np.uint8 or min(image.shape[:2]) < 16:
        return None
    pts, normals = _strong_edges(image)
    if len(pts) < MIN_PROFILES:
        return None
    lin = _linear(image)
    reach = REACH_PX
    sigma = _width_sigma(_step_widths(lin, pts, normals, reach))
    while reach < MAX_REACH_PX and (sigma is None or sigma > reach / 4.0):
        reach *= 2.0
        longer = _width_sigma(_step_widths(lin, pts, normals, reach))
        if longer is None or (sigma is not None and longer > STABLE_RATIO * sigma):
            break
        sigma = longer
    return None if sigma is None else math.sqrt(max(0.0, sigma ** 2 - _SHARP_EDGE_SIGMA_PX ** 2))


def _width_sigma(widths: np.ndarray) -> float | None:
    """The blur's whole sigma (px) from clean steps' 25-75 % widths (1.349 sigma for a gaussian)."""
    return float(np.percentile(widths, WIDTH_PERCENTILE)) / 1.349 if len(widths) >= MIN_PROFILES else None


def _strong_edges(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Up to MAX_PROFILES of the strongest Canny edge points (full-res x, y) and their unit
    gradient directions, found on a copy of at most FIND_SIDE_PX (from dark to light)."""
    h, w = gray.shape
    f = max(1, math.ceil(max(h, w) / FIND_SIDE_PX))
    small = gray if f == 1 else cv2.resize(gray, (-(-w // f), -(-h // f)), interpolation=cv2.INTER_AREA)
    edges = cv2.Canny(small, 40, 120, L2gradient=True) > 0
    m = 4
    edges[:m], edges[-m:], edges[:, :m], edges[:, -m:] = False, False, False, False
    ys, xs = np.nonzero(edges)
    if len(xs) == 0:
        return np.zeros((0, 2)), np.zeros((0, 2))
    s = small.astype(np.float32)
    gx = cv2.Sobel(s, cv2.CV_32F, 1, 0, ksize=3)[ys, xs]
    gy = cv2.Sobel(s, cv2.CV_32F, 0, 1, ksize=3)[ys, xs]
    mag = np.hypot(gx, gy)
    keep = np.argsort(-mag, kind="stable")[:MAX_PROFILES]
    pts = np.stack([(xs[keep] + 0.5) * f - 0.5, (ys[keep] + 0.5) * f - 0.5], axis=1)
    normals = np.stack([gx[keep], gy[keep]], axis=1) / np.maximum(mag[keep], 1e-6)[:, None]
    return pts.astype(np.float64), normals.astype(np.float64)


def _step_widths(lin: np.ndarray, pts: np.ndarray, normals: np.ndarray, reach: float) -> np.ndarray:
    """25-75 % widths (px) of the profiles across `pts` along `normals` that are clean steps within
    +-`reach`: a strong enough step between two flat sides (no second edge within reach)."""
    h, w = lin.shape
    s = np.arange(-reach, reach + 1e-9, 0.25)
    xs = pts[:, :1] + s[None, :] * normals[:, :1]
    ys = pts[:, 1:] + s[None, :] * normals[:, 1:]
    inside = (xs.min(1) >= 0) & (ys.min(1) >= 0) & (xs.max(1) <= w - 1) & (ys.max(1) <= h - 1)
    if not inside.any():
        return np.zeros(0)
    prof = _sample(lin, xs[inside], ys[inside])
    q = max(2, len(s) // 5)
    lo, hi = np.median(prof[:, :q], axis=1), np.median(prof[:, -q:], axis=1)
    ok = hi - lo >= MIN_STEP
    v = (prof[ok] - lo[ok, None]) / (hi - lo)[ok, None]
    flat = (np.abs(v[:, :q]).max(axis=1) < FLAT_TOL) & (np.abs(v[:, -q:] - 1.0).max(axis=1) < FLAT_TOL)
    return _quartile_widths(v[flat], s)
