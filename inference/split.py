"""Splitting touching spots by their contrast: one seed per prominent contrast maximum, then flooding.

Petechiae of a dense cluster lie about a millimetre apart; blurred by the camera, their half-maximum
outlines merge although each keeps its own contrast peak with a valley of skin between it and its
neighbours. Each maximum whose valley to every higher neighbour is deep enough (relative to its own
contrast, and well above the noise) is a seed; the region around the seeds is split by flooding the
contrast map from its peaks downwards (a watershed), so the cut follows the valley. A single spot
with a blotchy interior (purpura, ecchymosis) has shallow dips only, and stays one spot.
"""
from __future__ import annotations

import math
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


# spot_blobs: peaks at least this x the highest take peak_min_response (petechiae of about one darkness
# side by side; not the faint bumps of skin round a dark dot). 0.75 left a 0.82 mm petechia whose peak
# is 0.68 x its 1.18 mm neighbour's in one outline with it (bench_rules 2004)
PEAK_LEVEL_FOR_LOWER_RESPONSE = 0.6
# ...and such a blob must reach this x min_strength (the noise floor): a faint spot's noise bumps are
# peaks too (bench_rules 2013: a 1.83 mm petechia at 8 noise sigmas cut in two)
LOWER_RESPONSE_MIN_STRENGTH = 2.5


def spot_blobs(t: np.ndarray, region: np.ndarray, peaks: np.ndarray, sigmas: list[float],
               min_response: float = 0.4, min_strength: float = 0.0, peak_strength: float = 0.2,
               contain_level: float = 0.8, max_hessian_ratio: float = 4.0, min_value: float = 0.0,
               tops: np.ndarray | None = None, peak_min_response: float | None = None) -> np.ndarray:
    """Round blobs (x, y, sigma, response) of contrast map `t`, one per spot of a cluster.

    Blurred by the camera, touching petechiae merge with hardly a valley between them, and a pale
    one beside a dark one has no contrast maximum at all; each is still a blob at its own size.
    Blobs are the local maxima of the scale-normalised -LoG (sigma^2 times minus the Laplacian of
    `t` blurred by sigma; a Gaussian spot of height c gives c / 2 at its own sigma) at each sigma,
    whose response reaches `min_response` x their own contrast (a spot of its own, not a ripple on
    a plateau or a flank's texture), that are round (the Hessian's eigenvalues within
    `max_hessian_ratio` of each other: not the ridge of a rim or a hair) and whose disc (radius
    1.41 sigma) holds none of `peaks` (x, y, value) darker than their own contrast / contain_level
    (the blob of a whole cluster is no spot). Strongest first, one blob per place: a blob within
    0.9 x the radius of a stronger one is that one. Kept are those whose response also reaches
    `min_strength` (the noise) and `peak_strength` x the nearest peak's top (`tops`, one per peak:
    the highest value of the spot it belongs to; default its own value). Within a px of a contrast
    peak the response need only reach `peak_min_response` x the contrast (when given), and
    LOWER_RESPONSE_MIN_STRENGTH x `min_strength`: a petechia touching a darker one lies in the darker
    one's negative -LoG ring, which takes from its own response (a clinic-style dev pair of 0.6-0.8 mm
    petechiae 5 px apart: 0.38 of its contrast at its best sigma) and moves its maximum a px away
    from the peak, while its peak already says it is a spot, not a flank.
    """
    if not len(peaks):
        return np.zeros((0, 4))
    k3 = np.ones((3, 3), np.uint8)
    tops = peaks[:, 2] if tops is None else tops
    floor = max(min_strength, peak_strength * float(tops.min()))  # no weaker blob is kept
    need = np.full(t.shape, min_response, np.float32)
    strong = np.full(t.shape, floor, np.float32)
    if peak_min_response is not None:
        high = peaks[peaks[:, 2] >= PEAK_LEVEL_FOR_LOWER_RESPONSE * float(peaks[:, 2].max())]
        need[high[:, 1].astype(int), high[:, 0].astype(int)] = peak_min_response
        need = cv2.erode(need, k3)
        strong[need < min_response] = max(floor, LOWER_RESPONSE_MIN_STRENGTH * min_strength)
    found = []
    for s in sigmas:
        g = cv2.GaussianBlur(t, (0, 0), s)
        # a 3x3 Sobel's second derivatives are 4x the derivative
        dxx = cv2.Sobel(g, cv2.CV_32F, 2, 0, ksize=3) / 4
        dyy = cv2.Sobel(g, cv2.CV_32F, 0, 2, ksize=3) / 4
        dxy = cv2.Sobel(g, cv2.CV_32F, 1, 1, ksize=3) / 4
        r = -(dxx + dyy) * (s * s)
        lm = (r >= cv2.dilate(r, k3)) & region & (r > need * t) & (t >= min_value) & (r >= strong)
        for y, x in zip(*np.nonzero(lm)):
            a, b, c = float(dxx[y, x]), float(dyy[y, x]), float(dxy[y, x])
            root = math.hypot(a - b, 2 * c)
            l1, l2 = 0.5 * (a + b - root), 0.5 * (a + b + root)  # l1 <= l2; a blob has both < 0
            if l2 >= 0 or l1 < max_hessian_ratio * l2:
                continue
            inside = np.hypot(peaks[:, 0] - x, peaks[:, 1] - y) < 1.414 * s
            if (peaks[inside, 2] * contain_level > float(t[y, x])).any():
                continue
            found.append((float(r[y, x]), int(x), int(y), float(s)))
    found.sort(reverse=True)
    kept: list[tuple[int, int, float, float]] = []
    for r, x, y, s in found:
        if not any(math.hypot(x - kx, y - ky) < 0.9 * 1.414 * max(s, ks) for kx, ky, ks, _ in kept):
            kept.append((x, y, s, r))
    out = [(x, y, s, r) for x, y, s, r in kept
           if r >= max(min_strength, peak_strength * float(tops[np.argmin(np.hypot(peaks[:, 0] - x, peaks[:, 1] - y))]))]
    return np.asarray(out, np.float64).reshape(-1, 4)


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
        for p in sel[joins(a, b, path_minima(grid, a, b, pad))]:
            parent[find(int(ii[p]))] = find(int(jj[p]))
    return np.array([find(i) for i in range(m)])


