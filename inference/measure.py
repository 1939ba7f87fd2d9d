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

from spotscale.data.geometry import jacobian_det
from spotscale.data.types import Candidate, Scale, Spot
from spotscale.inference.colour import to_lab
from spotscale.inference.scale import local_scale_rel_sd
from spotscale.inference.segment import RefinedCandidate, Segmentation, pixel_edges


def measure(image_rgb: np.ndarray, candidates: Iterable[Candidate], scale: Scale) -> list[Spot]:
    """Measure every candidate; spot_id counts from 1. Sizes in mm are None without a scale.

    All spots are measured together: one homography transform of every outline and one batched Feret
    computation over the padded convex hulls; colours from each spot's small crop.
    """
    cands = list(candidates)
    if not cands:
        return []
    tail_px = TAIL_MAX_MM / scale.mm_per_px if scale.mm_per_px else math.inf
    outlines = [_contour_px(c, tail_px) for c in cands]
    pts_px = [o[0] for o in outlines]
    centres = np.array([_centroid(c, pts) for c, pts in zip(cands, pts_px)], np.float64).reshape(-1, 2)
    diam_px, _ = _ferets(pts_px)
    colours = _colours(image_rgb, cands)
    sizes: list[dict] = [{} for _ in cands]
    plane_all = to_plane_mm(np.concatenate(pts_px), scale)
    if plane_all is not None:
        planes = np.split(plane_all, np.cumsum([len(p) for p in pts_px])[:-1])
        dmax, dmin = _ferets(planes)
        mmpp = _local_mm_per_px(scale, _homography(scale), centres)
        rel = local_scale_rel_sd(scale, centres[:, 0], centres[:, 1], image_rgb.shape[:2])
        for i, (cand, (pts, area_px, edge_px, gain), plane) in enumerate(zip(cands, outlines, planes)):
            area_mm2 = polygon_area(plane) if len(plane) >= 3 else area_px * mmpp[i] ** 2
            if isinstance(cand, RefinedCandidate) and polygon_area(pts) > 0:
                area_mm2 *= area_px / polygon_area(pts)  # pixel-count area is the less biased one
            # half a pixel of the outline, times what undoing the blur of a small spot makes of it
            unc = math.sqrt((0.5 * gain * mmpp[i]) ** 2 + (0.5 * edge_px * mmpp[i]) ** 2 + (dmax[i] * rel[i]) ** 2)
            sizes[i] = dict(diameter_mm=float(dmax[i]), eq_diameter_mm=2 * math.sqrt(area_mm2 / math.pi),
                            area_mm2=area_mm2, minor_mm=float(dmin[i]), diameter_uncertainty_mm=unc)
    return [Spot(spot_id=i, x=float(cx), y=float(cy), bbox=tuple(int(v) for v in cand.bbox), area_px=area_px,
                 diameter_px=float(dpx), lab=lab, skin_lab=skin_lab, contour=_segmented_outline(cand, pts),
                 texture_snr=cand.texture_snr, seen_diameter_px=_seen_diameter(cand, area_px, float(dpx)), **kw)
            for i, (cand, (pts, area_px, _, _), (cx, cy), dpx, (lab, skin_lab), kw)
            in enumerate(zip(cands, outlines, centres, diam_px, colours, sizes), start=1)]


def _segmented_outline(cand: Candidate, pts: np.ndarray) -> tuple[tuple[float, float], ...]:
    """The outline a spot is drawn with and the CNN's crop is cut by: as segmented, thin tails and all.

    Its sizes leave the tails out (_without_tails); its crop keeps them, as the CNN was trained on
    segmented outlines: cut by the outline without them, 3 more freckles of the independent renderer's
    held-out photos were called petechiae (haemorrhagic precision 0.981 -> 0.978)."""
    if isinstance(cand, RefinedCandidate) and len(cand.contour) >= 3:
        return cand.contour
    return tuple(map(tuple, pts.tolist()))


def _seen_diameter(cand: Candidate, area_px: float, diameter_px: float) -> float:
    """A spot's max Feret as it looks (px): scaled back by the area that undoing the photo's blur took off."""
    seen = getattr(cand, "seen_area_px", 0.0)
    return diameter_px * math.sqrt(seen / area_px) if seen > 0 and area_px > 0 else diameter_px


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
    jac = np.abs(jacobian_det(H, pts[:, 0], pts[:, 1]))
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
    dmax = _longest_chord(hull)
    if len(hull) < 3:
        return dmax, 0.0
    edges = np.roll(hull, -1, axis=0) - hull
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    ok = lengths > 1e-12
    normals = np.stack([-edges[ok, 1], edges[ok, 0]], 1) / lengths[ok, None]
    rel = hull[None, :, :] - hull[ok][:, None, :]  # (edge, point, 2)
    widths = np.abs(np.einsum("ekd,ed->ek", rel, normals)).max(axis=1)
    return dmax, float(widths.min())


