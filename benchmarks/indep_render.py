"""An independently written renderer of skin photos with bleeding spots, for generalisation checks.

Written without reference to data/synth*.py, from a physical picture of skin photos: the skin is a
plane in millimetres with a linear-RGB reflectance; pigments act by Beer-Lambert absorbance
(reflectance * exp(-sum density * eps_channel)) with per-absorber channel coefficients (oxygenated
haemoglobin absorbs green and blue; deoxygenated haemoglobin more red; bilirubin blue; melanin
everything, more so blue). The plane is rendered at about the photo's resolution and warped to the
image by a known mild perspective homography; then lighting, background, white balance, vignetting,
blur, noise and JPEG act as a camera would.

Truth: every annotated spot is a density field d(u, v) on the plane; its mask is d >= half its peak,
its diameter the max Feret of that mask on the plane (measured on a grid ~1/100 of the spot's size).
Image masks are the same rule evaluated at the plane point of every pixel centre.

    .venv/bin/python benchmarks/indep_render.py OUT_DIR [--n 48] [--seed0 930000]
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import map_coordinates

# channel absorbance per unit density (linear R, G, B)
EPS: dict[str, tuple[float, float, float]] = {
    "oxy": (0.10, 1.55, 1.20),        # bright red: cherry angiomas, fresh blood
    "fresh": (0.28, 1.60, 1.00),      # red to purple-red
    "deoxy": (0.60, 1.50, 0.70),      # purple
    "bruise": (0.95, 1.20, 0.55),     # blue-purple (old ecchymosis core)
    "bilirubin": (0.12, 0.40, 1.30),  # yellow
    "biliverdin": (0.75, 0.25, 0.95),  # yellow-green
    "melanin": (0.55, 0.85, 1.25),    # brown
    "ink": (1.30, 1.05, 0.60),        # blue-black tattoo ink
    "grey": (1.0, 1.0, 1.0),
}
HEMORRHAGIC = ("petechia", "purpura", "ecchymosis")
SIZES = ((1600, 1200), (4000, 3000), (640, 480))
SIZE_WEIGHTS = (0.7, 0.15, 0.15)
MM_PER_PX = {1600: (0.04, 0.11), 4000: (0.018, 0.04), 640: (0.12, 0.21)}
REFERENCES = ("aruco", "ruler", "sticker", "none")
REFERENCE_WEIGHTS = (0.45, 0.2, 0.2, 0.15)
MARKER_MM = 20.0


@dataclass(frozen=True)
class TruthSpot:
    """One annotated object: category, kind, centre px, image mask crop (bbox x0, y0, w, h), plane diameter."""

    category: str  # petechia | purpura | ecchymosis | other
    kind: str  # e.g. "petechia", "mole", "angioma", "bite", "freckle"
    x: float
    y: float
    bbox: tuple[int, int, int, int]
    mask: np.ndarray = field(repr=False, compare=False)
    diameter_mm: float = 0.0


@dataclass(frozen=True)
class RenderedPhoto:
    """One rendered photo (RGB uint8 as decoded from its JPEG) and its truth."""

    image: np.ndarray = field(repr=False)
    jpeg: bytes = field(repr=False)
    spots: tuple[TruthSpot, ...]
    mm_per_px: float  # true scale at the reference centre (image centre when none)
    reference: str  # aruco | ruler | sticker | none
    sticker_mm: float | None
    ita: float
    meta: dict


# ------------------------------------------------------------------------------ geometry


def _homography(rng: np.random.Generator, w: int, h: int, mmpp: float) -> np.ndarray:
    """Image px -> plane mm: rotation + scale about the centre, with a mild perspective term."""
    c = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1]], float)
    tilt = rng.uniform(0.03, 0.14)  # relative scale change from centre to the long edge
    ang = rng.uniform(0, 2 * math.pi)
    p = np.array([[1, 0, 0], [0, 1, 0], [tilt * math.cos(ang) / (w / 2), tilt * math.sin(ang) / (w / 2), 1]])
    phi = rng.uniform(-math.pi, math.pi)
    s = np.array([[mmpp * math.cos(phi), -mmpp * math.sin(phi), 0],
                  [mmpp * math.sin(phi), mmpp * math.cos(phi), 0], [0, 0, 1]])
    return s @ p @ c


def _apply(hm: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = hm[2, 0] * x + hm[2, 1] * y + hm[2, 2]
    return (hm[0, 0] * x + hm[0, 1] * y + hm[0, 2]) / d, (hm[1, 0] * x + hm[1, 1] * y + hm[1, 2]) / d


def local_mm_per_px(hm: np.ndarray, x: float, y: float) -> float:
    """sqrt |det J| of the image->plane homography at image point (x, y)."""
    e = 0.5
    u1, v1 = _apply(hm, np.array([x - e, x + e, x, x]), np.array([y, y, y - e, y + e]))
    j = np.array([[u1[1] - u1[0], u1[3] - u1[2]], [v1[1] - v1[0], v1[3] - v1[2]]]) / (2 * e)
    return float(math.sqrt(abs(np.linalg.det(j))))


# ------------------------------------------------------------------------------ noise


def _octaves(rng: np.random.Generator, shape: tuple[int, int], cells_px: list[float], amps: list[float]) -> np.ndarray:
    """Multi-octave value noise (bicubic-upsampled random lattices), float32, roughly unit scale."""
    h, w = shape
    out = np.zeros(shape, np.float32)
    for cell, amp in zip(cells_px, amps):
        cell = max(cell, 1.5)
        gh, gw = int(h / cell) + 3, int(w / cell) + 3
        g = rng.standard_normal((gh, gw)).astype(np.float32)
        big = cv2.resize(g, (int(gw * cell), int(gh * cell)), interpolation=cv2.INTER_CUBIC)
        out += amp * big[:h, :w]
    return out


class _Lattice:
    """Smooth random field over plane mm, evaluable anywhere (cubic spline on a random lattice)."""

    def __init__(self, rng: np.random.Generator, origin: tuple[float, float], extent_mm: float, cell_mm: float):
        n = int(extent_mm / cell_mm) + 4
        self.g = rng.standard_normal((n, n)).astype(np.float32)
        self.o, self.cell = (origin[0] - 2 * cell_mm, origin[1] - 2 * cell_mm), cell_mm

    def __call__(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return map_coordinates(self.g, [(v - self.o[1]) / self.cell, (u - self.o[0]) / self.cell],
                               order=3, mode="nearest")


# ------------------------------------------------------------------------------ blobs


@dataclass
class Blob:
    """A pigment blob on the plane: irregular soft disc, optional mottling and colour gradient."""

    category: str
    kind: str
    cu: float
    cv: float
    radius_mm: float
    peak: float
    edge_mm: float
    eps_core: tuple[float, float, float]
    eps_edge: tuple[float, float, float] | None = None
    aspect: float = 1.0
    angle: float = 0.0
    harmonics: tuple[tuple[float, float], ...] = ()  # (amplitude, phase) of orders 2, 3, ...
    mottle: float = 0.0
    noise: _Lattice | None = None
    gloss: float = 0.0  # specular dome highlight (angiomas, moles)

    def _rho_r(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        du, dv = u - self.cu, v - self.cv
        ca, sa = math.cos(self.angle), math.sin(self.angle)
        a, b = (ca * du + sa * dv) / self.aspect, (-sa * du + ca * dv) * self.aspect
        rho, th = np.hypot(a, b), np.arctan2(b, a)
        r = np.full_like(rho, self.radius_mm)
        for k, (amp, ph) in enumerate(self.harmonics, start=2):
            r = r * (1 + amp * np.cos(k * th + ph))
        return rho, r

    def density(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        rho, r = self._rho_r(u, v)
        d = self.peak / (1 + np.exp(-np.clip((r - rho) / self.edge_mm, -40, 40)))
        if self.mottle and self.noise is not None:
            d = d * (1 + self.mottle * np.tanh(self.noise(u, v)))
        return d

    def absorbance(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        d = self.density(u, v)[..., None]
        core = np.asarray(self.eps_core, np.float32)
        if self.eps_edge is None:
            return d * core
        rho, r = self._rho_r(u, v)
        t = np.clip((rho / r - 0.35) / 0.8, 0, 1)[..., None]
        return d * (core * (1 - t) + np.asarray(self.eps_edge, np.float32) * t)

    def extent_mm(self) -> float:
        amp = sum(a for a, _ in self.harmonics)
        return self.radius_mm * max(self.aspect, 1 / self.aspect) * (1 + amp) * (1 + self.mottle) + 6 * self.edge_mm

    def truth_diameter_mm(self) -> tuple[float, float]:
        """(max Feret of the half-peak mask on the plane, peak) from a fine grid."""
        ext = self.extent_mm()
        step = max(2 * ext / 160, 0.002)
        g = np.arange(-ext, ext + step, step, dtype=np.float64)
        uu, vv = np.meshgrid(self.cu + g, self.cv + g)
        d = self.density(uu, vv)
        peak = float(d.max())
        m = (d >= 0.5 * peak).astype(np.uint8)
        cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        pts = cv2.convexHull(np.concatenate(cs)).reshape(-1, 2).astype(float)
        diff = pts[:, None, :] - pts[None, :, :]
        return float(np.sqrt((diff ** 2).sum(-1)).max() * step + step), peak


def _mix(rng: np.random.Generator, names: tuple[str, ...]) -> tuple[float, float, float]:
    w = rng.dirichlet(np.ones(len(names)))
    return tuple(float(sum(wi * EPS[n][c] for wi, n in zip(w, names))) for c in range(3))


def _harm(rng: np.random.Generator, n: int, amp: float) -> tuple[tuple[float, float], ...]:
    return tuple((float(rng.uniform(0, amp) / (k + 1)), float(rng.uniform(0, 2 * math.pi))) for k in range(n))


def petechia(rng, cu, cv) -> Blob:
    """0.3-2 mm pinpoint red to purple-red dot."""
    d = float(np.clip(rng.lognormal(math.log(0.8), 0.45), 0.3, 2.0))
    return Blob("petechia", "petechia", cu, cv, d / 2, float(rng.uniform(0.6, 1.5)),
                d * rng.uniform(0.04, 0.12), _mix(rng, ("oxy", "fresh", "deoxy")),
                aspect=float(rng.uniform(1.0, 1.2)), angle=float(rng.uniform(0, 3.2)), harmonics=_harm(rng, 2, 0.08))


def purpura(rng, cu, cv) -> Blob:
    """3-10 mm purple-red irregular patch, mottled."""
    d = float(rng.uniform(3.0, 10.0))
    return Blob("purpura", "purpura", cu, cv, d / 2, float(rng.uniform(0.5, 1.2)), d * rng.uniform(0.03, 0.08),
                _mix(rng, ("fresh", "deoxy", "bruise")), aspect=float(rng.uniform(1.0, 1.4)),
                angle=float(rng.uniform(0, 3.2)), harmonics=_harm(rng, 4, 0.25), mottle=float(rng.uniform(0.05, 0.2)),
                noise=_Lattice(rng, (cu - d, cv - d), 2 * d, d / 5))


def ecchymosis(rng, cu, cv, max_d: float) -> Blob:
    """10-40 mm bruise, blue-purple core, yellow-green soft edges."""
    d = float(rng.uniform(10.0, max(10.5, min(40.0, max_d))))
    age = rng.uniform(0, 1)
    core = _mix(rng, ("deoxy", "bruise")) if age < 0.7 else _mix(rng, ("bruise", "biliverdin"))
    edge = _mix(rng, ("bilirubin", "biliverdin")) if age > 0.3 else None
    return Blob("ecchymosis", "ecchymosis", cu, cv, d / 2, float(rng.uniform(0.35, 0.9)), d * rng.uniform(0.06, 0.14),
                core, edge, aspect=float(rng.uniform(1.0, 1.5)), angle=float(rng.uniform(0, 3.2)),
                harmonics=_harm(rng, 5, 0.3), mottle=float(rng.uniform(0.1, 0.25)),
                noise=_Lattice(rng, (cu - d, cv - d), 2 * d, d / 6))


def confounder(rng, kind: str, cu, cv) -> Blob:
    """Non-hemorrhagic skin objects annotated as `other`."""
    if kind == "angioma":  # cherry angioma: bright red dome, sharp edge, 1-4 mm
        d = float(rng.uniform(1.0, 4.0))
        return Blob("other", kind, cu, cv, d / 2, float(rng.uniform(1.5, 2.6)), d * 0.03, EPS["oxy"],
                    aspect=float(rng.uniform(1, 1.15)), gloss=float(rng.uniform(0.15, 0.4)))
    if kind == "mole":  # brown to black, 2-6 mm
        d = float(rng.uniform(2.0, 6.0))
        return Blob("other", kind, cu, cv, d / 2, float(rng.uniform(0.8, 2.6)), d * 0.04,
                    _mix(rng, ("melanin", "melanin", "grey")), aspect=float(rng.uniform(1, 1.25)),
                    angle=float(rng.uniform(0, 3.2)), harmonics=_harm(rng, 3, 0.1), gloss=float(rng.uniform(0, 0.15)))
    if kind == "bite":  # pink, soft-edged, 3-8 mm wheal
        d = float(rng.uniform(3.0, 8.0))
        return Blob("other", kind, cu, cv, d / 2, float(rng.uniform(0.15, 0.4)), d * rng.uniform(0.12, 0.22),
                    _mix(rng, ("oxy", "fresh")), aspect=float(rng.uniform(1, 1.3)), angle=float(rng.uniform(0, 3.2)),
                    harmonics=_harm(rng, 3, 0.15))
    d = float(rng.uniform(1.0, 4.0))  # freckle
    return Blob("other", "freckle", cu, cv, d / 2, float(rng.uniform(0.15, 0.45)), d * 0.12, EPS["melanin"],
                aspect=float(rng.uniform(1, 1.4)), angle=float(rng.uniform(0, 3.2)), harmonics=_harm(rng, 4, 0.3))


# ------------------------------------------------------------------------------ skin


def skin_colour(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Linear-RGB base reflectance and ITA (deg): ITA drawn over very light to dark (Del Bino bands)."""
    ita = float(rng.uniform(-55.0, 65.0))
    b = float(rng.uniform(12.0, 22.0))
    lum = float(np.clip(50 + b * math.tan(math.radians(ita)), 24.0, 76.0))
    ita = math.degrees(math.atan2(lum - 50, b))
    a = float(rng.uniform(6.0, 12.0))
    lab = np.array([[[lum, a, b]]], np.float32)
    srgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)[0, 0].clip(0, 1)
    return _lin(srgb).astype(np.float32), ita


