"""Splitting touching spots by their contrast: one seed per prominent contrast maximum, then flooding.

Petechiae of a dense cluster lie about a millimetre apart; blurred by the camera, their half-maximum
outlines merge although each keeps its own contrast peak with a valley of skin between it and its
neighbours. Each maximum whose valley to every higher neighbour is deep enough (relative to its own
contrast, and well above the noise) is a seed; the region around the seeds is split by flooding the
contrast map from its peaks downwards (a watershed), so the cut follows the valley. A single spot
with a blotchy interior (purpura, ecchymosis) has shallow dips only, and stays one spot.
"""
from __future__ import annotations

import cv2
import numpy as np


def contrast_peaks(t: np.ndarray, region: np.ndarray, min_value: float, window: int = 3) -> np.ndarray:
    """Local maxima (x, y, value) of contrast map `t` inside bool `region` with value >= min_value."""
    k = np.ones((window, window), np.uint8)
    lm = (t >= cv2.dilate(t, k)) & region & (t >= min_value)
    n, lab = cv2.connectedComponents(lm.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros((0, 3))
    flat = np.flatnonzero(lab)  # one pixel per plateau: its first (highest) pixel
    lv = lab.ravel()[flat]
    _, first = np.unique(lv, return_index=True)
    top = flat[first]
    ys, xs = np.divmod(top, t.shape[1])
    return np.c_[xs, ys, t.ravel()[top]].astype(np.float64)


def group_by_valleys(peaks: np.ndarray, t: np.ndarray, min_dip_frac: float, min_dip: float) -> np.ndarray:
    """Group id per peak: peaks joined when the straight path between them never dips by more than
    max(min_dip_frac x the lower peak, min_dip) below the lower peak (the same spot's bumps)."""
    m = len(peaks)
    parent = np.arange(m)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if m < 2:
        return parent
    ii, jj = np.triu_indices(m, 1)
    a, b = peaks[ii], peaks[jj]
    n = np.maximum(2, np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]).astype(int) + 2)
    k = np.arange(int(n.max()))[None, :]
    s = np.minimum(k, n[:, None] - 1) / (n[:, None] - 1)
    xs = np.round(a[:, 0:1] + s * (b[:, 0:1] - a[:, 0:1])).astype(int)
    ys = np.round(a[:, 1:2] + s * (b[:, 1:2] - a[:, 1:2])).astype(int)
    saddle = t[ys, xs].min(axis=1)
    lower = np.minimum(a[:, 2], b[:, 2])
    joined = lower - saddle < np.maximum(min_dip_frac * lower, min_dip)
    # nearest pairs first, so that a chain of bumps joins through its neighbours
    order = np.argsort(np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]))
    for p in order[joined[order]]:
        parent[find(int(ii[p]))] = find(int(jj[p]))
    return np.array([find(i) for i in range(m)])


def flood(t: np.ndarray, seeds: np.ndarray, region: np.ndarray, n_levels: int = 16) -> np.ndarray:
    """Watershed of `t` (high = inside) from int32 `seeds` (0 = none) over bool `region`.

    Labels grow level by level from the top of `t` down, each level until it stops changing, so
    two spots meet along the valley between them. Pixels of `region` no seed reaches stay 0.
    """
    lab = np.where(region, seeds, 0).astype(np.int32)
    if not region.any():
        return lab
    vals = t[region]
    hi, lo = float(vals.max()), float(vals.min())
    k = np.ones((3, 3), np.uint8)
    for level in np.linspace(hi, lo, n_levels):
        allowed = region & (t >= level - 1e-9)
        for _ in range(max(t.shape)):
            free = allowed & (lab == 0)
            if not free.any():
                break
            grown = cv2.dilate(lab.astype(np.float32), k).astype(np.int32)  # max label of the 3x3
            add = free & (grown > 0)
            if not add.any():
                break
            lab[add] = grown[add]
    return lab


__all__ = ["contrast_peaks", "group_by_valleys", "flood"]
