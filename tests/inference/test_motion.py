"""Camera shake (inference.motion): the smear found from the spots, and their sizes measured across it."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from spotscale.data.types import Scale
from spotscale.inference.motion import find_shake, unstreak
from spotscale.inference.pipeline import AnalysisConfig, analyze_image, measure_unshaken
from spotscale.inference.scale import ScaleConfig
from spotscale.inference.segment import SegmentConfig, segment

MM_PER_PX = 0.1
SPOT_PX = 4.0  # true diameter of every spot
SMEAR_PX = 11  # length of the camera's line kernel


def _photo(smear_px: int = 0, angle_deg: float = 0.0, elongate: float = 1.0, seed: int = 0) -> np.ndarray:
    """Skin with a grid of 20 round red spots (or ellipses at random angles), optionally smeared along angle_deg."""
    rng = np.random.default_rng(seed)
    s = 4
    h, w = 300, 400
    cover = np.zeros((h * s, w * s), np.float32)
    for i in range(5):
        for j in range(4):
            cx, cy = 60 + 70 * i + rng.uniform(-3, 3), 50 + 65 * j + rng.uniform(-3, 3)
            axes = (SPOT_PX / 2 * elongate * s, SPOT_PX / 2 * s)
            cv2.ellipse(cover, (int(cx * s), int(cy * s)), (int(axes[0]), int(axes[1])),
                        float(rng.uniform(0, 180)) if elongate > 1 else 0.0, 0, 360, 1.0, -1)
    cover = cv2.resize(cover, (w, h), interpolation=cv2.INTER_AREA)
    img = (1 - cover[..., None]) * np.array([205, 160, 140], np.float32) + cover[..., None] * np.array([140, 30, 45], np.float32)
    if smear_px:
        k = np.zeros((smear_px, smear_px), np.float32)
        k[smear_px // 2, :] = 1.0 / smear_px
        rot = cv2.getRotationMatrix2D((smear_px / 2 - 0.5, smear_px / 2 - 0.5), -angle_deg, 1.0)
        k = cv2.warpAffine(k, rot, (smear_px, smear_px))
        img = cv2.filter2D(img, -1, k / k.sum())
    img = cv2.GaussianBlur(img, (0, 0), 0.6) + rng.normal(0, 1.5, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _cands(img: np.ndarray):
    return segment(img, mm_per_px=MM_PER_PX, config=SegmentConfig(camera_blur_px=0.6)).candidates


@pytest.fixture(scope="module")
def smeared():
    return _photo(SMEAR_PX, angle_deg=30.0)


def test_a_smear_shared_by_the_spots_is_found_with_its_direction_and_length(smeared):
    shake = find_shake(_cands(smeared))
    assert shake is not None
    off = abs((shake.direction_deg - 30.0 + 90.0) % 180.0 - 90.0)
    assert off < 8.0
    assert SMEAR_PX - 3 < shake.length_px < SMEAR_PX + 3
    assert shake.n_spots >= 10


@pytest.mark.parametrize("case", [{"smear_px": 0}, {"elongate": 2.0}], ids=["round_sharp", "ellipses_any_way"])
def test_no_shake_without_a_common_smear(case):
    assert find_shake(_cands(_photo(**case))) is None


def test_smeared_spots_are_measured_across_the_smear(smeared):
    scale = Scale(mm_per_px=MM_PER_PX, source="manual")
    cands = _cands(smeared)
    plain, _ = measure_unshaken(smeared, cands, scale, undo_shake=False)
    fixed, shake = measure_unshaken(smeared, cands, scale)
    assert shake is not None and len(fixed) == len(plain) >= 18
    true_mm = SPOT_PX * MM_PER_PX
    before = np.median([s.diameter_mm for s in plain])
    after = np.median([s.diameter_mm for s in fixed])
    assert before > 2.0 * true_mm  # the smear's length, not the spot
    assert abs(after - true_mm) < 0.15  # within 1.5 px of the truth
    assert all("camera_shake:size_across_smear" in s.flags for s in fixed)


def test_a_spot_wider_than_the_smear_keeps_its_outline(smeared):
    shake = find_shake(_cands(smeared))
    big = _cands(_photo(0))[0]
    ring = np.array([(200 + 20 * math.cos(t), 150 + 20 * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 40, endpoint=False)])
    big = type(big)(bbox=(180, 130, 41, 41), mask=np.ones((41, 41), bool), contour=tuple(map(tuple, ring.tolist())),
                    area_px=math.pi * 400)
    out, changed = unstreak([big], shake)
    assert not changed and out[0] is big


def test_the_pipeline_reports_the_shake_and_flags_the_spots(smeared):
    res = analyze_image(smeared, AnalysisConfig(model_path="none", scale=ScaleConfig(mm_per_px=MM_PER_PX)))
    assert res.summary["camera_shake"]["length_px"] > SMEAR_PX - 3
    assert any("Camera shake" in n for n in res.notes)
    assert sum("camera_shake:size_across_smear" in s.flags for s in res.spots) >= 15
    off = AnalysisConfig(model_path="none", undo_shake=False, scale=ScaleConfig(mm_per_px=MM_PER_PX))
    assert analyze_image(smeared, off).summary["camera_shake"] is None
