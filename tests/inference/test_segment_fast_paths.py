"""The segmenter's fast helpers give exactly what the plain numpy they replaced gives."""
from __future__ import annotations

import numpy as np
import pytest

from spotscale.inference.segment import _median, _nearest, _percentile, _plane_fit


@pytest.mark.parametrize("n", [1, 2, 3, 8, 9, 1499, 1500])
def test_median_equals_numpy(n):
    rng = np.random.default_rng(n)
    rows = rng.integers(0, 256, (n, 3), dtype=np.uint8)
    values = rng.random(n).astype(np.float32)
    assert np.array_equal(_median(rows), np.median(rows, axis=0))
    assert _median(values) == np.median(values)


@pytest.mark.parametrize("q", [0.0, 25.0, 33.3, 50.0, 90.0, 100.0])
def test_percentile_equals_numpy(q):
    rng = np.random.default_rng(7)
    for n in (1, 2, 5, 64, 301):
        v = (rng.random(n) - 0.3).astype(np.float32)
        assert _percentile(v, q) == float(np.percentile(v, q))


@pytest.mark.parametrize("grid", [None, 1.0, 0.5])  # centres on a grid: many pixels equally near several
def test_nearest_equals_brute_force_with_ties(grid):
    rng = np.random.default_rng(3)
    xs, ys = rng.integers(0, 200, 40_000), rng.integers(0, 200, 40_000)
    centres = rng.random((60, 2)) * 200
    if grid:
        centres = np.round(centres / grid) * grid
    brute = np.argmin(np.stack([np.hypot(xs - cx, ys - cy) for cx, cy in centres]), axis=0)
    assert np.array_equal(_nearest(xs, ys, centres), brute)  # 60 x 40000 pairs: the k-d tree path


def test_plane_fit_recovers_a_tilted_plane():
    rng = np.random.default_rng(5)
    xs, ys = rng.integers(0, 300, 500), rng.integers(0, 300, 500)
    v = 0.01 * xs - 0.02 * ys + 0.3
    assert np.allclose(_plane_fit(xs, ys, v), [0.01, -0.02, 0.3], atol=1e-12)