def _lin(s: np.ndarray) -> np.ndarray:
    return np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4)


def _srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def _skin_absorbance(rng, shape, res: float) -> np.ndarray:
    """Texture absorbance on the plane raster: melanin/erythema variation, value-noise grain, creases, pores."""
    h, w = shape
    a = np.zeros((h, w, 3), np.float32)
    grain = _octaves(rng, shape, [12 / res, 3 / res, 0.8 / res, 0.25 / res], [0.05, 0.035, 0.025, 0.02])
    a += grain[..., None] * np.asarray(EPS["grey"], np.float32)
    mel = _octaves(rng, shape, [25 / res, 6 / res], [0.08, 0.04])
    a += mel[..., None] * np.asarray(EPS["melanin"], np.float32) * rng.uniform(0.3, 1.0)
    ery = np.maximum(_octaves(rng, shape, [18 / res, 5 / res], [1.0, 0.5]), 0)
    a += ery[..., None] * np.asarray(EPS["fresh"], np.float32) * rng.uniform(0.0, 0.08)
    lines = np.zeros(shape, np.float32)
    theta = rng.uniform(0, math.pi)
    n_lines = int(w * h * res * res / 40)
    for _ in range(n_lines):  # fine creases: short strokes around two dominant directions
        t = theta + rng.choice([0, 1.1]) + rng.normal(0, 0.15)
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        ln = rng.uniform(2, 9) / res
        cv2.line(lines, (int(x), int(y)), (int(x + ln * math.cos(t)), int(y + ln * math.sin(t))),
                 float(rng.uniform(0.3, 1)), 1, cv2.LINE_AA)
    lines = cv2.GaussianBlur(lines, (0, 0), max(0.6, 0.05 / res))
    a += lines[..., None] * rng.uniform(0.05, 0.15)
    pores = np.zeros(shape, np.float32)
    n_pores = int(w * h * res * res * rng.uniform(0.3, 1.2))
    xs, ys = rng.integers(0, w, n_pores), rng.integers(0, h, n_pores)
    pores[ys, xs] = rng.uniform(0.5, 1.0, n_pores)
    pores = cv2.GaussianBlur(pores, (0, 0), max(0.5, 0.06 / res)) * (1.0 / max(0.3, 0.06 / res)) ** 2 * 0.15
    a += np.minimum(pores, 0.4)[..., None] * np.asarray(EPS["melanin"], np.float32) * 0.6
    return a


