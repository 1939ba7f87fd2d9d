"""Colour indices: values known from their formulas on grey and coloured pixels, any input shape."""
from __future__ import annotations

import math

import numpy as np
import pytest

from spotscale.inference.colour import LOG_OFFSET, log_luminance, optical_density, pigment_index, to_lab


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
