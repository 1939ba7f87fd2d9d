"""Geometry for the generator: the camera homography and mask measurements on the skin plane.

Pixel coordinates follow OpenCV: integer (x, y) is the centre of a pixel; a pixel covers
[x - 0.5, x + 0.5] x [y - 0.5, y + 0.5].
"""
from __future__ import annotations

import cv2
import numpy as np

from spotscale.data.geometry import homography_scale


def apply_h(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map (N, 2) points through a 3x3 homography."""
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    q = np.c_[pts, np.ones(len(pts))] @ np.asarray(h, np.float64).T
    return q[:, :2] / q[:, 2:3]


def jacobian_scale(h: np.ndarray, x: float, y: float) -> float:
    """sqrt(|det J|) of the homography at (x, y): output units per input unit (e.g. mm per px)."""
    v = homography_scale(h, x, y)
    return float("nan") if v is None else v


def camera_homography(size: tuple[int, int], centre_mm: tuple[float, float], mm_per_px: float,
                      rotation_deg: float, tilt: tuple[float, float]) -> np.ndarray:
    """Homography skin-plane mm -> image px: rotate, scale, then a mild perspective tilt.

    `tilt` (tx, ty) is the relative change of scale from the image centre to its right/bottom edge
    (e.g. 0.1 = the scale differs by about 10 % there); the image centre sees `centre_mm`.
    """
    w, h = size
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    t_plane = np.array([[1, 0, -centre_mm[0]], [0, 1, -centre_mm[1]], [0, 0, 1]], float)
    a = np.deg2rad(rotation_deg)
    s = 1.0 / mm_per_px
    rs = np.array([[s * np.cos(a), -s * np.sin(a), 0], [s * np.sin(a), s * np.cos(a), 0], [0, 0, 1]])
    p = np.array([[1, 0, 0], [0, 1, 0], [tilt[0] / (w / 2.0), tilt[1] / (h / 2.0), 1]], float)
    t_img = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]], float)
    m = t_img @ p @ rs @ t_plane
    return m / m[2, 2]


def mask_corner_points(mask: np.ndarray) -> np.ndarray:
    """(N, 2) x, y corners of the boundary pixels of a bool mask (pixel centres at integers)."""
    m = np.asarray(mask, bool)
    if not m.any():
        return np.zeros((0, 2))
    er = cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    ys, xs = np.nonzero(m & ~er.astype(bool))
    offs = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    pts = np.c_[xs, ys].astype(np.float64)[:, None, :] + offs[None]
    return np.unique(pts.reshape(-1, 2), axis=0)


def feret(points: np.ndarray) -> tuple[float, float]:
    """(max, min) Feret diameters of a point set, via its convex hull and rotating calipers."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if len(pts) < 2:
        return 0.0, 0.0
    hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    if len(hull) < 3:
        d = float(np.linalg.norm(hull[0] - hull[-1])) if len(hull) == 2 else 0.0
        return d, 0.0
    diff = hull[:, None, :] - hull[None, :, :]
    dmax = float(np.sqrt((diff ** 2).sum(-1)).max())
    edges = np.roll(hull, -1, axis=0) - hull
    lengths = np.linalg.norm(edges, axis=1)
    ok = lengths > 1e-12
    normals = np.c_[-edges[ok, 1], edges[ok, 0]] / lengths[ok, None]
    proj = hull @ normals.T  # (n_pts, n_edges)
    dmin = float((proj.max(0) - proj.min(0)).min())
    return dmax, dmin


def level_crossings(field: np.ndarray, level: float = 0.5) -> np.ndarray:
    """(N, 2) x, y points where an opacity field in [0, 1] crosses `level` between 4-neighbour pixels.

    Interpolated linearly in the logit of the field, which is exact across a sigmoid edge (the
    generator's spots). Outside the field counts as 0, so a spot cut by the crop still closes.
    The outline of the continuous field, not the union of the pixel squares above the level: those
    squares stick out of a disc by up to half a diagonal, so their max Feret is about one pixel too long.
    """
    p = np.clip(np.pad(np.asarray(field, np.float64), 1), 1e-4, 1 - 1e-4)
    lg = np.log(p / (1 - p)) - np.log(level / (1 - level))  # logit, 0 at the level
    pts = []
    for axis in (1, 0):
        a = lg[:, :-1] if axis == 1 else lg[:-1, :]
        b = lg[:, 1:] if axis == 1 else lg[1:, :]
        ys, xs = np.nonzero((a >= 0) != (b >= 0))
        ta, tb = a[ys, xs], b[ys, xs]
        t = ta / (ta - tb)
        if axis == 1:
            pts.append(np.c_[xs + t - 1, ys - 1.0])  # -1: the padding
        else:
            pts.append(np.c_[xs - 1.0, ys + t - 1])
    return np.concatenate(pts) if pts else np.zeros((0, 2))


def measure_opacity_mm(opacity: np.ndarray, to_mm: np.ndarray, px_area_mm2: float, level: float = 0.5) -> dict:
    """Sizes in mm of where an opacity field is >= `level`: Feret diameters of its sub-pixel outline
    (level_crossings) mapped by `to_mm`, area from the pixel count (pixels x `px_area_mm2`)."""
    pts = level_crossings(opacity, level)
    dmax, dmin = feret(apply_h(to_mm, pts)) if len(pts) else (0.0, 0.0)
    area = int(np.count_nonzero(np.asarray(opacity) >= level)) * px_area_mm2
    return {"diameter_mm": dmax, "minor_mm": dmin, "area_mm2": area,
            "eq_diameter_mm": float(2.0 * np.sqrt(area / np.pi))}


def measure_mask_mm(mask: np.ndarray, to_mm: np.ndarray, px_area_mm2: float | None = None) -> dict:
    """Sizes of a mask in mm: max/min Feret over its pixel corners mapped by `to_mm` (3x3), area, eq-circle.

    For an affine `to_mm` pass `px_area_mm2`; otherwise each pixel's area is taken from the local Jacobian.
    """
    pts = apply_h(to_mm, mask_corner_points(mask))
    dmax, dmin = feret(pts)
    n = int(np.count_nonzero(mask))
    if px_area_mm2 is None:
        ys, xs = np.nonzero(mask)
        h = np.asarray(to_mm, np.float64)
        wv = h[2, 0] * xs + h[2, 1] * ys + h[2, 2]
        det = np.linalg.det(h) / wv ** 3  # |J| of a homography at each pixel
        area = float(np.abs(det).sum())
    else:
        area = n * px_area_mm2
    return {"diameter_mm": dmax, "minor_mm": dmin, "area_mm2": area,
            "eq_diameter_mm": float(2.0 * np.sqrt(area / np.pi))}
