"""Plane geometry shared by the generator, the crops and the scale: homographies in one place."""
from __future__ import annotations

import math

import numpy as np


def jacobian_det(h: object, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """det J of homography `h` at image points (xs, ys), arrays: det H / w^3 (signed; for an image px
    -> plane mm map, mm2 per px2)."""
    m = np.asarray(h, np.float64)
    w = m[2, 0] * np.asarray(xs, np.float64) + m[2, 1] * np.asarray(ys, np.float64) + m[2, 2]
    return np.linalg.det(m) / w ** 3


def homography_scale(h: object, x: float, y: float) -> float | None:
    """Local scale of homography `h` at (x, y): sqrt(|det J|), output units per input unit.

    For an image px -> skin-plane mm homography this is the mm per px at that pixel. None where the
    map is degenerate there (the point maps to infinity or the Jacobian vanishes).
    """
    m = np.asarray(h, np.float64)
    w = m[2, 0] * x + m[2, 1] * y + m[2, 2]
    if abs(w) < 1e-12:
        return None
    d = abs(float(np.linalg.det(m)) / w ** 3)  # det J of a homography = det H / w^3
    return math.sqrt(d) if d > 0 and math.isfinite(d) else None