def _hair(rng, shape, res: float, dark: float) -> np.ndarray:
    """Dark curved hairs (anti-aliased polylines) as a coverage map."""
    h, w = shape
    m = np.zeros(shape, np.float32)
    n = int(rng.choice([0, 0, 3, 10, 30]) * w * h * res * res / 1e4)
    base = rng.uniform(0, 2 * math.pi)
    for _ in range(n):
        x, y, t = rng.uniform(0, w), rng.uniform(0, h), base + rng.normal(0, 0.5)
        ln, bend = rng.uniform(5, 25) / res, rng.normal(0, 0.04)
        pts = []
        for k in range(12):
            pts.append((x, y))
            x, y, t = x + ln / 11 * math.cos(t), y + ln / 11 * math.sin(t), t + bend
        thick = max(1, int(round(rng.uniform(0.04, 0.1) / res)))
        cv2.polylines(m, [np.round(np.array(pts) * 4).astype(np.int32)], False, float(rng.uniform(0.5, 1)),
                      thick, cv2.LINE_AA, shift=2)
    return m * dark


# ------------------------------------------------------------------------------ references


def _supersample(fn, u: np.ndarray, v: np.ndarray, step: float, k: int = 4) -> np.ndarray:
    acc = 0
    for i in range(k):
        for j in range(k):
            acc = acc + fn(u + (i + 0.5) / k * step - step / 2, v + (j + 0.5) / k * step - step / 2)
    return acc / (k * k)


