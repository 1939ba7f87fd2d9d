"""Colour indices: values known from their formulas on grey and coloured pixels, any input shape."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from spotscale.inference.colour import LOG_OFFSET, is_colourless, log_luminance, optical_density, pigment_index, to_lab
from tests.inference.test_segment import jpeg


def test_grey_has_no_pigment_and_red_has_negative_pigment():
    grey = np.full((4, 5, 3), 128, np.uint8)
    assert np.abs(pigment_index(grey)).max() < 1e-6 and pigment_index(grey).shape == (4, 5)
    blood = np.array([[[150, 40, 60]]], np.uint8)
    od = optical_density(blood)[0, 0]
    assert pigment_index(blood)[0, 0] == pytest.approx(0.5 * (od[1] + od[2]) - od[0], abs=1e-6)
    assert pigment_index(blood)[0, 0] > 0.5  # absorbs green and blue far more than red


def test_log_luminance_of_known_pixels_in_any_shape():
    px = np.array([[0, 0, 0], [100, 100, 100], [200, 50, 10]], np.uint8)
    want = [math.log(LOG_OFFSET), math.log(100 + LOG_OFFSET), math.log(0.3 * 200 + 0.6 * 50 + 0.1 * 10 + LOG_OFFSET)]
    assert log_luminance(px) == pytest.approx(want, abs=1e-5)  # (N, 3) -> (N,)
    img = np.broadcast_to(px[None], (2, 3, 3))[:, ::-1]  # (H, W, 3), not contiguous
    assert log_luminance(img).shape == (2, 3) and log_luminance(img)[1, 0] == pytest.approx(want[2], abs=1e-5)


def test_lab_of_white_and_black():
    lab = to_lab(np.array([[255, 255, 255], [0, 0, 0]], np.uint8))
    assert lab[0] == pytest.approx([100, 0, 0], abs=0.01) and lab[1] == pytest.approx([0, 0, 0], abs=0.01)


EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "examples" / "example.jpg"


def _skin(rgb: tuple[int, int, int], noise: float = 4.0) -> np.ndarray:
    img = np.full((300, 400, 3), rgb, float) + np.random.default_rng(1).normal(0, noise, (300, 400, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def test_a_greyscale_photo_saved_as_colour_jpeg_is_colourless_and_the_photo_is_not():
    photo = cv2.cvtColor(cv2.imread(str(EXAMPLE)), cv2.COLOR_BGR2RGB)
    grey = np.repeat(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    assert not is_colourless(photo)
    assert is_colourless(jpeg(grey, 60))


@pytest.mark.parametrize("rgb, colourless", [
    ((60, 40, 30), False),     # the darkest skin still differs by 30 levels red to blue
    ((205, 160, 140), False),  # light skin
    ((5, 4, 3), True),         # a frame too dark to show any colour
])
def test_skin_of_any_tone_has_colour_and_near_black_has_none(rgb, colourless):
    assert is_colourless(jpeg(_skin(rgb, noise=1.0), 75)) is colourless


def test_a_small_patch_of_skin_in_a_grey_scene_is_colour():
    img = np.full((300, 400, 3), 128, np.uint8)
    img[:30, :40] = (150, 110, 95)  # 1 % of the frame
    assert not is_colourless(img)
    img[:30, :40] = 128
    img[0, :40] = (150, 110, 95)  # 40 px: under the 0.5 % allowed to rounding and JPEG
    assert is_colourless(img)