def path_minima(grid: np.ndarray, a: np.ndarray, b: np.ndarray, pad: int = 2) -> np.ndarray:
    """Lowest `grid` value on each straight path a[i] -> b[i] (rows x, y, ...), sampled at its
    length + `pad` points rounded to pixels."""
    n = np.maximum(2, np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]).astype(int) + pad)
    k = np.arange(int(n.max()))[None, :]
    s = np.minimum(k, n[:, None] - 1) / (n[:, None] - 1)  # past its end a pair repeats its last point
    xs = np.round(a[:, 0:1] + s * (b[:, 0:1] - a[:, 0:1])).astype(int)
    ys = np.round(a[:, 1:2] + s * (b[:, 1:2] - a[:, 1:2])).astype(int)
    return grid[ys, xs].min(axis=1)


def deep_valley(a: np.ndarray, b: np.ndarray, saddle: np.ndarray, min_dip_frac: float, min_dip: float) -> np.ndarray:
    """Per pair of peaks (rows x, y, value), does the path's lowest value `saddle` dip by
    max(min_dip_frac x the lower peak, min_dip) or more below the lower peak (two spots)?"""
    lower = np.minimum(a[:, 2], b[:, 2])
    return lower - saddle >= np.maximum(min_dip_frac * lower, min_dip)


def group_by_valleys(peaks: np.ndarray, t: np.ndarray, min_dip_frac: float, min_dip: float) -> np.ndarray:
    """Group id per peak: peaks joined when the straight path between them never dips by more than
    max(min_dip_frac x the lower peak, min_dip) below the lower peak (the same spot's bumps)."""
    return union_along_paths(peaks, t, 2, lambda a, b, saddle: ~deep_valley(a, b, saddle, min_dip_frac, min_dip))


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


__all__ = ["contrast_peaks", "deep_valley", "group_by_valleys", "union_along_paths", "path_minima", "flood", "spot_blobs"]
