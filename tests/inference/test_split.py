"""Splitting by contrast: the flood cuts along the valley between two peaks, and labels no seed reaches stay 0."""
from __future__ import annotations

import numpy as np

from spotscale.inference.split import contrast_peaks, flood, group_by_valleys


def _two_bumps(w: int = 61, h: int = 31, x1: float = 15, x2: float = 45, r2: float = 1.0) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    b1 = np.exp(-((xx - x1) ** 2 + (yy - 15) ** 2) / (2 * 6.0 ** 2))
    b2 = r2 * np.exp(-((xx - x2) ** 2 + (yy - 15) ** 2) / (2 * 6.0 ** 2))
    return (b1 + b2).astype(np.float32)


def test_flood_cuts_at_the_valley_between_two_equal_bumps():
    t = _two_bumps()
    seeds = np.zeros(t.shape, np.int32)
    seeds[15, 15], seeds[15, 45] = 1, 2
    lab = flood(t, seeds, t > 0.03)
    row = lab[15]
    assert (row[5:29] == 1).all() and (row[31:56] == 2).all()  # the valley is at x = 30


def test_flood_leaves_unreached_parts_of_the_region_unlabelled():
    t = _two_bumps()
    seeds = np.zeros(t.shape, np.int32)
    seeds[15, 15] = 1
    region = t > 0.03
    region[:, 29:32] = False  # the right bump is cut off from the only seed
    lab = flood(t, seeds, region)
    assert (lab[15, 5:29] == 1).all() and not lab[:, 32:].any()


def test_peaks_joined_only_across_a_shallow_dip():
    deep = _two_bumps()
    peaks = contrast_peaks(deep, deep > 0.2, 0.5)
    assert len(peaks) == 2
    assert len(set(group_by_valleys(peaks, deep, 0.25, 0.0).tolist())) == 2
    shallow = _two_bumps(x1=22, x2=38)  # 16 px apart at sigma 6: the saddle dips about 10 %
    peaks = contrast_peaks(shallow, shallow > 0.2, 0.5)
    assert len(set(group_by_valleys(peaks, shallow, 0.25, 0.0).tolist())) == 1
