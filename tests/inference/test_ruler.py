"""Tick-run candidates: printed tick rows of known period and direction are found, smooth skin gives none."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from spotscale.inference.ruler import tick_runs


def tick_row(size, centre, period_px, angle_deg, n_ticks=30, length_px=None):
    """Grey 200 image with a row of dark tick lines (1 px wide, anti-aliased) `period_px` apart along angle."""
    w, h = size
    img = np.full((h * 4, w * 4), 200, np.uint8)
    a = math.radians(angle_deg)
    u, n = np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])
    length = length_px if length_px is not None else 2.5 * period_px
    for i in range(n_ticks):
        p = np.array(centre) + (i - (n_ticks - 1) / 2) * period_px * u
        q0, q1 = (p * 4).astype(int), ((p + length * n) * 4).astype(int)
        cv2.line(img, tuple(q0), tuple(q1), 30, 4, cv2.LINE_AA)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("period, angle", [(4.0, 0.0), (5.5, 30.0), (7.0, -65.0), (16.0, 100.0)],
                         ids=["4px-flat", "5.5px-30deg", "7px-steep", "16px-half-size-pass"])
def test_tick_row_gives_a_run_of_its_period_and_direction(period, angle):
    img = tick_row((640, 480), (320, 240), period, angle)
    runs = tick_runs(img)
    assert runs
    best = runs[0]
    ratio = period / best.period_px  # the tick period or one of its harmonics (thin lines)
    assert abs(ratio - round(ratio)) < 0.12 * round(ratio) and 1 <= round(ratio) <= 6
    d = np.subtract(best.b, best.a)
    cos = abs(d[0] * math.cos(math.radians(angle)) + d[1] * math.sin(math.radians(angle))) / np.linalg.norm(d)
    assert cos > math.cos(math.radians(8))
    # the run's axis passes through the tick row (within a tick length)
    mid = (np.array(best.a) + np.array(best.b)) / 2
    off = np.array([-math.sin(math.radians(angle)), math.cos(math.radians(angle))])
    assert abs(float(np.dot(mid - (320, 240), off))) < 3 * period + 16


def test_smooth_skin_gives_no_run():
    rng = np.random.default_rng(1)
    tex = cv2.GaussianBlur(rng.normal(0, 1, (480, 640)).astype(np.float32), (0, 0), 3) * 8
    assert tick_runs(np.clip(170 + tex, 0, 255).astype(np.uint8)) == []


def test_tiny_image_gives_no_run():
    assert tick_runs(np.zeros((20, 20), np.uint8)) == []