def _marker_fn(cu, cv, ang, cells: np.ndarray, margin: float):
    side = MARKER_MM
    half = side / 2 + margin

    def fn(u, v):  # (coverage of paper, reflectance factor)
        ca, sa = math.cos(ang), math.sin(ang)
        a, b = ca * (u - cu) + sa * (v - cv), -sa * (u - cu) + ca * (v - cv)
        paper = (np.abs(a) <= half) & (np.abs(b) <= half)
        i = np.floor((b + side / 2) / side * 6).astype(int)
        j = np.floor((a + side / 2) / side * 6).astype(int)
        inside = (i >= 0) & (i < 6) & (j >= 0) & (j < 6)
        white = np.where(inside, cells[np.clip(i, 0, 5), np.clip(j, 0, 5)] > 0, True)
        return np.stack([paper.astype(np.float32), np.where(white, 1.0, 0.05).astype(np.float32)])
    return fn, half * 1.5


def _ruler_fn(cu, cv, ang, length, width):
    def fn(u, v):
        ca, sa = math.cos(ang), math.sin(ang)
        s, t = ca * (u - cu) + sa * (v - cv), -sa * (u - cu) + ca * (v - cv)
        body = (np.abs(s) <= length / 2) & (t >= 0) & (t <= width)
        mm = s + length / 2
        k = np.round(mm)
        tick_len = np.where(k % 10 == 0, 6.0, np.where(k % 5 == 0, 4.5, 3.0))
        tick = (np.abs(mm - k) < 0.075) & (t <= tick_len) & (mm > 1) & (mm < length - 1)
        return np.stack([body.astype(np.float32), np.where(tick, 0.06, 1.0).astype(np.float32)])
    return fn, math.hypot(length / 2, width) + 1