def max_feret(points: np.ndarray) -> float:
    """Max Feret diameter of a 2-D point set (feret_diameters' first value, without the second's cost)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        return feret_diameters(pts)[0]
    return _longest_chord(cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64))


def _longest_chord(hull: np.ndarray) -> float:
    dx, dy = hull[:, None, 0] - hull[None, :, 0], hull[:, None, 1] - hull[None, :, 1]
    return math.sqrt(float((dx * dx + dy * dy).max()))


def _ferets(point_sets: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """feret_diameters of many point sets at once: (max array, min array).

    The convex hulls are padded to one length by repeating their last vertex, which adds no
    distance, only zero-length edges (skipped), so each value is the one feret_diameters gives.
    """
    n = len(point_sets)
    dmax, dmin = np.zeros(n), np.zeros(n)
    hulls, rows = [], []
    for i, pts in enumerate(point_sets):
        p = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        hull = cv2.convexHull(p.astype(np.float32)).reshape(-1, 2).astype(np.float64) if len(p) >= 3 else p
        if len(hull) < 3:  # a point, a segment or collinear points
            dmax[i], dmin[i] = feret_diameters(p)
        else:
            hulls.append(hull)
            rows.append(i)
    order = sorted(range(len(hulls)), key=lambda j: len(hulls[j]))  # similar sizes pad little
    for start in range(0, len(order), _FERET_CHUNK):
        chunk = order[start:start + _FERET_CHUNK]
        big, small = _hull_ferets([hulls[j] for j in chunk])
        dmax[[rows[j] for j in chunk]], dmin[[rows[j] for j in chunk]] = big, small
    return dmax, dmin


_FERET_CHUNK = 16  # hulls per batched Feret computation (measured best of 8-1000)


def _hull_ferets(hulls: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(max, min) Feret diameters of convex hulls (each >= 3 vertices), padded to one length."""
    m = max(len(h) for h in hulls)
    hull = np.stack([np.concatenate([h, np.repeat(h[-1:], m - len(h), 0)]) for h in hulls])  # (N, M, 2)
    x, y = hull[..., 0], hull[..., 1]
    dx, dy = x[:, :, None] - x[:, None, :], y[:, :, None] - y[:, None, :]
    dmax = np.sqrt((dx * dx + dy * dy).max(axis=(1, 2)))
    ex, ey = np.roll(x, -1, axis=1) - x, np.roll(y, -1, axis=1) - y
    lengths = np.hypot(ex, ey)
    ok = lengths > 1e-12
    nx, ny = -ey / np.where(ok, lengths, 1.0), ex / np.where(ok, lengths, 1.0)
    # distance of every vertex (axis 2) from the line of every edge (axis 1)
    widths = np.abs(-dx * nx[:, :, None] - dy * ny[:, :, None]).max(axis=2)
    return dmax, np.where(ok, widths, np.inf).min(axis=1)


def polygon_area(points: np.ndarray) -> float:
    """Area of a simple polygon (shoelace), in the squared unit of its points."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    twice = np.dot(x[:-1], y[1:]) + x[-1] * y[0] - np.dot(y[:-1], x[1:]) - y[-1] * x[0]
    return float(abs(twice) / 2)


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


def _local_mm_per_px(scale: Scale, H: np.ndarray | None, xy: np.ndarray) -> np.ndarray:
    """mm per px at image points (N, 2): sqrt|det J| of the homography, else the scalar scale."""
    if H is None:
        return np.full(len(xy), float(scale.mm_per_px))
    return np.sqrt(np.abs(jacobian_det(H, xy[:, 0], xy[:, 1])))


def _centroid(cand: Candidate, pts: np.ndarray) -> tuple[float, float]:
    """Mean (x, y) of the candidate's mask pixels (of its outline when the mask is empty)."""
    ys, xs = np.nonzero(cand.mask)
    if xs.size:
        return cand.bbox[0] + float(xs.mean()), cand.bbox[1] + float(ys.mean())
    return float(pts[:, 0].mean()), float(pts[:, 1].mean())


