"""Spot measurement: Feret diameters, area and colour of each spot on the skin plane, in mm.

Outlines are taken in pixels of the image as stored (EXIF orientation applied) and carried to the
skin plane through the scale's homography when it has one (so a tilted photo is measured in the
plane of the reference, not in foreshortened pixels), else multiplied by the isotropic mm_per_px.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import cv2
import numpy as np

from spotscale.data.types import Candidate, Scale, Spot
from spotscale.inference.colour import to_lab
from spotscale.inference.segment import RefinedCandidate, Segmentation


def measure(image_rgb: np.ndarray, candidates: Iterable[Candidate], scale: Scale) -> list[Spot]:
    """Measure every candidate; spot_id counts from 1. Sizes in mm are None without a scale."""
    H = _homography(scale)
    spots = []
    for i, cand in enumerate(candidates, start=1):
        spots.append(_measure_one(image_rgb, cand, scale, H, i))
    return spots


def skin_area_cm2(seg: Segmentation, scale: Scale) -> float | None:
    """Analysed skin area on the skin plane in cm2, or None without a scale."""
    if not scale.found:
        return None
    H = _homography(scale)
    if H is None or not seg.skin_mask.any():
        return seg.skin_area_px * scale.mm_per_px ** 2 / 100.0
    ys, xs = np.nonzero(seg.skin_mask)
    step = max(1, xs.size // 20000)
    pts = np.stack([(xs[::step] + 0.5) * seg.work_scale - 0.5, (ys[::step] + 0.5) * seg.work_scale - 0.5], 1)
    jac = np.abs(_jacobian_det(H, pts))
    return float(seg.skin_area_px * np.mean(jac) / 100.0)


def feret_diameters(points: np.ndarray) -> tuple[float, float]:
    """(max, min) Feret diameter of a 2-D point set: its longest extent and its narrowest width."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return 0.0, 0.0
    if len(pts) < 3:
        d = float(np.hypot(*(pts.max(0) - pts.min(0))))
        return d, 0.0
    hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    diff = hull[:, None, :] - hull[None, :, :]
    dmax = float(np.sqrt((diff ** 2).sum(-1)).max())
    if len(hull) < 3:
        return dmax, 0.0
    edges = np.roll(hull, -1, axis=0) - hull
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    ok = lengths > 1e-12
    normals = np.stack([-edges[ok, 1], edges[ok, 0]], 1) / lengths[ok, None]
    rel = hull[None, :, :] - hull[ok][:, None, :]  # (edge, point, 2)
    widths = np.abs(np.einsum("ekd,ed->ek", rel, normals)).max(axis=1)
    return dmax, float(widths.min())