def _sticker_fn(cu, cv, diam):
    def fn(u, v):
        inside = np.hypot(u - cu, v - cv) <= diam / 2
        return np.stack([inside.astype(np.float32), np.ones_like(u, np.float32)])
    return fn, diam / 2 + 1


# ------------------------------------------------------------------------------ render


class _Plane:
    """The plane raster: plane mm (u, v) <-> raster px (col, row), pixel centres at integers."""

    def __init__(self, hm: np.ndarray, w: int, h: int, res: float):
        cu, cv = _apply(hm, np.array([0, w, w, 0], float), np.array([0, 0, h, h], float))
        self.res = res
        self.u0, self.v0 = float(cu.min()) - 2 * res, float(cv.min()) - 2 * res
        self.w = int((cu.max() - self.u0) / res) + 3
        self.h = int((cv.max() - self.v0) / res) + 3

    def grid(self, u0: float, v0: float, u1: float, v1: float):
        c0, r0 = max(0, int((u0 - self.u0) / self.res)), max(0, int((v0 - self.v0) / self.res))
        c1, r1 = min(self.w, int((u1 - self.u0) / self.res) + 2), min(self.h, int((v1 - self.v0) / self.res) + 2)
        if c1 <= c0 or r1 <= r0:
            return None
        uu, vv = np.meshgrid(self.u0 + np.arange(c0, c1) * self.res, self.v0 + np.arange(r0, r1) * self.res)
        return (slice(r0, r1), slice(c0, c1)), uu, vv

    def to_image(self, hm_img_from_plane: np.ndarray) -> np.ndarray:
        t = np.array([[self.res, 0, self.u0], [0, self.res, self.v0], [0, 0, 1]])
        return hm_img_from_plane @ t


def _place(rng, hm, w, h, taken: list, r_mm: float, skin: np.ndarray, tries: int = 60,
           near: tuple[float, float, float] | None = None, blockers: tuple = ()):
    """A free plane point (u, v) whose image point is on skin, inside the frame, off other objects.

    `blockers`: reference coverage functions (u, v) -> (coverage, value); a spot never lies under or
    within 1 mm of a reference.
    """
    hinv = np.linalg.inv(hm)
    for _ in range(tries):
        if near is None:
            x, y = rng.uniform(0.04 * w, 0.96 * w), rng.uniform(0.04 * h, 0.96 * h)
            u, v = _apply(hm, np.array([x]), np.array([y]))
            u, v = float(u[0]), float(v[0])
        else:
            rr, aa = near[2] * math.sqrt(rng.uniform()), rng.uniform(0, 2 * math.pi)
            u, v = near[0] + rr * math.cos(aa), near[1] + rr * math.sin(aa)
        xi, yi = _apply(hinv, np.array([u]), np.array([v]))
        xi, yi = float(xi[0]), float(yi[0])
        r_px = r_mm / local_mm_per_px(hm, min(max(xi, 0), w - 1), min(max(yi, 0), h - 1))
        if not (r_px + 2 <= xi <= w - 3 - r_px and r_px + 2 <= yi <= h - 3 - r_px):
            continue
        if not _on_skin(hm, skin, u, v, r_mm):
            continue
        if any(math.hypot(u - tu, v - tv) < r_mm + tr + 0.25 for tu, tv, tr in taken):
            continue
        if blockers and _blocked(blockers, u, v, r_mm + 1.0):
            continue
        taken.append((u, v, r_mm))
        return u, v
    return None


def _on_skin(hm: np.ndarray, skin: np.ndarray, u: float, v: float, r: float) -> bool:
    """Whether the disc (u, v, r mm) lies on skin wherever it is in frame (never over the background)."""
    a = np.linspace(0, 2 * math.pi, 16, endpoint=False)
    x, y = _apply(np.linalg.inv(hm), np.r_[u, u + r * np.cos(a)], np.r_[v, v + r * np.sin(a)])
    h, w = skin.shape
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    return bool(inside[0]) and bool(np.all(skin[y[inside].astype(int), x[inside].astype(int)] >= 0.99))


def _blocked(blockers: tuple, u: float, v: float, r: float) -> bool:
    a = np.linspace(0, 2 * math.pi, 16, endpoint=False)
    uu = np.r_[u, u + r * np.cos(a), u + 0.5 * r * np.cos(a)]
    vv = np.r_[v, v + r * np.sin(a), v + 0.5 * r * np.sin(a)]
    return any(float(fn(uu, vv)[0].max()) > 0 for fn in blockers)


def _skin_mask(rng, w, h) -> np.ndarray:
    """Where the limb is: the whole frame, or one side of a smooth edge (soft 3-8 px)."""
    m = np.ones((h, w), np.float32)
    if rng.uniform() < 0.45:
        return m
    ang = rng.uniform(0, 2 * math.pi)
    nx, ny = math.cos(ang), math.sin(ang)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = (xx - w / 2) * nx + (yy - h / 2) * ny
    off = rng.uniform(0.25, 0.45) * (abs(nx) * w + abs(ny) * h)
    along = (-(xx - w / 2) * ny + (yy - h / 2) * nx) / max(w, h)
    curve = off + 0.06 * max(w, h) * np.sin(along * rng.uniform(1, 4) + rng.uniform(0, 6))
    soft = rng.uniform(1.5, 4) * max(w, h) / 1600
    return (1 / (1 + np.exp(np.clip((d - curve) / soft, -40, 40)))).astype(np.float32)


