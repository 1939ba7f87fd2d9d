"""The independent renderer (benchmarks/indep_render.py): truth geometry known by construction."""
from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import indep_render as R  # noqa: E402


def test_round_blob_truth_diameter_is_twice_its_radius():
    b = R.Blob("petechia", "petechia", 3.0, -2.0, 0.6, 1.0, 0.05, R.EPS["fresh"])
    d, peak = b.truth_diameter_mm()
    assert abs(d - 1.2) < 0.012
    assert 0.99 < peak <= 1.0


def test_elliptic_blob_truth_diameter_is_its_major_axis():
    b = R.Blob("purpura", "purpura", 0.0, 0.0, 3.0, 1.0, 0.1, R.EPS["deoxy"], aspect=1.25, angle=0.7)
    d, _ = b.truth_diameter_mm()
    assert abs(d - 2 * 3.0 * 1.25) < 0.05


def test_homography_scale_at_the_centre_is_the_nominal_one():
    hm = R._homography(np.random.default_rng(3), 1600, 1200, 0.07)
    assert abs(R.local_mm_per_px(hm, 800, 600) - 0.07) < 1e-6
    assert abs(R.local_mm_per_px(hm, 0, 0) - 0.07) > 1e-4  # a real perspective elsewhere


@pytest.mark.parametrize("module, seed, tol_mm", [("indep_render", 930_007, 0.4), ("clinic_render", 950_009, 0.6)])
def test_rendered_marker_is_20_mm_on_the_plane_and_truth_masks_lie_in_frame(module, seed, tol_mm):
    # both renderers: the detector's (pixel-level) corners, mapped by the truth homography, span 20 mm
    r = importlib.import_module(module)
    p = r.render(seed, size=(640, 480), reference="aruco")
    hm = np.array(p.meta["homography_img_to_mm"])
    det = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50))
    corners, ids, _ = det.detectMarkers(cv2.cvtColor(p.image, cv2.COLOR_RGB2GRAY))
    assert ids is not None and len(ids) == 1
    u, v = R._apply(hm, corners[0][0][:, 0].astype(float), corners[0][0][:, 1].astype(float))
    sides = np.hypot(np.diff(np.r_[u, u[0]]), np.diff(np.r_[v, v[0]]))
    assert np.all(np.abs(sides - 20.0) < tol_mm)
    assert p.spots and all(s.mask.shape == (s.bbox[3], s.bbox[2]) and s.mask.any() for s in p.spots)
    assert all(0 <= s.bbox[0] and s.bbox[0] + s.bbox[2] <= 640 and s.bbox[1] + s.bbox[3] <= 480 for s in p.spots)
    assert {s.category for s in p.spots} <= {"petechia", "purpura", "ecchymosis", "other"}


def test_render_is_deterministic_and_folder_reads_back(tmp_path):
    from spotscale.data.loaders import load_coco
    kept = R.write_folder(tmp_path, 2, 930_100, size=(640, 480))
    again = R.render(930_100, size=(640, 480))
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(tmp_path / kept[0][0])), cv2.COLOR_BGR2RGB), again.image)
    ls = load_coco(tmp_path / "annotations.json")
    assert [len(im.spots) for im in ls.images] == [len(p.spots) for _, p in kept]
    s0, t0 = ls.images[0].spots[0], kept[0][1].spots[0]
    assert s0.label == t0.category and math.isclose(s0.diameter_mm, t0.diameter_mm)
    assert abs(s0.x - t0.x) < 1e-6 and abs(s0.y - t0.y) < 1e-6
