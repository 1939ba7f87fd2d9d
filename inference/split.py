"""Splitting touching spots by their contrast: one seed per prominent contrast maximum, then flooding.

Petechiae of a dense cluster lie about a millimetre apart; blurred by the camera, their half-maximum
outlines merge although each keeps its own contrast peak with a valley of skin between it and its
neighbours. Each maximum whose valley to every higher neighbour is deep enough (relative to its own
contrast, and well above the noise) is a seed; the region around the seeds is split by flooding the
contrast map from its peaks downwards (a watershed), so the cut follows the valley. A single spot
with a blotchy interior (purpura, ecchymosis) has shallow dips only, and stays one spot.
"""
from __future__ import annotations

from typing import Callable

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


def union_along_paths(points: np.ndarray, grid: np.ndarray, pad: int,
                      joins: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Group id per point (rows x, y, value): pairs of points are joined where joins(a, b, lowest
    `grid` value on the straight path a-b) is true.

    The path is sampled at its length + `pad` points, rounded to pixels. Pairs go in batches, nearest
    first, and a pair already in one group is not measured (it changes nothing): once neighbours have
    joined, a chain joins through them and the long paths across it are never sampled.
    """
    m = len(points)
    parent = np.arange(m)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if m < 2:
        return parent
    ii, jj = np.triu_indices(m, 1)
    order = np.argsort(np.hypot(points[jj, 0] - points[ii, 0], points[jj, 1] - points[ii, 1]), kind="stable")
    step = max(1, min(256, 2_000_000 // max(grid.shape)))  # pairs per batch: bounded memory
    for at in range(0, order.size, step):
        sel = order[at:at + step]
        root = np.array([find(i) for i in range(m)])
        sel = sel[root[ii[sel]] != root[jj[sel]]]
        if not sel.size:
            continue
        a, b = points[ii[sel]], points[jj[sel]]
        n = np.maximum(2, np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]).astype(int) + pad)
        k = np.arange(int(n.max()))[None, :]
        s = np.minimum(k, n[:, None] - 1) / (n[:, None] - 1)  # past its end a pair repeats its last point
        xs = np.round(a[:, 0:1] + s * (b[:, 0:1] - a[:, 0:1])).astype(int)
        ys = np.round(a[:, 1:2] + s * (b[:, 1:2] - a[:, 1:2])).astype(int)
        for p in sel[joins(a, b, grid[ys, xs].min(axis=1))]:
            parent[find(int(ii[p]))] = find(int(jj[p]))
    return np.array([find(i) for i in range(m)])


def group_by_valleys(peaks: np.ndarray, t: np.ndarray, min_dip_frac: float, min_dip: float) -> np.ndarray:
    """Group id per peak: peaks joined when the straight path between them never dips by more than
    max(min_dip_frac x the lower peak, min_dip) below the lower peak (the same spot's bumps)."""
    def shallow(a: np.ndarray, b: np.ndarray, saddle: np.ndarray) -> np.ndarray:
        lower = np.minimum(a[:, 2], b[:, 2])
        return lower - saddle < np.maximum(min_dip_frac * lower, min_dip)

    return union_along_paths(peaks, t, 2, shallow)


def flood(t: np.ndarray, seeds: np.ndarray, region: np.ndarray, n_levels: int = 16) -> np.ndarray:
    """Watershed of `t` (high = inside) from int32 `seeds` (0 = none) over bool `region`.

    Labels grow level by level from the top of `t` down, each level until it stops changing, so
    two spots meet along the valley between them. Pixels of `region` no seed reaches stay 0.

    Each level, the newly allowed pixels form pieces (8-connected); a piece that borders one label
    only takes it whole, and only a piece between two or more labels is grown 3x3 step by step (the
    larger label winning a tie), in its own bounding box: the same labels as growing every piece
    step by step over the whole region, at a fraction of the cost.
    """
    lab = np.where(region, seeds, 0).astype(np.int32)
    if not region.any():
        return lab
    x, y, w, h = cv2.boundingRect(region.view(np.uint8))
    if w * h < 0.8 * region.size:  # only the region's bounding box can change
        lab[y:y + h, x:x + w] = flood(t[y:y + h, x:x + w], seeds[y:y + h, x:x + w], region[y:y + h, x:x + w], n_levels)
        return lab
    vals = t[region]
    hi, lo = float(vals.max()), float(vals.min())
    k = np.ones((3, 3), np.uint8)
    big = int(lab.max()) >= 65535  # labels beyond uint16 go through float32
    for level in np.linspace(hi, lo, n_levels):
        free = (region & (t >= level - 1e-9) & (lab == 0)).astype(np.uint8)
        if not free.any():
            continue
        n, pieces, stats, _ = cv2.connectedComponentsWithStats(free, connectivity=8)
        top = (1 << 24) if big else 65535
        lab_max = _dilate_labels(lab, k, big)  # the largest and smallest label beside each pixel
        lab_min = top - _dilate_labels(np.where(lab > 0, top - lab, 0), k, big)
        touch = (pieces > 0) & (lab_max > 0)
        if not touch.any():
            continue
        ids = pieces[touch]
        hi_lab = np.zeros(n, np.int64)
        np.maximum.at(hi_lab, ids, lab_max[touch])
        lo_lab = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(lo_lab, ids, lab_min[touch])
        single = (hi_lab > 0) & (lo_lab == hi_lab)
        single[0] = False
        fill = single[pieces]
        lab[fill] = hi_lab[pieces[fill]].astype(np.int32)
        for i in np.flatnonzero((hi_lab > 0) & ~single):
            if i == 0:
                continue
            x, y, w, h = stats[i, :4]
            ys, xs = slice(max(0, y - 1), y + h + 1), slice(max(0, x - 1), x + w + 1)
            _grow(lab[ys, xs], pieces[ys, xs] == i, k, big)
    return lab


def _dilate_labels(lab: np.ndarray, k: np.ndarray, big: bool) -> np.ndarray:
    """3x3 maximum of a non-negative int label image (exact below 2**24 through float32)."""
    if not big:
        return cv2.dilate(lab.astype(np.uint16), k).astype(np.int32)
    return cv2.dilate(lab.astype(np.float32), k).astype(np.int32)


def _grow(lab: np.ndarray, piece: np.ndarray, k: np.ndarray, big: bool) -> None:
    """Grow labels into the bool `piece` of `lab` (in place) by 3x3 steps, the larger label winning."""
    free = piece & (lab == 0)
    while True:
        grown = _dilate_labels(lab, k, big)
        add = free & (grown > 0)
        if not add.any():
            return
        lab[add] = grown[add]
        free &= ~add


__all__ = ["contrast_peaks", "group_by_valleys", "union_along_paths", "flood"]