def _contour_px(cand: Candidate, tail_px: float = math.inf) -> tuple[np.ndarray, float, float, float]:
    """Outline (x, y) px, area px, edge width px and size gain (RefinedCandidate.size_gain) of a
    candidate (sub-pixel when refined; without thin tails where it measures under `tail_px`,
    _without_tails)."""
    if isinstance(cand, RefinedCandidate) and len(cand.contour) >= 3:
        pts, kept = _without_tails(np.asarray(cand.contour, dtype=np.float64), tail_px)
        return pts, cand.area_px * kept, cand.edge_width_px, cand.size_gain
    m = np.ascontiguousarray(cand.mask, dtype=np.uint8)
    cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    x0, y0 = cand.bbox[0], cand.bbox[1]
    if not cs:
        return np.array([[x0, y0]], np.float64), 0.0, 0.0, 1.0
    c = max(cs, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
    c = pixel_edges(c)
    if len(c) > 64:
        c = c[np.linspace(0, len(c), 64, endpoint=False).astype(int)]
    return c + (x0, y0), float(m.sum()), 0.0, 1.0


# A tail is a part of an outline under 2 x TAIL_OPEN_FRAC of its widest inscribed disc's radius wide,
# at most TAIL_MAX_AREA_FRAC of its area, that lengthens its max Feret by over TAIL_MIN_GAIN, on a spot
# measured under TAIL_MAX_MM with it. Ovals up to an aspect of 2.5 keep their length (3: 5 % shorter).
# From 4 mm (purpura, bruises) a spot's own lobes are its size: trimmed there too, the median relative
# size error from 4 mm rose on every dev set (generator 36000..: 3.99 -> 4.14 %), and gated on the
# size without the tail, purpura of just over 4 mm became borderline (bench_rules held-out: 1 -> 3).
TAIL_OPEN_FRAC = 0.6
TAIL_MAX_MM = 4.0
TAIL_MAX_AREA_FRAC = 0.2
TAIL_MIN_GAIN = 1.05
# only outlines whose max Feret is this many times their equal-area diameter are looked at: a disc's
# is 1, the tailed petechiae's 1.17-1.6 (an oval of aspect 1.4 is at 1.18, and is left as it is anyway)
TAIL_MIN_RATIO = 1.12
_TAIL_RASTER_PX = 96  # the outline is opened on a raster at most this many px across


def _without_tails(pts: np.ndarray, max_feret_px: float = math.inf) -> tuple[np.ndarray, float]:
    """An outline (n x 2 px) without its thin tails, and the share of its area kept (1.0: unchanged);
    unchanged where it measures `max_feret_px` or more.

    A petechia's half-maximum outline can run on along a hair or into a faint neighbour too small to
    split off, as a strip a px or two wide: the max Feret, the clinical size, takes the strip's whole
    length (dev `bench_rules.py` photos 73000..: 1-1.8 mm petechiae measured 2.0-3.1 mm, their max
    Feret 1.2-1.6x their equal-area diameter). An opening by a disc of TAIL_OPEN_FRAC of the widest
    inscribed disc's radius takes such strips off and leaves round and oval shapes up to an aspect of
    about 2.5 as they are; it is kept only where it takes a small part away and shortens the max Feret.
    """
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = float(max(hi - lo))
    if len(pts) < 8 or span <= 0 or span >= max_feret_px:
        return pts, 1.0
    feret = max_feret(pts)
    if feret >= max_feret_px or feret < TAIL_MIN_RATIO * 2.0 * math.sqrt(max(polygon_area(pts), 1e-9) / math.pi):
        return pts, 1.0  # as compact as a disc: no tail to take off
    u = min(8.0, _TAIL_RASTER_PX / span)  # raster px per image px
    pad = 3
    side = int(math.ceil(span * u)) + 2 * pad + 1
    m = np.zeros((side, side), np.uint8)
    cv2.fillPoly(m, [np.round(((pts - lo) * u + pad) * 8).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=3)
    dist = cv2.distanceTransform(m, cv2.DIST_L2, 5)
    radius = TAIL_OPEN_FRAC * float(dist.max())
    if radius < 1.0:
        return pts, 1.0
    # opening by a disc: within `radius` of the points at least `radius` inside (two distance transforms)
    core = (dist < radius).astype(np.uint8)
    opened = (cv2.distanceTransform(core, cv2.DIST_L2, 5) <= radius).astype(np.uint8) & m
    whole, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cs, _ = cv2.findContours(opened, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not cs or not whole:
        return pts, 1.0
    c = max(cs, key=cv2.contourArea)
    kept = cv2.contourArea(c) / max(cv2.contourArea(max(whole, key=cv2.contourArea)), 1e-9)
    if not 1.0 - TAIL_MAX_AREA_FRAC <= kept < 0.999:
        return pts, 1.0
    new = (c.reshape(-1, 2).astype(np.float64) - pad) / u + lo
    cen = new.mean(axis=0)
    d = new - cen
    new = new + 0.5 / u * d / np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)[:, None]  # pixel centres -> edges
    if len(new) > 64:
        new = new[np.linspace(0, len(new), 64, endpoint=False).astype(int)]
    trimmed = max_feret(new)
    if feret <= TAIL_MIN_GAIN * trimmed:
        return pts, 1.0
    return new, float(kept)


def _colours(image: np.ndarray, cands: list[Candidate]) -> list[tuple[tuple[float, float, float],
                                                                   tuple[float, float, float]]]:
    """Mean CIELAB of each spot and of a ring of skin around it (2 px gap, ~ half a radius wide).

    CIELAB of the spot's small crop only; the means are masked sums (cv2.mean), never a gather of
    the pixels (which costs more than the conversion for a large bruise's ring).
    """
    return [_spot_and_skin_lab(image, cand) for cand in cands]


def _spot_and_skin_lab(image: np.ndarray, cand: Candidate) -> tuple[tuple[float, float, float],
                                                                   tuple[float, float, float]]:
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
    away = cv2.distanceTransform((m == 0).astype(np.uint8), cv2.DIST_L2, 3)  # px from the spot
    ring = ((away > gap) & (away <= r + gap)).astype(np.uint8)
    lab = to_lab(crop)
    spot = cv2.mean(lab, mask=m) if m.any() else cv2.mean(lab)
    skin = cv2.mean(lab, mask=ring) if ring.any() else cv2.mean(lab)
    return (spot[0], spot[1], spot[2]), (skin[0], skin[1], skin[2])
