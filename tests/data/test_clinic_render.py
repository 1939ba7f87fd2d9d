"""The clinic-style renderer (benchmarks/clinic_render.py): truth geometry known by construction."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import clinic_render as R  # noqa: E402


def test_scale_is_the_truth_homography_at_the_marker_centre():
    p = R.render(950_009, size=(640, 480), reference="aruco")
    hm = np.array(p.meta["homography_img_to_mm"])
    assert math.isclose(p.mm_per_px, R.local_mm_per_px(hm, *p.meta["ref_centre"]))
    assert 0.05 < p.mm_per_px < 0.6 and p.reference == "aruco" and p.sticker_mm is None


def test_render_is_deterministic_and_folder_reads_back(tmp_path):
    from spotscale.data.loaders import load_coco
    kept = R.write_folder(tmp_path, 1, 950_010, size=(640, 480))
    again = R.render(950_010, size=(640, 480))
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(tmp_path / kept[0][0])), cv2.COLOR_BGR2RGB), again.image)
    ls = load_coco(tmp_path / "annotations.json")
    assert len(ls.images[0].spots) == len(kept[0][1].spots) > 0
    s0, t0 = ls.images[0].spots[0], kept[0][1].spots[0]
    assert s0.label == t0.category and math.isclose(s0.diameter_mm, t0.diameter_mm)
