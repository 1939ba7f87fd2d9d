"""Camera shake: the smear all small spots of a photo share, and their outlines measured across it.

A photo taken while the camera moved smears every spot along one direction by one length L (a
line kernel). A step edge smeared by a line keeps its half-way point, so a spot wider than L along
the smear keeps its half-maximum outline there; one narrower than L is drawn about L long, its
light spread over L. Its length along the smear then tells L, not its size. Petechiae are round,
so such a spot's size along the smear is taken to be its width across it (a spot is only ever
shrunk towards round, never grown). Coordinates are (x, y) image px; angles from the x axis
towards y (down), in degrees 0-180.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from spotscale.data.types import Candidate
from spotscale.inference.segment import RefinedCandidate

SHAKE_MAX_PX = 40.0  # spots up to this long (px) tell the smear: a larger spot is little changed by it
SHAKE_MIN_SPOTS = 8  # ...and at least this many must
SHAKE_MIN_AGREEMENT = 0.85  # ...point along one direction: mean resultant length of their doubled angles
SHAKE_MIN_ELONGATION = 1.3  # ...and their median elongation (long over short axis) reach this
STREAK_ELONGATION = 1.4  # spots this elongated within STREAK_ANGLE_DEG of the smear measure its length
STREAK_ANGLE_DEG = 20.0
STREAK_REACH = 1.25  # outlines at most this x the smear's length along it are taken for smeared spots


@dataclass(frozen=True)
class Shake:
    """The smear found: its direction (deg), its length (px) and how many spots told it."""

    direction_deg: float
    length_px: float
    n_spots: int

    def describe(self) -> dict:
        """For result.json."""
        return {"direction_deg": round(self.direction_deg, 1), "length_px": round(self.length_px, 2),
                "n_spots": self.n_spots}


def _axes(contour: np.ndarray) -> tuple[float, float] | None:
    """(orientation in radians, elongation) of a closed outline from its second moments; None if degenerate."""
    m = cv2.moments(contour.astype(np.float32).reshape(-1, 1, 2))
    if m["m00"] <= 1e-6:
        return None
    a, b, c = m["mu20"] / m["m00"], m["mu02"] / m["m00"], m["mu11"] / m["m00"]
    root = math.sqrt(0.25 * (a - b) ** 2 + c * c)
    big, small = 0.5 * (a + b) + root, 0.5 * (a + b) - root
    if small <= 1e-9:
        return None
    return 0.5 * math.atan2(2 * c, a - b), math.sqrt(big / small)


def _extents(contour: np.ndarray, theta: float) -> tuple[float, float]:
    """The outline's extent along direction theta (radians) and across it, px."""
    u = np.array([math.cos(theta), math.sin(theta)])
    v = np.array([-u[1], u[0]])
    pu, pv = contour @ u, contour @ v
    return float(pu.max() - pu.min()), float(pv.max() - pv.min())


def _outline(c: Candidate) -> np.ndarray | None:
    if isinstance(c, RefinedCandidate) and len(c.contour) >= 5:
        return np.asarray(c.contour, np.float64)
    return None


def find_shake(cands: list[Candidate] | tuple[Candidate, ...]) -> Shake | None:
    """The smear the photo's small spots share, or None (no shake, or too few spots to tell).

    Each small spot's orientation is weighted by how elongated it is; the smear is where they
    agree (doubled angles, so 0 and 180 deg are one direction). Its length is the median extent
    along it of the spots clearly drawn out along it.
    """
    rows = []
    for c in cands:
        pts = _outline(c)
        if pts is None:
            continue
        ax = _axes(pts)
        if ax is None or _extents(pts, ax[0])[0] > SHAKE_MAX_PX:
            continue
        rows.append((pts, *ax))
    if len(rows) < SHAKE_MIN_SPOTS:
        return None
    theta = np.array([r[1] for r in rows])
    elong = np.array([r[2] for r in rows])
    w = np.clip(elong - 1.0, 0.0, 2.0)
    if w.sum() <= 0 or float(np.median(elong)) < SHAKE_MIN_ELONGATION:
        return None
    z = np.sum(w * np.exp(2j * theta)) / w.sum()
    if abs(z) < SHAKE_MIN_AGREEMENT:
        return None
    direction = float(np.angle(z)) / 2.0
    off = np.abs((theta - direction + math.pi / 2) % math.pi - math.pi / 2)
    streaks = [pts for (pts, _, e), o in zip(rows, off) if e >= STREAK_ELONGATION and o <= math.radians(STREAK_ANGLE_DEG)]
    if len(streaks) < SHAKE_MIN_SPOTS // 2:
        return None
    length = float(np.median([_extents(p, direction)[0] for p in streaks]))
    return Shake(math.degrees(direction) % 180.0, length, len(streaks))


def unstreak(cands: list[Candidate] | tuple[Candidate, ...], shake: Shake) -> tuple[list[Candidate], set[int]]:
    """The candidates with each smeared spot's outline shrunk along the smear to its width across it;
    and the indices of those changed.

    A spot is taken for smeared when its outline is at most STREAK_REACH x the smear's length along
    it: a wider spot kept its outline. Only the outline (and its area) changes; the mask, which the
    colours are read from, stays the smeared one."""
    theta = math.radians(shake.direction_deg)
    u = np.array([math.cos(theta), math.sin(theta)])
    out, changed = [], set()
    for i, c in enumerate(cands):
        pts = _outline(c)
        if pts is not None:
            along, across = _extents(pts, theta)
            if along <= STREAK_REACH * shake.length_px and 0 < across < along:
                k = across / along
                cen = pts.mean(axis=0)
                d = pts - cen
                pts = cen + d + np.outer((k - 1.0) * (d @ u), u)
                c = replace(c, contour=tuple(map(tuple, pts.tolist())), area_px=c.area_px * k,
                            seen_area_px=c.seen_area_px * k)
                changed.add(i)
        out.append(c)
    return out, changed