def _background(rng, w, h) -> np.ndarray:
    """Cloth, table or wall, linear RGB."""
    kind = rng.choice(["cloth", "table", "wall"])
    col = _lin(rng.uniform(0.1, 0.9, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "cloth":
        p = rng.uniform(3, 9) * max(w, h) / 1600
        weave = 1 + 0.12 * np.sin(xx / p) * np.sin(yy / p)
        folds = 1 + 0.25 * _octaves(rng, (h, w), [max(w, h) / 6], [1.0])
        return col * (weave * folds)[..., None]
    if kind == "table":
        streak = 1 + 0.15 * _octaves(rng, (h, w), [max(w, h) / 3], [1.0]) + 0.08 * np.sin(yy / rng.uniform(4, 12))
        return col * streak[..., None]
    return col * (1 + 0.3 * (xx / w - 0.5))[..., None]


def _choose(rng, options, weights):
    return options[int(rng.choice(len(options), p=np.asarray(weights) / sum(weights)))]


def render(seed: int, size: tuple[int, int] | None = None, reference: str | None = None) -> RenderedPhoto:
    """Render one photo (deterministic in seed); size and reference kind drawn unless given."""
    rng = np.random.default_rng(seed)
    w, h = size or _choose(rng, SIZES, SIZE_WEIGHTS)
    lo, hi = MM_PER_PX.get(w, (0.5 * 64 / w * 1.6, 0.5 * 180 / w * 1.6))
    mmpp = float(rng.uniform(lo, hi))
    ref = reference or _choose(rng, REFERENCES, REFERENCE_WEIGHTS)
    hm = _homography(rng, w, h, mmpp)  # image px -> plane mm
    res = min(local_mm_per_px(hm, x, y) for x in (0, w) for y in (0, h))
    plane = _Plane(hm, w, h, res)
    base, ita = skin_colour(rng)
    skin = _skin_mask(rng, w, h)
    absorb = _skin_absorbance(rng, (plane.h, plane.w), res)
    taken: list[tuple[float, float, float]] = []
    refl_over, ref_centre, sticker_mm, ref_fn = _reference(rng, ref, hm, w, h, plane, taken, skin)
    if ref_fn is None:
        ref = "none"  # no room for it in this frame
    blobs = _blobs(rng, hm, w, h, taken, skin, mmpp, (ref_fn,) if ref_fn is not None else ())
    for b in blobs:
        e = b.extent_mm()
        g = plane.grid(b.cu - e, b.cv - e, b.cu + e, b.cv + e)
        if g is not None:
            absorb[g[0]] += b.absorbance(g[1], g[2]).astype(np.float32)
    hair = _hair(rng, (plane.h, plane.w), res, float(rng.uniform(1.5, 3.0)))
    absorb += hair[..., None] * np.asarray(EPS["melanin"], np.float32)
    if rng.uniform() < 0.12:  # tattoo-like ink lines
        ink = np.zeros((plane.h, plane.w), np.float32)
        pts = np.cumsum(rng.normal(0, 40, (8, 2)), axis=0) + [plane.w / 2, plane.h / 2]
        cv2.polylines(ink, [pts.astype(np.int32)], False, 1.0, max(2, int(0.6 / res)), cv2.LINE_AA)
        absorb += ink[..., None] * np.asarray(EPS["ink"], np.float32) * rng.uniform(0.8, 2.0)
    refl = base * np.exp(-absorb)
    del absorb
    if refl_over is not None:
        cov, val = refl_over
        refl = refl * (1 - cov[..., None]) + cov[..., None] * val
    for b in blobs:  # specular dome highlights
        if b.gloss > 0:
            g = plane.grid(b.cu - b.radius_mm, b.cv - b.radius_mm, b.cu + b.radius_mm, b.cv + b.radius_mm)
            if g is not None:
                r2 = ((g[1] - b.cu + 0.3 * b.radius_mm) ** 2 + (g[2] - b.cv + 0.3 * b.radius_mm) ** 2)
                refl[g[0]] += (b.gloss * np.exp(-r2 / (2 * (0.18 * b.radius_mm) ** 2)))[..., None]
    m = plane.to_image(np.linalg.inv(hm))
    img = cv2.warpPerspective(refl, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    del refl
    img = img * skin[..., None] + _background(rng, w, h) * (1 - skin[..., None])
    img = _camera(rng, img, w, h)
    q = int(rng.integers(60, 96))
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
    decoded = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    spots = tuple(t for t in (_truth(b, hm, w, h) for b in blobs) if t is not None)
    cx, cy = ref_centre if ref_centre is not None else (w / 2, h / 2)
    true_mmpp = local_mm_per_px(hm, cx, cy)
    meta = {"seed": seed, "jpeg_quality": q, "nominal_mm_per_px": mmpp, "homography_img_to_mm": hm.tolist()}
    return RenderedPhoto(decoded, buf.tobytes(), spots, true_mmpp, ref, sticker_mm, ita, meta)


def _reference(rng, ref, hm, w, h, plane: _Plane, taken, skin):
    """Draw the reference onto a plane overlay: (coverage, reflectance), its image centre, sticker mm."""
    if ref == "none":
        return None, None, None, None
    ang = float(rng.uniform(0, 2 * math.pi))
    sticker_mm = None
    if ref == "aruco":
        cells = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50).generateImageMarker(int(rng.integers(0, 50)), 6)
        margin = float(rng.uniform(3, 8))
        r_mm = (MARKER_MM / 2 + margin) * 1.45
        tint = _lin(rng.uniform(0.85, 0.97, 3))
        mk = lambda u, v: _marker_fn(u, v, ang, cells, margin)[0]  # noqa: E731
    elif ref == "ruler":
        length, width = float(rng.uniform(50, 110)), float(rng.uniform(15, 28))
        ang = float(rng.choice([0, math.pi / 2, math.pi, 3 * math.pi / 2]) + rng.normal(0, 0.25))
        r_mm = math.hypot(length / 2, width) + 1
        tint = _lin(np.array(_choose(rng, [(0.95, 0.95, 0.92), (0.95, 0.85, 0.3), (0.75, 0.85, 0.95)],
                                     [1, 1, 1])) * rng.uniform(0.85, 1.0))
        mk = lambda u, v: _ruler_fn(u, v, ang, length, width)[0]  # noqa: E731
    else:
        sticker_mm = float(rng.choice([10.0, 12.0, 15.0, 19.0, 25.0]))
        r_mm = sticker_mm / 2 + 1
        tint = _lin(np.array(_choose(rng, [(0.2, 0.7, 0.3), (0.2, 0.4, 0.9), (0.95, 0.85, 0.2), (0.95, 0.95, 0.95)],
                                     [1, 1, 1, 1])))
        mk = lambda u, v: _sticker_fn(u, v, sticker_mm)[0]  # noqa: E731
    # the reference must fit in the frame (rulers may leave it a little), on skin
    pos = _place(rng, hm, w, h, taken, r_mm if ref != "ruler" else min(r_mm, 0.35 * w * plane.res), skin, 200)
    if pos is None:
        return None, None, None, None
    fn = mk(*pos)
    g = plane.grid(pos[0] - r_mm, pos[1] - r_mm, pos[0] + r_mm, pos[1] + r_mm)
    cov = np.zeros((plane.h, plane.w), np.float32)
    val = np.zeros((plane.h, plane.w, 3), np.float32)
    res = _supersample(fn, g[1], g[2], plane.res)
    cov[g[0]] = res[0]
    val[g[0]] = (res[1] / np.maximum(res[0], 1e-6)).clip(0, 1)[..., None] * tint.astype(np.float32)
    xi, yi = _apply(np.linalg.inv(hm), np.array([pos[0]]), np.array([pos[1]]))
    return (cov, val), (float(xi[0]), float(yi[0])), sticker_mm, fn


def _blobs(rng, hm, w, h, taken, skin, mmpp, blockers: tuple = ()) -> list[Blob]:
    """Hemorrhagic spots (scenario drawn per photo) and confounders, placed without overlap."""
    fov = min(w, h) * mmpp
    out: list[Blob] = []
    scen = rng.uniform()
    n_clusters = int(rng.integers(1, 4)) if scen < 0.55 else int(rng.integers(0, 2))
    for _ in range(n_clusters):
        c = _place(rng, hm, w, h, [], 1.0, skin)
        if c is None:
            continue
        rad = float(rng.uniform(4, min(20, fov / 3)))
        for _ in range(int(rng.integers(5, 30))):
            b = petechia(rng, 0, 0)
            p = _place(rng, hm, w, h, taken, b.extent_mm() * 0.6, skin, 20, (c[0], c[1], rad), blockers)
            if p:
                b.cu, b.cv = p
                out.append(b)
    n_purp = int(rng.integers(1, 6)) if 0.35 < scen < 0.85 else int(rng.integers(0, 2))
    n_ecc = int(rng.integers(1, 3)) if scen > 0.7 else 0
    for kind, n in (("purpura", n_purp), ("ecchymosis", n_ecc)):
        for _ in range(n):
            b = purpura(rng, 0, 0) if kind == "purpura" else ecchymosis(rng, 0, 0, fov * 0.45)
            p = _place(rng, hm, w, h, taken, b.radius_mm * 1.3, skin, blockers=blockers)
            if p:
                b.cu, b.cv = p
                if b.noise is not None:
                    b.noise.o = (p[0] - 2 * b.radius_mm - 2 * b.noise.cell, p[1] - 2 * b.radius_mm - 2 * b.noise.cell)
                out.append(b)
    area_cm2 = w * h * mmpp * mmpp / 100
    for kind, per_cm2 in (("freckle", rng.choice([0, 0, 0.1, 0.5])), ("mole", 0.02), ("angioma", 0.02), ("bite", 0.01)):
        for _ in range(rng.poisson(per_cm2 * area_cm2)):
            b = confounder(rng, kind, 0, 0)
            p = _place(rng, hm, w, h, taken, b.extent_mm() * 0.7, skin, blockers=blockers)
            if p:
                b.cu, b.cv = p
                out.append(b)
    return out


def _camera(rng, img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Lighting, white balance, vignetting, blur, noise; returns sRGB uint8."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xn, yn = xx / w - 0.5, yy / h - 0.5
    light = rng.uniform(0.75, 1.15) * (1 + rng.uniform(-0.3, 0.3) * xn + rng.uniform(-0.3, 0.3) * yn)
    light = light * (1 - rng.uniform(0.05, 0.3) * (xn ** 2 + yn ** 2) * 2)
    light = light * (1 + 0.08 * _octaves(rng, (h, w), [max(w, h) / 4], [1.0]))
    wb = np.array([rng.uniform(0.9, 1.12), 1.0, rng.uniform(0.86, 1.08)], np.float32)
    img = img * light[..., None] * wb
    sigma = rng.uniform(0.35, 1.1) * max(1.0, min(w, h) / 1200) ** 0.5
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), sigma)
    out = _srgb(img) * 255
    noise = rng.normal(0, 1, (h, w, 3)).astype(np.float32) * (rng.uniform(0.8, 3.0) * np.sqrt(np.maximum(out, 1) / 128))
    return np.clip(out + noise, 0, 255).astype(np.uint8)


def _truth(b: Blob, hm: np.ndarray, w: int, h: int) -> TruthSpot | None:
    """Image mask (half-peak rule at each pixel centre's plane point) and plane diameter of one blob."""
    diam, peak = b.truth_diameter_mm()
    e = b.extent_mm()
    hinv = np.linalg.inv(hm)
    xs, ys = _apply(hinv, b.cu + np.array([-e, e, e, -e]), b.cv + np.array([-e, -e, e, e]))
    x0, y0 = max(0, int(xs.min()) - 1), max(0, int(ys.min()) - 1)
    x1, y1 = min(w, int(xs.max()) + 2), min(h, int(ys.max()) + 2)
    if x1 <= x0 or y1 <= y0:
        return None
    xx, yy = np.meshgrid(np.arange(x0, x1, dtype=float), np.arange(y0, y1, dtype=float))
    u, v = _apply(hm, xx, yy)
    m = b.density(u, v) >= 0.5 * peak
    if not m.any():
        return None
    ys_, xs_ = np.nonzero(m)
    bx0, by0 = int(xs_.min()), int(ys_.min())
    crop = m[by0:ys_.max() + 1, bx0:xs_.max() + 1]
    return TruthSpot(b.category, b.kind, float(x0 + xs_.mean()), float(y0 + ys_.mean()),
                     (x0 + bx0, y0 + by0, crop.shape[1], crop.shape[0]), crop, diam)


# ------------------------------------------------------------------------------ folder


def write_folder(out: str | Path, n: int, seed0: int, size: tuple[int, int] | None = None,
                 render_fn=None, prefix: str = "indep",
                 description: str = "spotscale independent renderer") -> list[tuple[str, RenderedPhoto]]:
    """Render n photos into out/images/*.jpg + out/annotations.json (COCO, as data/loaders.py reads it).

    `render_fn(seed, size)` (default: this module's render) lets another renderer with the same
    RenderedPhoto output (clinic_render) write the same folder. Returns (file name relative to out,
    photo without its pixel arrays) per photo.
    """
    import dataclasses
    from spotscale.data.coco import category_id, rle_encode_crop, write_coco
    d = Path(out)
    (d / "images").mkdir(parents=True, exist_ok=True)
    images, anns, kept = [], [], []
    for i in range(n):
        p = (render_fn or render)(seed0 + i, size)
        h, w = p.image.shape[:2]
        name = f"images/{prefix}_{seed0 + i}.jpg"
        (d / name).write_bytes(p.jpeg)
        kept.append((name, dataclasses.replace(p, image=np.zeros((0, 0, 3), np.uint8), jpeg=b"")))
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h, "mm_per_px": p.mm_per_px,
                       "ita": p.ita, "scale": {"kind": p.reference, "sticker_mm": p.sticker_mm},
                       "jpeg_quality": p.meta["jpeg_quality"]})
        for s in p.spots:
            rle = rle_encode_crop(s.mask, s.bbox, h, w)
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": category_id(s.category),
                         "bbox": list(s.bbox), "area": int(s.mask.sum()), "iscrowd": 0, "segmentation": rle,
                         "attributes": {"diameter_mm": s.diameter_mm, "subtype": s.kind}})
    write_coco(d / "annotations.json", images, anns, {"description": description, "seed0": seed0})
    return kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--seed0", type=int, default=930_000)
    a = ap.parse_args()
    kept = write_folder(a.out, a.n, a.seed0)
    print(json.dumps({"written": a.out, "photos": len(kept), "spots": sum(len(p.spots) for _, p in kept)}))


if __name__ == "__main__":
    main()
