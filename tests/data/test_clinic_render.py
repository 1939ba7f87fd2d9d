"""The clinic-style renderer (benchmarks/clinic_render.py): truth geometry known by construction."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import clinic_render as R  # noqa: E402


def test_rendered_marker_is_20_mm_on_the_plane_and_truth_masks_lie_in_frame():
    p = R.render(950_009, size=(640, 480), reference="aruco")
    hm = np.array(p.meta["homography_img_to_mm"])
    det = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50))
    corners, ids, _ = det.detectMarkers(cv2.cvtColor(p.image, cv2.COLOR_RGB2GRAY))
    assert ids is not None and len(ids) == 1
    uv = cv2.perspectiveTransform(corners[0].reshape(-1, 1, 2).astype(np.float64), hm).reshape(-1, 2)
    sides = np.linalg.norm(uv - np.roll(uv, -1, axis=0), axis=1)
    assert np.all(np.abs(sides - 20.0) < 0.6)  # the detector's integer-ish corners on a ~100 px marker
    assert math.isclose(p.mm_per_px, R.local_mm_per_px(hm, *p.meta["ref_centre"]))
    assert p.spots and all(s.mask.shape == (s.bbox[3], s.bbox[2]) and s.mask.any() for s in p.spots)
    assert all(0 <= s.bbox[0] and s.bbox[0] + s.bbox[2] <= 640 and s.bbox[1] + s.bbox[3] <= 480 for s in p.spots)
    assert {s.category for s in p.spots} <= {"petechia", "purpura", "ecchymosis", "other"}


def test_render_is_deterministic_and_folder_reads_back(tmp_path):
    from spotscale.data.loaders import load_coco
    kept = R.write_folder(tmp_path, 1, 950_010, size=(640, 480))
    again = R.render(950_010, size=(640, 480))
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(tmp_path / kept[0][0])), cv2.COLOR_BGR2RGB), again.image)
    ls = load_coco(tmp_path / "annotations.json")
    assert len(ls.images[0].spots) == len(kept[0][1].spots) > 0
    s0, t0 = ls.images[0].spots[0], kept[0][1].spots[0]
    assert s0.label == t0.category and math.isclose(s0.diameter_mm, t0.diameter_mm)