def polygon_area(points: np.ndarray) -> float:
    """Area of a simple polygon (shoelace), in the squared unit of its points."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def to_plane_mm(points_px: np.ndarray, scale: Scale) -> np.ndarray | None:
    """Image px (x, y) -> skin-plane mm: through the homography if any, else x mm_per_px; None if no scale."""
    if not scale.found:
        return None
    p = np.asarray(points_px, dtype=np.float64).reshape(-1, 2)
    H = _homography(scale)
    if H is None:
        return p * scale.mm_per_px
    q = np.c_[p, np.ones(len(p))] @ H.T
    return q[:, :2] / q[:, 2:3]


# ----------------------------------------------------------------------------------------------


def _homography(scale: Scale) -> np.ndarray | None:
    if scale.homography is None or not scale.found:
        return None
    H = np.asarray(scale.homography, dtype=np.float64)
    return H if H.shape == (3, 3) and np.isfinite(H).all() else None


def _jacobian_det(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """det of d(plane)/d(image) of a homography at image points (mm2 per px2)."""
    w = pts @ H[2, :2] + H[2, 2]
    return np.linalg.det(H) / w ** 3


def _local_mm_per_px(scale: Scale, H: np.ndarray | None, x: float, y: float) -> float:
    if H is None:
        return float(scale.mm_per_px)
    return float(math.sqrt(abs(_jacobian_det(H, np.array([[x, y]]))[0])))


def _contour_px(cand: Candidate) -> tuple[np.ndarray, float, float]:
    """Outline (x, y) px, area px and edge width px of a candidate (sub-pixel when refined)."""
    if isinstance(cand, RefinedCandidate) and len(cand.contour) >= 3:
        return np.asarray(cand.contour, dtype=np.float64), cand.area_px, cand.edge_width_px
    m = np.ascontiguousarray(cand.mask, dtype=np.uint8)
    cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    x0, y0 = cand.bbox[0], cand.bbox[1]
    if not cs:
        return np.array([[x0, y0]], np.float64), 0.0, 0.0
    c = max(cs, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
    # pixel-centre outline -> pixel-edge outline: push each point half a pixel outwards
    cen = c.mean(0)
    d = c - cen
    c = c + 0.5 * d / np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)[:, None]
    if len(c) > 64:
        c = c[np.linspace(0, len(c), 64, endpoint=False).astype(int)]
    return c + (x0, y0), float(m.sum()), 0.0


def _measure_one(image: np.ndarray, cand: Candidate, scale: Scale, H: np.ndarray | None, sid: int) -> Spot:
    pts, area_px, edge_px = _contour_px(cand)
    ys, xs = np.nonzero(cand.mask)
    if xs.size:
        cx, cy = cand.bbox[0] + float(xs.mean()), cand.bbox[1] + float(ys.mean())
    else:
        cx, cy = (float(v) for v in pts.mean(0))
    diam_px, _ = feret_diameters(pts)
    lab, skin_lab = _colours(image, cand)
    kw: dict = {}
    plane = to_plane_mm(pts, scale)
    if plane is not None:
        dmax, dmin = feret_diameters(plane)
        mmpp = _local_mm_per_px(scale, H, cx, cy)
        area_mm2 = polygon_area(plane) if len(plane) >= 3 else area_px * mmpp ** 2
        if isinstance(cand, RefinedCandidate) and polygon_area(pts) > 0:
            area_mm2 *= area_px / polygon_area(pts)  # pixel-count area is the less biased one
        rel = (scale.mm_per_px_uncertainty or 0.0) / scale.mm_per_px
        unc = math.sqrt((0.5 * mmpp) ** 2 + (0.5 * edge_px * mmpp) ** 2 + (dmax * rel) ** 2)
        kw = dict(diameter_mm=dmax, eq_diameter_mm=2 * math.sqrt(area_mm2 / math.pi), area_mm2=area_mm2,
                  minor_mm=dmin, diameter_uncertainty_mm=unc)
    return Spot(spot_id=sid, x=cx, y=cy, bbox=tuple(int(v) for v in cand.bbox), area_px=area_px,
                diameter_px=diam_px, lab=lab, skin_lab=skin_lab,
                contour=tuple((float(a), float(b)) for a, b in pts), **kw)


def _colours(image: np.ndarray, cand: Candidate) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Mean CIELAB of the spot and of a ring of skin around it (2 px gap, ~ half a radius wide)."""
    x0, y0, w, h = cand.bbox
    r = max(3, int(0.5 * math.sqrt(max(w * h, 1))))
    gap = 2
    X0, Y0 = max(0, x0 - r - gap), max(0, y0 - r - gap)
    X1, Y1 = min(image.shape[1], x0 + w + r + gap), min(image.shape[0], y0 + h + r + gap)
    crop = image[Y0:Y1, X0:X1]
    m = np.zeros(crop.shape[:2], np.uint8)
    sub = np.ascontiguousarray(cand.mask, dtype=np.uint8)
    mh, mw = sub.shape
    m[y0 - Y0:y0 - Y0 + mh, x0 - X0:x0 - X0 + mw] = sub[:crop.shape[0] - (y0 - Y0), :crop.shape[1] - (x0 - X0)]
    lab = to_lab(crop)
    away = cv2.distanceTransform((m == 0).astype(np.uint8), cv2.DIST_L2, 3)  # px from the spot
    ring = (away > gap) & (away <= r + gap)
    spot = lab[m > 0] if m.any() else lab.reshape(-1, 3)
    skin = lab[ring] if ring.any() else lab.reshape(-1, 3)
    return tuple(float(v) for v in spot.mean(0)), tuple(float(v) for v in skin.mean(0))
