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


def striped_cloth(img, x1, periods_px, axis_deg, patch_px=110):
    """Columns < x1 become a weave: stripes whose period runs along axis_deg, in patches of changing
    period cut apart by flat bands (one cloth, many tick-like groups along one strip)."""
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = math.radians(axis_deg)
    along = xx * math.cos(a) + yy * math.sin(a)
    patch = np.floor(along / patch_px).astype(int)
    period = np.asarray(periods_px, np.float32)[np.mod(patch, len(periods_px))]
    stripes = 0.5 + 0.5 * np.cos(2 * np.pi * along / period)
    cloth = (xx < x1) & (np.mod(along, patch_px) > 16)
    out = img.astype(np.float32)
    out[cloth] = 200 - 150 * stripes[cloth]
    return np.clip(out, 0, 255).astype(np.uint8)


def test_a_ruler_beside_striped_cloth_is_among_the_first_runs():
    """A weave in many patches of one direction must not use up the candidates (as on a generated photo)."""
    img = striped_cloth(tick_row((800, 600), (560, 420), 5.0, -14.0, n_ticks=40), 160, (7.0, 9.0, 8.0), 74.0)
    u = np.array([math.cos(math.radians(-14.0)), math.sin(math.radians(-14.0))])

    def on_ruler(r):
        d = np.subtract(r.b, r.a)
        mid = (np.array(r.a) + np.array(r.b)) / 2
        return abs(d @ u) > math.cos(math.radians(8)) * np.linalg.norm(d) and np.linalg.norm(mid - (560, 420)) < 120

    everything = tick_runs(img, 12)
    assert len(everything) >= 2 and not any(on_ruler(r) for r in everything[:1])
    assert any(on_ruler(r) for r in tick_runs(img, 2))
