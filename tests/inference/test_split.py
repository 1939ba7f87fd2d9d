"""Splitting by contrast: the flood cuts along the valley between two peaks, and labels no seed reaches stay 0."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from spotscale.inference.split import contrast_peaks, flood, group_by_valleys, path_minima, spot_blobs


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


def test_path_minima_is_the_lowest_value_on_each_straight_path():
    t = _two_bumps()
    a = np.array([[15.0, 15.0], [15.0, 15.0]])
    b = np.array([[45.0, 15.0], [15.0, 5.0]])
    low = path_minima(t, a, b)
    assert low[0] == pytest.approx(float(t[15, 30]), rel=1e-6)  # across the valley: its floor
    assert low[1] == pytest.approx(float(t[5, 15]), rel=1e-6)  # down one bump's flank: where it ends


SIGMAS = [1.2 * 2 ** (i / 2) for i in range(9)]


def _blobs(t: np.ndarray) -> np.ndarray:
    region = t > 0.1 * t.max()
    return spot_blobs(t, region, contrast_peaks(t, region, 0.3 * float(t.max())), SIGMAS)


def _disc(x: float, r: float, w: int = 71, h: int = 41) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.GaussianBlur(((xx - x) ** 2 + (yy - 20) ** 2 <= r * r).astype(np.float32), (0, 0), 1.8)


def test_a_pale_spot_on_a_dark_ones_flank_is_a_blob_of_its_own_size():
    # blurred discs of radius 6 px, 12 px apart: the pale one (half as dark) is a plateau on the dark
    # one's flank, with no valley between them to split at
    t = _disc(25, 6.0) + 0.5 * _disc(37, 6.0)
    peaks = contrast_peaks(t, t > 0.1, 0.3)
    assert len(set(group_by_valleys(peaks, t, 0.25, 0.0).tolist())) == 1
    b = _blobs(t)
    assert len(b) == 2
    (x1, y1, s1, _), (x2, y2, s2, _) = sorted(b.tolist())
    assert abs(x1 - 25) <= 1.5 and abs(x2 - 37) <= 1.5 and abs(y1 - 20) <= 1 and abs(y2 - 20) <= 1
    assert 2.4 <= s1 <= 6.8 and 2.4 <= s2 <= 6.8  # about each spot's own size (r / 1.41 = 4.2)


@pytest.mark.parametrize("shape", ["disc", "ellipse"])
def test_a_flat_spot_is_one_blob_and_a_line_is_none(shape):
    yy, xx = np.mgrid[0:81, 0:81].astype(np.float32)
    a, b = (14.0, 14.0) if shape == "disc" else (16.0, 10.0)
    inside = ((xx - 40) / a) ** 2 + ((yy - 40) / b) ** 2 <= 1
    spot = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 1.5)
    got = _blobs(spot)
    assert len(got) == 1 and abs(got[0][0] - 40) <= 2 and abs(got[0][1] - 40) <= 2
    line = np.zeros((81, 81), np.float32)
    line[39:42, :] = 1.0
    assert len(_blobs(cv2.GaussianBlur(line, (0, 0), 1.0))) == 0  # a hair's ridge across it is no blob
