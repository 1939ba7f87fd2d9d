"""photo_blur: the blur read on a photo's own sharpest edges, where its reference gives none."""
import dataclasses

import cv2
import numpy as np
import pytest

from spotscale.data.types import Scale
from spotscale.inference.blur import photo_blur
from spotscale.inference.pipeline import AnalysisConfig, analyze_image, camera_blur
from spotscale.inference.segment import SegmentConfig
from tests.inference.test_scale import blur, plane_to_image, to_linear, to_srgb, with_marker
from tests.inference.test_segment import disc, finish, skin

SS = 4  # supersampling of the sharp shapes


def with_cloth(img: np.ndarray, seed: int = 0) -> np.ndarray:
    """Lay dark cloth with straight, sharp (pixel-integrated) edges over a corner, in linear light."""
    h, w = img.shape[:2]
    rng = np.random.default_rng(seed)
    cov = np.zeros((h * SS, w * SS), np.float32)
    poly = np.array([[0, 0.62 * h], [0.45 * w, 0.8 * h + rng.uniform(-5, 5)], [0.3 * w, h], [0, h]]) * SS
    cv2.fillPoly(cov, [poly.astype(np.int32)], 1.0)
    cv2.rectangle(cov, (int(0.7 * w * SS), 0), (w * SS, int(0.2 * h * SS)), 1.0, -1)
    cov = cv2.resize(cov, (w, h), interpolation=cv2.INTER_AREA)[..., None]
    lin = to_linear(img) * (1 - cov) + to_linear(np.full_like(img, (40, 45, 70))) * cov
    return to_srgb(lin)


def photo(sigma: float, noise: float = 1.0) -> np.ndarray:
    img = with_cloth(np.clip(skin(w=640, h=480, gradient=False), 0, 255).astype(np.uint8))
    img = blur(img, sigma) if sigma else img
    return finish(img.astype(np.float32), noise=noise)


@pytest.mark.parametrize("sigma, low, high", [(0.0, 0.0, 0.35), (0.8, 0.45, 1.15), (1.5, 1.15, 1.85),
                                               (2.5, 1.5, 2.85)])  # a large blur may read low, as soft edges
def test_the_blur_of_a_photo_is_read_on_its_sharp_edges(sigma, low, high):
    assert low <= photo_blur(photo(sigma)) <= high


def test_skin_alone_gives_no_blur():
    assert photo_blur(finish(skin(w=320, h=240, gradient=False))) is None


def test_a_photo_of_soft_edges_only_reads_its_short_profiles_not_the_softness():
    # a shaded limb outline, a fold: their width grows with the profile's reach, unlike a camera blur's;
    # the reading stays that of 4 px profiles (or none) instead of following the ramp to its 5 px
    img = blur(with_cloth(np.clip(skin(w=640, h=480, gradient=False), 0, 255).astype(np.uint8)), 5.0)
    b = photo_blur(finish(img.astype(np.float32)))
    assert b is None or b < 2.5


def test_the_blur_comes_from_the_user_then_the_reference_then_the_photo():
    img = photo(1.5)
    assert camera_blur(img, Scale(0.1, 0.0, "aruco", blur_px=0.0), SegmentConfig()) == (0.0, "reference")
    assert camera_blur(img, Scale(0.1, 0.0, "aruco", blur_px=2.0), SegmentConfig(camera_blur_px=1.0)) == (1.0, "config")
    b, where = camera_blur(img, Scale(0.1, 0.0, "sticker"), SegmentConfig())  # a sticker whose rim gave none
    assert where == "photo_edges" and b == pytest.approx(1.5, abs=0.35)
    # without a scale no blur is undone (no size is reported; the CNN's crops stay as it was trained on)
    assert camera_blur(img, Scale(None), SegmentConfig()) == (None, None)
    assert camera_blur(img, Scale(None), SegmentConfig(camera_blur_px=1.0)) == (1.0, "config")


def test_small_spots_of_a_photo_whose_reference_gives_no_blur_are_deblurred_by_its_edges():
    # a 640x480 photo of a leg, 0.6 mm per px: its 20 mm marker is 33 px wide, too small to read the
    # blur on. With no blur known, the 4 px petechiae's blurred edges were taken for their own
    # softness and they came out 3.1-3.2 px
    base = skin(w=640, h=480, gradient=False, seed=3)
    for x in (380, 430, 480, 530):
        disc(base, x + 0.3, 200.6, 2.0)
    hom = plane_to_image((640, 480), (560, 400), 0.6)
    img = with_marker(with_cloth(np.clip(base, 0, 255).astype(np.uint8)), hom)
    img = finish(blur(img, 1.0).astype(np.float32), noise=1.0)
    res = analyze_image(img, AnalysisConfig())
    assert res.scale.source == "aruco" and res.scale.blur_px is None
    assert res.summary["camera_blur_from"] == "photo_edges"
    assert res.summary["camera_blur_px"] == pytest.approx(1.0, abs=0.3)
    unaware = AnalysisConfig(segment=dataclasses.replace(AnalysisConfig().segment, camera_blur_px=1e-6))
    near = lambda r: sorted(s.eq_diameter_mm / 0.6 for s in r.spots if 180 < s.y < 220)  # noqa: E731
    told, not_told = near(res), near(analyze_image(img, unaware))
    assert len(told) == 4 and len(not_told) == 4
    assert all(abs(d - 4.0) < 0.35 for d in told), told
    assert all(d < 3.5 for d in not_told), not_told
