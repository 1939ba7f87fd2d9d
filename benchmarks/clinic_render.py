"""Clinic-style renderer: realistic phone / clinic camera photos of skin with bleeding spots and exact truth.

Written independently, WITHOUT reading the project's generators (data/synth*.py), its pipeline (inference/*) or the
rendering code of benchmarks/indep_render.py; only the TruthSpot / RenderedPhoto types and write_folder of
indep_render are shared, so the two renderers are drop-in compatible and their truth figures are comparable.

What it models (per seed, widely varied):

* Geometry: the skin is a plane in millimetres seen by a pinhole camera (focal 0.8-1.3 x the long side) tilted up
  to ~30 degrees, so plane mm -> image px is an exact homography.  ``hm`` maps image px -> plane mm.
* Scene: a limb (cylinder band, optionally tapered and bent) covering 40-95 % of the frame with Lambert shading
  darker towards its silhouette, over a cluttered background (plain / striped / patterned sheets incl. pink and red
  ones, wooden table, blue or green gown fabric, paper towel) with optional glove fingers, a sleeve and a second
  body part.  Red or pink background things are never annotated.
* Skin: base colour from an ITA angle in -50..+62 deg (CIELAB -> linear RGB), Beer-Lambert pigments in linear RGB,
  low-frequency melanin mottling, diffuse erythema, soft blue-green veins, pores and a rhombic crease network
  (periodic FFT textures on the plane), hair (30-120 um, curved, dark / light / grey, sometimes over spots).
* Annotated spots (density fields on the plane): petechiae 0.3-2.5 mm in clusters (some touching), purpura 2-10 mm
  (irregular, sometimes palpable with a highlight), ecchymoses 10-60 mm (blotchy sums of blobs, red-purple to
  blue-purple cores, yellow-green rims when old); colour red -> purple -> brown-red with age, browner and lower
  contrast on dark skin.  Confounders (category "other"): angioma, mole, freckle (also freckle fields), bite,
  acne, scratch, tattoo dot, pen mark.
* References on the plane near the spots: printed ArUco DICT_4X4_50 marker (20 mm black square) on off-white paper
  or a label reading "20 mm"; a ruler (clear / white / yellow plastic or paper tape, 1/5/10 mm ticks, cm numerals);
  a round sticker or coin (10-25 mm); or none.  Soft contact shadows and glare.
* Camera: flash hot spot, vignetting, specular glare patches on skin, exposure and white-balance errors, depth
  dependent defocus (tilt + limb curvature + background), occasional motion blur, lateral chromatic aberration,
  shot / read / chroma noise, phone processing (chroma noise reduction smear, local contrast, saturation boost,
  unsharp-mask halos), optional timestamp / watermark, JPEG 4:2:0 at quality 60-95.

Truth (same rule as indep_render): each annotated object is a density field on the skin plane; its mask is where
the field >= half its peak; diameter_mm is the max Feret diameter of that mask on the plane, evaluated on a grid of
~1/100 of the spot size.  Image masks use the same rule at the plane point of every pixel centre.  Spots are only
kept when their whole mask lies on visible skin (not under the reference, an occluder or the frame edge).

    .venv/bin/python benchmarks/clinic_render.py OUT_DIR [--n 48] [--seed0 950000]
"""
from __future__ import annotations

import argparse
import io
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import indep_render  # noqa: E402
from indep_render import RenderedPhoto, TruthSpot  # noqa: E402

REFERENCES = ("aruco", "ruler", "sticker", "none")
REFERENCE_WEIGHTS = (0.45, 0.2, 0.2, 0.15)
SIZES = ((1600, 1200), (4000, 3000), (640, 480))
SIZE_WEIGHTS = (0.7, 0.15, 0.15)
MARKER_MM = 20.0
# typical pixel span of a 20 mm object per image long side
MARKER_PX = {640: (55.0, 170.0), 1600: (100.0, 380.0), 4000: (220.0, 700.0)}
LN2 = math.log(2.0)

# absorbance per unit density in linear R, G, B (my own rough fits to how these pigments look in photos)
EPS = {
    "oxy": np.array([0.08, 1.15, 0.85], np.float32),      # bright red (cherry angioma, fresh capillary blood)
    "blood": np.array([0.22, 1.20, 0.82], np.float32),    # red / crimson
    "deoxy": np.array([0.55, 1.10, 0.55], np.float32),    # purple
    "bruise": np.array([0.85, 1.00, 0.45], np.float32),   # blue-purple
    "hemosid": np.array([0.42, 0.78, 1.00], np.float32),  # brown-red, old
    "bili": np.array([0.04, 0.22, 1.05], np.float32),     # yellow
    "green": np.array([0.55, 0.12, 0.70], np.float32),    # yellow-green
    "mel": np.array([0.40, 0.70, 1.10], np.float32),      # melanin brown
    "ink": np.array([1.20, 0.98, 0.62], np.float32),      # blue-black tattoo ink
    "penblue": np.array([1.30, 0.85, 0.22], np.float32),  # ballpoint blue
    "vein": np.array([0.30, 0.10, 0.00], np.float32),     # vein seen through skin (less red returned)
    "grey": np.array([1.0, 1.0, 1.0], np.float32),
}


# ------------------------------------------------------------------------------ small helpers


def _apply(hm: np.ndarray, x, y):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    d = hm[2, 0] * x + hm[2, 1] * y + hm[2, 2]
    return (hm[0, 0] * x + hm[0, 1] * y + hm[0, 2]) / d, (hm[1, 0] * x + hm[1, 1] * y + hm[1, 2]) / d


def local_mm_per_px(hm: np.ndarray, x: float, y: float) -> float:
    """Plane millimetres per image pixel at image point (x, y): sqrt |det J| of the image -> plane map."""
    e = 0.5
    ux1, vx1 = _apply(hm, x + e, y)
    ux0, vx0 = _apply(hm, x - e, y)
    uy1, vy1 = _apply(hm, x, y + e)
    uy0, vy0 = _apply(hm, x, y - e)
    j = np.array([[ux1 - ux0, uy1 - uy0], [vx1 - vx0, vy1 - vy0]], dtype=np.float64) / (2 * e)
    return float(math.sqrt(abs(np.linalg.det(j))))


def _lab_to_lin(L: float, a: float, b: float) -> np.ndarray:
    fy = (L + 16) / 116
    fx, fz = fy + a / 500, fy - b / 200

    def finv(t):
        return t ** 3 if t ** 3 > 0.008856 else (t - 16 / 116) / 7.787

    xyz = np.array([0.95047 * finv(fx), finv(fy), 1.08883 * finv(fz)])
    m = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
    return np.clip(m @ xyz, 0.003, 1.0).astype(np.float32)


def _srgb(lin):
    lin = np.clip(lin, 0, 1)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.power(lin, 1 / 2.4) - 0.055)


def _lin(srgb):
    s = np.asarray(srgb, dtype=np.float32)
    return np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _fft_noise(rng, n: int, lo: float, hi: float, aniso: float = 1.0, angle: float = 0.0) -> np.ndarray:
    """Periodic band-pass noise tile (n x n), wavelengths roughly between lo and hi tile px; std 1."""
    f = np.fft.fftfreq(n).astype(np.float32)
    fx, fy = np.meshgrid(f, f)
    c, s = math.cos(angle), math.sin(angle)
    fr = fx * c + fy * s
    fq = (-fx * s + fy * c) * aniso
    r2 = fr * fr + fq * fq
    amp = np.exp(-r2 * (lo * 1.2) ** 2) - np.exp(-r2 * (hi * 1.2) ** 2)
    spec = (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))) * amp
    out = np.fft.ifft2(spec).real.astype(np.float32)
    return out / (out.std() + 1e-9)


def _sample_tile(tile: np.ndarray, res: float, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    n = tile.shape[0]
    mx = np.mod(u / res, n).astype(np.float32)
    my = np.mod(v / res, n).astype(np.float32)
    return cv2.remap(tile, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def _smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0, 1)
    return t * t * (3 - 2 * t)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0.05:
        return img
    if sigma > 6:  # large blurs via a downsampled image (same result to the eye, much cheaper)
        f = int(sigma / 3)
        h, w = img.shape[:2]
        small = cv2.resize(img, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), sigma / f)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(img, (0, 0), sigma)


# ------------------------------------------------------------------------------ geometry


def _camera(rng, w: int, h: int, mmpp: float) -> tuple[np.ndarray, dict]:
    """Homography image px -> plane mm of a tilted pinhole camera; mm/px at the image centre = mmpp."""
    f = rng.uniform(0.8, 1.3) * max(w, h)
    tilt = math.radians(min(32.0, abs(rng.normal(0, 13.0))))
    az = rng.uniform(0, 2 * math.pi)
    rot = rng.uniform(0, 2 * math.pi)
    ax = np.array([math.cos(az), math.sin(az), 0.0])
    kx = np.array([[0, -ax[2], ax[1]], [ax[2], 0, -ax[0]], [-ax[1], ax[0], 0]])
    r_tilt = np.eye(3) + math.sin(tilt) * kx + (1 - math.cos(tilt)) * kx @ kx
    r_z = np.array([[math.cos(rot), -math.sin(rot), 0], [math.sin(rot), math.cos(rot), 0], [0, 0, 1]])
    r = r_tilt @ r_z
    k = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])
    hp = k @ np.column_stack([r[:, 0], r[:, 1], np.array([0, 0, 1.0])])  # plane (mm) -> image, Z = 1
    hm = np.linalg.inv(hp)
    m1 = local_mm_per_px(hm, w / 2, h / 2)
    z = mmpp / m1
    hp = k @ np.column_stack([r[:, 0], r[:, 1], np.array([0, 0, z])])
    hm = np.linalg.inv(hp)
    hm /= hm[2, 2]
    return hm, {"focal_px": f, "tilt_deg": math.degrees(tilt), "distance_mm": z}


# ------------------------------------------------------------------------------ spots


@dataclass
class Spot:
    category: str
    kind: str
    cu: float
    cv: float
    size: float  # nominal size mm (for the truth grid step)
    ext_truth: float  # plane half-width (mm) that surely holds the half-peak mask
    ext: float  # plane half-width (mm) of the visible support
    field: Callable  # (u, v) -> truth density
    od: Callable  # (u, v) -> (..., 3) absorbance
    highlight: float = 0.0  # specular dome highlight strength
    hl_r: float = 0.0  # highlight radius mm


def _blob_fn(cu, cv, r, aspect, theta, p, harm):
    ct, st = math.cos(theta), math.sin(theta)

    def fn(u, v):
        du, dv = u - cu, v - cv
        a = (du * ct + dv * st)
        b = (-du * st + dv * ct) * aspect
        rr = np.sqrt(a * a + b * b) + 1e-9
        if harm:
            ang = np.arctan2(b, a)
            mod = 1.0
            for k, amp, ph in harm:
                mod = mod + amp * np.cos(k * ang + ph)
            rad = r * mod
        else:
            rad = r
        return np.exp(-LN2 * (rr / rad) ** p)
    return fn


def _harm(rng, strength):
    return [(k, rng.uniform(0, strength) / k ** 0.7, rng.uniform(0, 2 * math.pi)) for k in (2, 3, 4, 5)]


def _mottle_fn(rng, scale, amp):
    waves = []
    for _ in range(5):
        a = rng.uniform(0, 2 * math.pi)
        k = 2 * math.pi / (scale * rng.uniform(0.6, 1.6))
        waves.append((k * math.cos(a), k * math.sin(a), rng.uniform(0, 2 * math.pi)))

    def fn(u, v):
        s = 0.0
        for kx, ky, ph in waves:
            s = s + np.sin(kx * u + ky * v + ph)
        return 1.0 + amp * s / math.sqrt(len(waves) / 2)
    return fn


def _blood_eps(rng, age: float, dark: float) -> np.ndarray:
    """Blood colour by age 0 (fresh red) .. 1 (old brown-red / purple), browner on dark skin."""
    fresh = EPS["blood"] * (1 - age) + EPS["deoxy"] * age
    if rng.random() < 0.35 * age + 0.1:
        fresh = fresh * (1 - 0.5 * age) + EPS["hemosid"] * 0.5 * age
    brown = min(0.6, dark * 0.6)
    return (fresh * (1 - brown) + EPS["hemosid"] * brown).astype(np.float32)


def _mk_petechia(rng, cu, cv, dark, d=None):
    d = d if d is not None else float(np.exp(rng.uniform(math.log(0.3), math.log(2.5))))
    r = d / 2
    aspect = rng.uniform(1.0, 1.25)
    p = rng.uniform(2.2, 4.0)
    harm = _harm(rng, 0.12) if d > 0.8 else []
    base = _blob_fn(cu, cv, r, aspect, rng.uniform(0, math.pi), p, harm)
    amp = rng.uniform(0.8, 1.8) * (1 - 0.45 * dark)
    eps = _blood_eps(rng, rng.uniform(0, 0.8), dark)

    def field(u, v):
        return amp * base(u, v)

    def od(u, v):
        return field(u, v)[..., None] * eps
    rm = r * aspect * 1.25
    return Spot("petechia", "petechia", cu, cv, d, rm * 1.1, rm * 2.2, field, od)


def _mk_purpura(rng, cu, cv, dark):
    d = float(np.exp(rng.uniform(math.log(2.0), math.log(10.0))))
    r = d / 2
    aspect = rng.uniform(1.0, 1.5)
    harm = _harm(rng, 0.3)
    base = _blob_fn(cu, cv, r, aspect, rng.uniform(0, math.pi), rng.uniform(2.5, 6.0), harm)
    mot = _mottle_fn(rng, r * 0.7, rng.uniform(0.04, 0.12))
    amp = rng.uniform(0.9, 1.9) * (1 - 0.45 * dark)
    age = rng.uniform(0, 1)
    eps = _blood_eps(rng, age, dark)

    def field(u, v):
        return amp * base(u, v) * mot(u, v)

    def od(u, v):
        return field(u, v)[..., None] * eps
    rm = r * aspect * (1 + sum(abs(h[1]) for h in harm)) * 1.1
    palp = rng.random() < 0.3
    return Spot("purpura", "purpura", cu, cv, d, rm * 1.1, rm * 1.9, field, od,
                highlight=rng.uniform(0.05, 0.2) if palp else 0.0, hl_r=r * 0.35)


def _mk_ecchymosis(rng, cu, cv, dark):
    d = float(np.exp(rng.uniform(math.log(10.0), math.log(60.0))))
    nb = int(rng.integers(2, 7))
    blobs = []
    for i in range(nb):
        off = (0 if i == 0 else rng.uniform(0.1, 0.3)) * d
        a = rng.uniform(0, 2 * math.pi)
        rb = d * rng.uniform(0.3, 0.5)
        blobs.append((_blob_fn(cu + off * math.cos(a), cv + off * math.sin(a), rb, rng.uniform(1, 1.6),
                               rng.uniform(0, math.pi), rng.uniform(1.6, 2.8), _harm(rng, 0.25)),
                      rng.uniform(0.5, 1.0)))
    mot = _mottle_fn(rng, d * 0.18, rng.uniform(0.08, 0.2))
    amp = rng.uniform(0.6, 1.4) * (1 - 0.4 * dark)
    age = rng.uniform(0, 1)
    core = (EPS["blood"] * max(0, 1 - 2 * age) + EPS["deoxy"] * (1 - abs(2 * age - 1))
            + EPS["bruise"] * max(0, 2 * age - 1)).astype(np.float32)
    core = core * (1 - 0.5 * dark) + EPS["hemosid"] * 0.5 * dark
    rim_amp = max(0.0, age - 0.45) * rng.uniform(0.3, 0.8)
    rim_eps = (EPS["bili"] * rng.uniform(0.4, 1) + EPS["green"] * rng.uniform(0, 0.6)).astype(np.float32)

    def raw(u, v):
        s = 0.0
        for fn, wgt in blobs:
            s = s + wgt * fn(u, v)
        return s

    def field(u, v):
        return amp * raw(u, v) * mot(u, v)

    def od(u, v):
        f = field(u, v)
        out = f[..., None] * core
        if rim_amp > 0:
            # rim: broader faint yellow-green halo where the core fades (not part of the truth field)
            broad = np.clip(1.6 * f / (amp + 1e-9), 0, 1)
            rim = rim_amp * np.sqrt(broad) * (1 - np.clip(f / (0.6 * amp), 0, 1))
            out = out + rim[..., None] * rim_eps
        return out
    ext = d * 0.3 + d * 0.5 * 1.6 * 1.4
    return Spot("ecchymosis", "ecchymosis", cu, cv, d, ext * 0.8, ext * 1.25, field, od)


def _mk_simple(rng, cu, cv, kind, d, amp, eps, p, aspect, harm_s, ext_k=2.0, hl=0.0):
    r = d / 2
    harm = _harm(rng, harm_s) if harm_s > 0 else []
    base = _blob_fn(cu, cv, r, aspect, rng.uniform(0, math.pi), p, harm)

    def field(u, v):
        return amp * base(u, v)

    def od(u, v):
        return field(u, v)[..., None] * eps
    rm = r * aspect * (1 + sum(abs(h[1]) for h in harm)) * 1.1
    return Spot("other", kind, cu, cv, d, rm * 1.1, rm * ext_k, field, od, highlight=hl, hl_r=r * 0.3)


def _polyline_dist(pts: np.ndarray):
    a = pts[:-1]
    b = pts[1:]
    ab = b - a
    l2 = np.maximum((ab ** 2).sum(1), 1e-12)

    def fn(u, v):
        best = None
        tpos = None
        for i in range(len(a)):
            t = np.clip(((u - a[i, 0]) * ab[i, 0] + (v - a[i, 1]) * ab[i, 1]) / l2[i], 0, 1)
            du = u - (a[i, 0] + t * ab[i, 0])
            dv = v - (a[i, 1] + t * ab[i, 1])
            dd = du * du + dv * dv
            if best is None:
                best, tpos = dd, t + i
            else:
                m = dd < best
                best = np.where(m, dd, best)
                tpos = np.where(m, t + i, tpos)
        return np.sqrt(best), tpos
    return fn


def _mk_line(rng, cu, cv, kind, length, width, amp, eps):
    a = rng.uniform(0, 2 * math.pi)
    curv = rng.normal(0, 0.25)
    n = 10
    t = np.linspace(-0.5, 0.5, n)
    x = t * length
    y = curv * length * (t ** 2 - 0.25) + rng.normal(0, width * 0.3, n) * (kind == "scratch")
    pts = np.column_stack([cu + x * math.cos(a) - y * math.sin(a), cv + x * math.sin(a) + y * math.cos(a)])
    dist = _polyline_dist(pts)
    hw = width / 2
    ph = rng.uniform(0, 2 * math.pi, 2)

    def field(u, v):
        dd, tp = dist(u, v)
        along = 1 + 0.25 * np.sin(tp * 2.1 + ph[0]) * np.sin(tp * 0.7 + ph[1])
        return amp * along * np.exp(-LN2 * (dd / hw) ** 2)

    def od(u, v):
        return field(u, v)[..., None] * eps
    e = length * 0.5 + abs(curv) * length * 0.3 + width * 2
    return Spot("other", kind, cu, cv, max(length, width), e, e + width * 2, field, od)


def _mk_bite(rng, cu, cv, dark):
    dh = rng.uniform(4, 12)
    dp = rng.uniform(1.5, 4)
    halo = _blob_fn(cu, cv, dh / 2, rng.uniform(1, 1.3), rng.uniform(0, 3), 2.0, _harm(rng, 0.15))
    pap = _blob_fn(cu, cv, dp / 2, rng.uniform(1, 1.2), rng.uniform(0, 3), 3.0, [])
    pun = _blob_fn(cu + rng.normal(0, 0.15), cv + rng.normal(0, 0.15), rng.uniform(0.12, 0.3), 1.0, 0, 2.5, [])
    k = 1 - 0.4 * dark
    a_h, a_p, a_u = rng.uniform(0.15, 0.35) * k, rng.uniform(0.25, 0.5) * k, rng.uniform(0.6, 1.2) * k
    pink = EPS["oxy"] * 0.7 + EPS["blood"] * 0.3

    def field(u, v):
        return a_h * halo(u, v) + a_p * pap(u, v) + a_u * pun(u, v)

    def od(u, v):
        return ((a_h * halo(u, v) + a_p * pap(u, v))[..., None] * pink
                + (a_u * pun(u, v))[..., None] * EPS["hemosid"])
    return Spot("other", "bite", cu, cv, dh, dh * 0.75, dh * 1.3, field, od, highlight=rng.uniform(0.03, 0.12),
                hl_r=dp * 0.3)


def _mk_acne(rng, cu, cv, dark):
    dp = rng.uniform(2, 5)
    pap = _blob_fn(cu, cv, dp / 2, rng.uniform(1, 1.25), rng.uniform(0, 3), 2.2, _harm(rng, 0.1))
    pus = _blob_fn(cu, cv, rng.uniform(0.3, 0.7), 1.0, 0, 3.0, []) if rng.random() < 0.5 else None
    a = rng.uniform(0.35, 0.8) * (1 - 0.4 * dark)
    pink = EPS["oxy"] * 0.6 + EPS["blood"] * 0.4

    def field(u, v):
        return a * pap(u, v)

    def od(u, v):
        o = field(u, v)[..., None] * pink
        if pus is not None:
            pv = pus(u, v)
            o = o * (1 - 0.6 * pv[..., None]) + (0.5 * pv)[..., None] * EPS["bili"]
        return o
    return Spot("other", "acne", cu, cv, dp, dp * 0.8, dp * 1.6, field, od, highlight=rng.uniform(0.04, 0.15),
                hl_r=dp * 0.25)


def _mk_confounder(rng, kind, cu, cv, dark):
    if kind == "angioma":
        d = float(np.exp(rng.uniform(math.log(0.5), math.log(4.0))))
        return _mk_simple(rng, cu, cv, "angioma", d, rng.uniform(1.6, 3.2), EPS["oxy"], rng.uniform(3, 5),
                          rng.uniform(1, 1.15), 0.05, 1.8, hl=rng.uniform(0.15, 0.5))
    if kind == "mole":
        d = rng.uniform(1.0, 6.0)
        amp = rng.uniform(1.0, 2.6) * (1 - 0.3 * dark)
        return _mk_simple(rng, cu, cv, "mole", d, amp, EPS["mel"], rng.uniform(2.5, 5), rng.uniform(1, 1.3),
                          0.12, 1.9, hl=rng.uniform(0.0, 0.1) if rng.random() < 0.3 else 0.0)
    if kind == "freckle":
        d = rng.uniform(1.0, 5.0)
        return _mk_simple(rng, cu, cv, "freckle", d, rng.uniform(0.25, 0.6), EPS["mel"], rng.uniform(2, 3.5),
                          rng.uniform(1, 1.5), 0.3, 2.0)
    if kind == "bite":
        return _mk_bite(rng, cu, cv, dark)
    if kind == "acne":
        return _mk_acne(rng, cu, cv, dark)
    if kind == "scratch":
        return _mk_line(rng, cu, cv, "scratch", rng.uniform(5, 35), rng.uniform(0.2, 0.6), rng.uniform(0.6, 1.4),
                        EPS["blood"])
    if kind == "tattoo":
        d = rng.uniform(0.6, 2.0)
        return _mk_simple(rng, cu, cv, "tattoo", d, rng.uniform(1.2, 2.5), EPS["ink"], 2.0, 1.0, 0.1, 2.2)
    if kind == "pen":
        eps = EPS["penblue"] if rng.random() < 0.6 else EPS["ink"]
        return _mk_line(rng, cu, cv, "pen", rng.uniform(3, 15), rng.uniform(0.4, 1.0), rng.uniform(0.8, 1.6), eps)
    raise ValueError(kind)


def _spot_truth(s: Spot, hm: np.ndarray, w: int, h: int):
    """(truth TruthSpot, peak, pixel box of support) or None if outside the image."""
    step = max(s.size / 100.0, 2 * s.ext_truth / 500.0)
    n = int(math.ceil(2 * s.ext_truth / step)) + 1
    g = (np.arange(n) * step - s.ext_truth).astype(np.float64)
    gu, gv = np.meshgrid(s.cu + g, s.cv + g)
    f = s.field(gu, gv)
    peak = float(f.max())
    m = f >= 0.5 * peak
    ys, xs = np.nonzero(m)
    pts = np.column_stack([xs, ys]).astype(np.float32)
    hull = cv2.convexHull(pts).reshape(-1, 2).astype(np.float64)
    if len(hull) > 1:
        dd = np.sqrt(((hull[:, None, :] - hull[None, :, :]) ** 2).sum(-1)).max()
    else:
        dd = 0.0
    diam = float((dd + 0.5) * step)  # hull of sample centres is ~half a step short on average
    hinv = np.linalg.inv(hm)
    e = s.ext_truth
    xs_, ys_ = _apply(hinv, s.cu + np.array([-e, e, e, -e]), s.cv + np.array([-e, -e, e, e]))
    x0, y0 = int(math.floor(xs_.min())) - 1, int(math.floor(ys_.min())) - 1
    x1, y1 = int(math.ceil(xs_.max())) + 2, int(math.ceil(ys_.max())) + 2
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
        return None
    xx, yy = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
    u, v = _apply(hm, xx, yy)
    mi = s.field(u, v) >= 0.5 * peak
    if not mi.any():
        return None
    yy_, xx_ = np.nonzero(mi)
    bx0, by0 = int(xx_.min()), int(yy_.min())
    crop = mi[by0:yy_.max() + 1, bx0:xx_.max() + 1]
    t = TruthSpot(s.category, s.kind, float(x0 + xx_.mean()), float(y0 + yy_.mean()),
                  (x0 + bx0, y0 + by0, crop.shape[1], crop.shape[0]), crop.copy(), diam)
    return t


def _render_spot(s: Spot, hm: np.ndarray, od_img: np.ndarray, w: int, h: int, spec: np.ndarray):
    hinv = np.linalg.inv(hm)
    e = s.ext
    xs_, ys_ = _apply(hinv, s.cu + np.array([-e, e, e, -e]), s.cv + np.array([-e, -e, e, e]))
    x0, y0 = max(0, int(math.floor(xs_.min()))), max(0, int(math.floor(ys_.min())))
    x1, y1 = min(w, int(math.ceil(xs_.max())) + 1), min(h, int(math.ceil(ys_.max())) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    mmpp = local_mm_per_px(hm, (x0 + x1) / 2, (y0 + y1) / 2)
    dpx = s.size / mmpp
    k = int(np.clip(math.ceil(5.0 / max(dpx, 0.1)), 1, 6)) if dpx < 8 else 1
    xx, yy = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
    tacc = np.zeros((y1 - y0, x1 - x0, 3), np.float64)
    for i in range(k):
        for j in range(k):
            u, v = _apply(hm, xx + (j + 0.5) / k - 0.5, yy + (i + 0.5) / k - 0.5)
            tacc += np.exp(-s.od(u, v))
    od_img[y0:y1, x0:x1] += (-np.log(np.maximum(tacc / (k * k), 1e-6))).astype(np.float32)
    if s.highlight > 0:
        # dome highlight: small specular dot offset toward the light
        hx, hy = _apply(hinv, s.cu - s.hl_r * 0.8, s.cv - s.hl_r * 0.8)
        rpx = max(0.6, s.hl_r / mmpp)
        gx, gy = np.meshgrid(np.arange(x0, x1) - float(hx), np.arange(y0, y1) - float(hy))
        spec[y0:y1, x0:x1] += s.highlight * np.exp(-(gx ** 2 + gy ** 2) / (2 * rpx ** 2)).astype(np.float32)


# ------------------------------------------------------------------------------ scene pieces


def _limb(rng, w, h):
    """Signed normalised distance from a limb axis (|sn| < 1 on skin) and the axis angle."""
    phi = rng.uniform(0, math.pi)
    if rng.random() < 0.6:
        phi = (0.0 if w >= h else math.pi / 2) + rng.normal(0, 0.35)
    d = np.array([math.cos(phi), math.sin(phi)])
    nrm = np.array([-d[1], d[0]])
    diag = math.hypot(w, h)
    c = np.array([w / 2, h / 2]) + nrm * rng.normal(0, 0.12) * min(w, h)
    taper = rng.uniform(-0.25, 0.25)
    bend = rng.normal(0, 0.08)
    target = rng.uniform(0.4, 0.95)

    def sn_of(xx, yy, w0):
        px, py = xx - c[0], yy - c[1]
        t = (px * d[0] + py * d[1]) / diag
        s = (px * nrm[0] + py * nrm[1]) - bend * diag * t * t
        return s / (w0 * (1 + taper * t))
    ys, xs = np.mgrid[0:h:8, 0:w:8].astype(np.float32)
    lo, hi = 0.05 * min(w, h), 3.0 * diag
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        cov = (np.abs(sn_of(xs, ys, mid)) < 1).mean()
        if cov < target:
            lo = mid
        else:
            hi = mid
    w0 = 0.5 * (lo + hi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return sn_of(xx, yy, w0).astype(np.float32), phi, w0


def _background(rng, w, h, skin_lin):
    """Linear-RGB reflectance of a cluttered background and its kind."""
    kinds = ["sheet", "stripes", "pattern", "wood", "gown", "towel"]
    kind = kinds[int(rng.choice(6, p=[0.22, 0.17, 0.13, 0.16, 0.2, 0.12]))]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sc = max(w, h) / 1600.0
    n1 = cv2.resize(_fft_noise(rng, 128, 6, 40, aniso=rng.uniform(1, 3), angle=rng.uniform(0, 3)), (w, h),
                    interpolation=cv2.INTER_CUBIC)
    folds = 1 + rng.uniform(0.05, 0.2) * n1  # cloth folds / crumples
    if kind == "sheet":
        col = [(0.80, 0.80, 0.78), (0.55, 0.66, 0.80), (0.85, 0.55, 0.62), (0.62, 0.78, 0.68), (0.85, 0.80, 0.60),
               (0.75, 0.22, 0.25)][int(rng.integers(6))]
        img = np.ones((h, w, 3), np.float32) * np.array(col, np.float32)
    elif kind == "stripes":
        a = rng.uniform(0, math.pi)
        per = rng.uniform(12, 60) * sc
        warp = n1 * per * rng.uniform(0.05, 0.35)
        ph = ((xx * math.cos(a) + yy * math.sin(a) + warp) / per) % 1.0
        frac = rng.uniform(0.15, 0.5)
        c1 = np.array([(0.82, 0.82, 0.80), (0.85, 0.80, 0.72)][int(rng.integers(2))], np.float32)
        c2 = np.array([(0.70, 0.15, 0.18), (0.85, 0.45, 0.55), (0.25, 0.35, 0.65), (0.35, 0.60, 0.45),
                       (0.45, 0.45, 0.48)][int(rng.integers(5))], np.float32)
        m = _smoothstep(frac - 0.03, frac + 0.03, ph)[..., None]
        img = c2 * (1 - m) + c1 * m
    elif kind == "pattern":
        per = rng.uniform(15, 45) * sc
        rad = per * rng.uniform(0.12, 0.3)
        warp = n1 * per * 0.3
        gx = (xx + warp) % per - per / 2
        gy = (yy + warp * 0.7) % per - per / 2
        dd = np.sqrt(gx * gx + gy * gy)
        m = (1 - _smoothstep(rad - 1, rad + 1, dd))[..., None]
        c1 = np.array((0.84, 0.83, 0.80), np.float32)
        c2 = np.array([(0.75, 0.12, 0.15), (0.85, 0.45, 0.55), (0.25, 0.40, 0.70), (0.55, 0.25, 0.55)]
                      [int(rng.integers(4))], np.float32)
        img = c1 * (1 - m) + c2 * m
    elif kind == "wood":
        a = rng.uniform(0, math.pi)
        along = xx * math.cos(a) + yy * math.sin(a)
        across = -xx * math.sin(a) + yy * math.cos(a)
        g = cv2.resize(_fft_noise(rng, 256, 2, 30, aniso=8.0, angle=a + math.pi / 2), (w, h))
        rings = np.sin((across + 25 * sc * g + 0.02 * along) / (rng.uniform(4, 12) * sc))
        base = np.array([(0.45, 0.28, 0.15), (0.62, 0.45, 0.28), (0.30, 0.18, 0.10)][int(rng.integers(3))],
                        np.float32)
        t = (0.85 + 0.1 * rings + 0.06 * g)[..., None]
        img = base * t
        folds = np.ones_like(folds)
    elif kind == "gown":
        col = [(0.20, 0.35, 0.55), (0.25, 0.48, 0.42), (0.35, 0.55, 0.70), (0.18, 0.30, 0.35)][int(rng.integers(4))]
        weave = 1 + 0.05 * np.sin(xx * 1.7 / sc) * np.sin(yy * 1.7 / sc)
        img = np.array(col, np.float32) * weave[..., None]
    else:  # paper towel
        per = rng.uniform(8, 18) * sc
        emb = 1 + 0.06 * np.sin(2 * math.pi * xx / per) * np.sin(2 * math.pi * yy / per)
        img = np.array((0.84, 0.84, 0.82), np.float32) * emb[..., None]
    img = img * folds[..., None]
    # optional second body part in the background (same person, no spots)
    if rng.random() < 0.2:
        a = rng.uniform(0, math.pi)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        s = np.abs((xx - cx) * -math.sin(a) + (yy - cy) * math.cos(a)) / (rng.uniform(0.1, 0.3) * max(w, h))
        m = (s < 1).astype(np.float32)[..., None]
        sh = np.sqrt(np.clip(1 - s * s, 0, 1))[..., None] * 0.7 + 0.3
        img = img * (1 - m) + skin_lin * sh * m
    return np.clip(img, 0.01, 0.95).astype(np.float32), kind


def _occluders(rng, w, h, skin_sn):
    """Glove fingers / a sleeve: (rgb reflectance, alpha) drawn on top of everything, or None."""
    r = rng.random()
    if r > 0.3:
        return None
    alpha = np.zeros((h, w), np.uint8)
    sc = max(w, h) / 1600
    if r < 0.15:  # glove fingers entering from an edge
        col = [(0.30, 0.35, 0.75), (0.45, 0.30, 0.65), (0.85, 0.85, 0.86), (0.55, 0.75, 0.85)][int(rng.integers(4))]
        edge = int(rng.integers(4))
        base = [(rng.uniform(0, w), 0), (rng.uniform(0, w), h), (0, rng.uniform(0, h)), (w, rng.uniform(0, h))][edge]
        inward = [(0, 1), (0, -1), (1, 0), (-1, 0)][edge]
        ang0 = math.atan2(inward[1], inward[0]) + rng.normal(0, 0.4)
        for i in range(int(rng.integers(1, 4))):
            a = ang0 + (i - 1) * 0.2
            ln = rng.uniform(120, 300) * sc
            ox = base[0] + (i - 1) * 70 * sc * -math.sin(a)
            oy = base[1] + (i - 1) * 70 * sc * math.cos(a)
            c = (int(ox + math.cos(a) * ln / 2), int(oy + math.sin(a) * ln / 2))
            cv2.ellipse(alpha, c, (int(ln / 2 + 40 * sc), int(32 * sc)), math.degrees(a), 0, 360, 255, -1,
                        cv2.LINE_AA)
    else:  # sleeve over one end of the limb
        col = [(0.20, 0.25, 0.45), (0.55, 0.55, 0.58), (0.75, 0.75, 0.72), (0.35, 0.20, 0.18)][int(rng.integers(4))]
        edge = int(rng.integers(4))
        dpx = rng.uniform(0.05, 0.2)
        pts = {0: [(0, 0), (w, 0), (w, h * dpx), (0, h * dpx * rng.uniform(0.5, 1.5))],
               1: [(0, h), (w, h), (w, h * (1 - dpx)), (0, h * (1 - dpx * rng.uniform(0.5, 1.5)))],
               2: [(0, 0), (0, h), (w * dpx, h), (w * dpx * rng.uniform(0.5, 1.5), 0)],
               3: [(w, 0), (w, h), (w * (1 - dpx), h), (w * (1 - dpx * rng.uniform(0.5, 1.5)), 0)]}[edge]
        cv2.fillPoly(alpha, [np.array(pts, np.int32)], 255, cv2.LINE_AA)
    a = alpha.astype(np.float32) / 255
    if a.max() == 0:
        return None
    n = cv2.resize(_fft_noise(rng, 64, 3, 20), (w, h), interpolation=cv2.INTER_CUBIC)
    rgb = np.array(col, np.float32) * (1 + 0.12 * n)[..., None]
    return np.clip(rgb, 0.01, 0.95), a


# ------------------------------------------------------------------------------ references


def _ref_raster(rng, kind: str, res: float, paper_col, ink):
    """RGBA raster (reflectance, alpha) of a reference object in its own mm frame; centre = raster centre.

    Returns (rgb, alpha, sticker_mm, specular_gain_map)."""
    sticker_mm = None
    if kind == "aruco":
        margin = rng.uniform(2.0, 6.0)
        label = rng.random() < 0.35
        wmm = MARKER_MM + 2 * margin
        hmm = wmm + (7.0 if label else 0.0)
        nx, ny = int(math.ceil(wmm / res)), int(math.ceil(hmm / res))
        ys, xs = np.mgrid[0:ny, 0:nx].astype(np.float32)
        xmm, ymm = (xs + 0.5) * res, (ys + 0.5) * res
        bits = cv2.aruco.generateImageMarker(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50),
                                             int(rng.integers(50)), 6)
        cell = MARKER_MM / 6
        mx, my = xmm - margin, ymm - margin
        inside = (mx >= 0) & (mx < MARKER_MM) & (my >= 0) & (my < MARKER_MM)
        ci = np.clip((my / cell).astype(int), 0, 5)
        cj = np.clip((mx / cell).astype(int), 0, 5)
        black = inside & (bits[ci, cj] == 0)
        rgb = np.ones((ny, nx, 3), np.float32) * paper_col
        rgb[black] = ink
        if label:
            txt = np.zeros((ny, nx), np.uint8)
            fs = 4.0 / res / 22.0
            cv2.putText(txt, "20 mm", (int((margin + 2) / res), int((MARKER_MM + 2 * margin + 5.0) / res)),
                        cv2.FONT_HERSHEY_SIMPLEX, fs, 255, max(1, int(0.4 / res)), cv2.LINE_AA)
            rgb = rgb * (1 - txt[..., None] / 255.0 * 0.85) + ink * (txt[..., None] / 255.0 * 0.85)
        alpha = np.ones((ny, nx), np.float32)
        # rounded-ish cut corners and a slightly ragged edge are not needed; keep paper rectangular
        return rgb.astype(np.float32), alpha, None, 1.0, (margin + MARKER_MM / 2 - nx * res / 2,
                                                           margin + MARKER_MM / 2 - ny * res / 2)
    if kind == "ruler":
        style = ["clear", "white", "yellow", "tape"][int(rng.choice(4, p=[0.35, 0.25, 0.15, 0.25]))]
        length = rng.uniform(60, 150) if style != "tape" else rng.uniform(100, 200)
        width = rng.uniform(15, 30) if style != "tape" else rng.uniform(10, 16)
        nx, ny = int(math.ceil(length / res)), int(math.ceil(width / res))
        body = {"clear": (0.85, 0.87, 0.88), "white": (0.86, 0.86, 0.84), "yellow": (0.85, 0.72, 0.18),
                "tape": (0.86, 0.84, 0.72)}[style]
        rgb = np.ones((ny, nx, 3), np.float32) * np.array(body, np.float32)
        alpha = np.ones((ny, nx), np.float32) * (rng.uniform(0.15, 0.35) if style == "clear" else 1.0)
        ticks = np.zeros((ny, nx), np.uint8)
        x0 = rng.uniform(3, 6)
        tw = rng.uniform(0.12, 0.22)
        sh = 4
        f = float(1 << sh) / res
        nmm = int((length - x0 - 2))
        for i in range(nmm + 1):
            ln = width * (0.42 if i % 10 == 0 else 0.3 if i % 5 == 0 else 0.2)
            xm = x0 + i
            p1 = (int(round(xm * f)), 0)
            p2 = (int(round(xm * f)), int(round(ln * f)))
            cv2.line(ticks, p1, p2, 255, max(1, int(round(tw / res))), cv2.LINE_AA, sh)
            if i % 10 == 0:
                fs = 2.6 / res / 22.0
                txt = str(i // 10)
                (tw_, th_), _ = cv2.getTextSize(txt, cv2.FONT_HERSHEY_SIMPLEX, fs, max(1, int(0.3 / res)))
                cv2.putText(ticks, txt, (int(xm / res - tw_ / 2), int((ln + 1.0) / res + th_)),
                            cv2.FONT_HERSHEY_SIMPLEX, fs, 255, max(1, int(0.3 / res)), cv2.LINE_AA)
        tk = ticks.astype(np.float32)[..., None] / 255.0
        tick_col = np.array((0.04, 0.04, 0.05) if rng.random() < 0.8 else (0.05, 0.10, 0.35), np.float32)
        rgb = rgb * (1 - tk) + tick_col * tk
        alpha = np.maximum(alpha, tk[..., 0] * 0.95)
        # ruler edges catch light
        e = max(1, int(0.4 / res))
        if style == "clear":
            alpha[:e] = alpha[-e:] = 0.6
        return rgb.astype(np.float32), alpha, None, 1.0 if style != "tape" else 0.3, (0.0, 0.0)
    # sticker or coin
    coin = rng.random() < 0.4
    if coin:
        dmm = float(rng.choice([16.25, 18.75, 19.05, 21.21, 22.25, 23.25, 24.26, 25.75, 20.0, 17.91]))
    else:
        dmm = float(rng.choice([10.0, 12.0, 13.0, 15.0, 16.0, 19.0, 20.0, 25.0]))
    sticker_mm = dmm
    n = int(math.ceil((dmm + 1) / res))
    ys, xs = np.mgrid[0:n, 0:n].astype(np.float32)
    rx, ry = (xs + 0.5) * res - n * res / 2, (ys + 0.5) * res - n * res / 2
    rr = np.sqrt(rx * rx + ry * ry)
    alpha = np.clip((dmm / 2 - rr) / res + 0.5, 0, 1).astype(np.float32)
    if coin:
        base = np.array([(0.55, 0.55, 0.55), (0.62, 0.45, 0.25), (0.70, 0.58, 0.30)][int(rng.integers(3))],
                        np.float32)
        emb = 0.85 + 0.15 * np.cos(rr / (dmm / 2) * math.pi * 6)
        rim = 1 - 0.35 * _smoothstep(dmm / 2 - 1.5, dmm / 2 - 0.9, rr) * (1 - _smoothstep(dmm / 2 - 0.9, dmm / 2, rr))
        grad = 0.8 + 0.25 * (rx - ry) / dmm
        t = _fft_noise(rng, 64, 2, 8)
        t = cv2.resize(t, (n, n))
        rgb = base * (emb * rim * grad * (1 + 0.1 * t))[..., None]
        return np.clip(rgb, 0, 1).astype(np.float32), alpha, sticker_mm, 2.0, (0.0, 0.0)
    col = np.array([(0.95, 0.55, 0.10), (0.20, 0.65, 0.25), (0.20, 0.40, 0.85), (0.95, 0.85, 0.15),
                    (0.86, 0.86, 0.84), (0.85, 0.20, 0.25), (0.95, 0.50, 0.70)][int(rng.integers(7))], np.float32)
    rgb = np.ones((n, n, 3), np.float32) * col
    return rgb, alpha, sticker_mm, 0.6, (0.0, 0.0)


# ------------------------------------------------------------------------------ render


def render(seed: int, size: tuple[int, int] | None = None, reference: str | None = None) -> RenderedPhoto:
    rng = np.random.default_rng(seed)
    if size is None:
        size = SIZES[int(rng.choice(3, p=SIZE_WEIGHTS))]
        if rng.random() < 0.25:
            size = (size[1], size[0])
    w, h = int(size[0]), int(size[1])
    if reference is None:
        reference = REFERENCES[int(rng.choice(4, p=REFERENCE_WEIGHTS))]
    long_side = max(w, h)
    key = min(MARKER_PX, key=lambda k: abs(math.log(k / long_side)))
    lo, hi = MARKER_PX[key]
    marker_px = float(np.exp(rng.uniform(math.log(lo), math.log(hi)))) * long_side / key
    mmpp0 = MARKER_MM / marker_px
    hm, cam = _camera(rng, w, h, mmpp0)
    hinv = np.linalg.inv(hm)
    sc = long_side / 1600.0

    # ---- skin colour
    ita = float(rng.uniform(-50, 62))
    bstar = rng.uniform(12, 24) if ita > 10 else rng.uniform(10, 20)
    L = 50 + bstar * math.tan(math.radians(ita))
    if L > 80:
        L = 80.0
        bstar = (L - 50) / math.tan(math.radians(ita))
    ita = math.degrees(math.atan((L - 50) / bstar))
    astar = rng.uniform(5, 14)
    skin = _lab_to_lin(L, astar, bstar)
    dark = float(np.clip((20 - ita) / 70, 0, 1))  # 0 light .. 1 very dark

    # ---- plane coordinates of every pixel
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    uu, vv = _apply(hm, xx, yy)
    uu = uu.astype(np.float32)
    vv = vv.astype(np.float32)

    # ---- limb geometry and background
    sn, phi, w0 = _limb(rng, w, h)
    edge_soft = max(0.6, rng.uniform(0.5, 2.0) * sc) / w0
    skin_a = (1 - _smoothstep(1 - edge_soft, 1 + edge_soft, np.abs(sn))).astype(np.float32)
    bg, bg_kind = _background(rng, w, h, skin)
    occ = _occluders(rng, w, h, sn)

    # ---- skin textures (periodic plane tiles)
    od = np.zeros((h, w, 3), np.float32)
    coarse_res = 1.0
    t1 = _fft_noise(rng, 256, 8, 60)
    mot = _sample_tile(t1, coarse_res, uu, vv)
    od += (rng.uniform(0.03, 0.09) * mot)[..., None] * EPS["mel"]
    t2 = _fft_noise(rng, 256, 15, 60)
    ery = _smoothstep(-0.5, 2.5, _sample_tile(t2, coarse_res, uu + 37, vv - 11))
    od += (rng.uniform(0.0, 0.14) * ery)[..., None] * EPS["oxy"]
    fres = max(0.02, mmpp0 * 0.8)
    pore_mm = rng.uniform(0.6, 1.2)
    tp = _fft_noise(rng, 1024, pore_mm / fres * 0.5, pore_mm / fres * 1.2)
    pores = _smoothstep(1.4, 2.6, _sample_tile(tp, fres, uu, vv))
    crease = 0.0
    cang = phi + rng.normal(0, 0.3)
    for a in (cang + 0.5, cang - 0.5):
        tc = _fft_noise(rng, 1024, 1.5 / fres, 5.0 / fres, aniso=6.0, angle=a)
        crease = np.maximum(crease, np.exp(-(_sample_tile(tc, fres, uu, vv) / 0.12) ** 2))
    tex = rng.uniform(0.06, 0.16) * pores + rng.uniform(0.03, 0.09) * crease
    od += tex[..., None] * (EPS["grey"] * 0.5 + EPS["mel"] * 0.5)

    # ---- veins (not annotated)
    if rng.random() < 0.6:
        vmask = np.zeros((h, w), np.float32)
        for _ in range(int(rng.integers(1, 4))):
            a = phi + rng.normal(0, 0.3)
            wid = rng.uniform(2, 5) / mmpp0
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            t = np.linspace(-1, 1, 30) * max(w, h)
            wob = np.cumsum(rng.normal(0, 0.02, 30)) * max(w, h) * 0.3
            px = cx + t * math.cos(a) - wob * math.sin(a)
            py = cy + t * math.sin(a) + wob * math.cos(a)
            cv2.polylines(vmask, [np.column_stack([px, py]).astype(np.int32)], False, 1.0, max(1, int(wid)))
            vmask = _blur(vmask, wid * 0.45)
        vd = rng.uniform(0.15, 0.45) * (1 - 0.7 * dark)
        od += (vd * np.clip(vmask, 0, 1))[..., None] * EPS["vein"]

    # ---- reference placement (on the skin, near where the spots will be)
    spec = np.zeros((h, w), np.float32)
    ref_a = np.zeros((h, w), np.float32)
    ref_rgb = np.zeros((h, w, 3), np.float32)
    sticker_mm = None
    ref_centre = (w / 2, h / 2)
    ref_spec_gain = 1.0
    ok = np.argwhere((np.abs(sn) < 0.55) & (xx > 0.15 * w) & (xx < 0.85 * w) & (yy > 0.15 * h) & (yy < 0.85 * h))
    if len(ok) == 0:
        ok = np.argwhere(np.abs(sn) < 0.8)
    if reference != "none":
        py_, px_ = ok[int(rng.integers(len(ok)))]
        ref_centre = (float(px_), float(py_))
        rcu, rcv = _apply(hm, px_, py_)
        lm = local_mm_per_px(hm, px_, py_)
        res = lm / 1.6
        paper_col = np.array([rng.uniform(0.74, 0.88)] * 3, np.float32) * np.array(
            [1.0, rng.uniform(0.97, 1.0), rng.uniform(0.92, 1.0)], np.float32)
        ink = np.array([rng.uniform(0.02, 0.09)] * 3, np.float32) * np.array([1, 1, rng.uniform(0.9, 1.3)],
                                                                             np.float32)
        rgbr, ar, sticker_mm, ref_spec_gain, poi = _ref_raster(rng, reference, res, paper_col, ink)
        ar = _blur(ar, 0.55)
        rgbr = _blur(rgbr, 0.55)
        nyr, nxr = ar.shape
        th = rng.uniform(0, 2 * math.pi)
        c, s = math.cos(th), math.sin(th)
        # raster px -> plane mm
        a_r2p = np.array([[c * res, -s * res, rcu - (c * nxr / 2 - s * nyr / 2) * res],
                          [s * res, c * res, rcv - (s * nxr / 2 + c * nyr / 2) * res], [0, 0, 1.0]])
        m = np.linalg.inv(a_r2p) @ hm  # image -> raster
        # the reference's measuring point (marker centre) in the image
        pu, pv = _apply(a_r2p, nxr / 2 - 0.5 + poi[0] / res, nyr / 2 - 0.5 + poi[1] / res)
        px2, py2 = _apply(hinv, pu, pv)
        ref_centre = (float(px2), float(py2))
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        ref_a = cv2.warpPerspective(ar, m, (w, h), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        ref_rgb = cv2.warpPerspective(rgbr, m, (w, h), flags=flags, borderMode=cv2.BORDER_CONSTANT,
                                      borderValue=(0, 0, 0))
        ref_a = ref_a * skin_a if rng.random() < 0.5 else ref_a
    # ---- spots
    allowed = (skin_a > 0.999) & (ref_a < 0.002)
    if occ is not None:
        allowed &= occ[1] < 0.002
    allowed = cv2.erode(allowed.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    allowed[:3] = allowed[-3:] = False
    allowed[:, :3] = allowed[:, -3:] = False
    cand = np.argwhere(allowed[::4, ::4]) * 4
    spots: list[Spot] = []
    truths: list[TruthSpot] = []

    def try_add(s: Spot) -> bool:
        t = _spot_truth(s, hm, w, h)
        if t is None:
            return False
        x0, y0, bw, bh = t.bbox
        if not allowed[y0:y0 + bh, x0:x0 + bw][t.mask].all():
            return False
        spots.append(s)
        truths.append(t)
        return True

    def near_point(spread_px):
        if len(cand) == 0:
            return None
        fy, fx = focus
        for _ in range(20):
            x, y = fx + rng.normal(0, spread_px), fy + rng.normal(0, spread_px)
            if 0 <= x < w and 0 <= y < h and allowed[int(y), int(x)]:
                return _apply(hm, x, y)
        y, x = cand[int(rng.integers(len(cand)))]
        return _apply(hm, x, y)

    if len(cand):
        focus = (ref_centre[1], ref_centre[0])
        if reference != "none":
            focus = tuple(cand[int(np.argmin(((cand - np.array([ref_centre[1], ref_centre[0]])) ** 2).sum(1)
                                           + rng.uniform(0, (0.3 * max(w, h)) ** 2, len(cand))))])
        scenario = rng.choice(["petechiae", "purpura", "ecchymosis", "mixed", "control"],
                              p=[0.35, 0.18, 0.17, 0.22, 0.08])
        spread = 0.22 * max(w, h)
        n_clusters = {"petechiae": int(rng.integers(1, 4)), "purpura": int(rng.integers(0, 2)),
                      "ecchymosis": int(rng.integers(0, 2)), "mixed": int(rng.integers(1, 3)), "control": 0}[scenario]
        n_purp = {"petechiae": int(rng.integers(0, 3)), "purpura": int(rng.integers(3, 14)),
                  "ecchymosis": int(rng.integers(0, 3)), "mixed": int(rng.integers(2, 7)), "control": 0}[scenario]
        n_ecc = {"petechiae": 0, "purpura": int(rng.random() < 0.2), "ecchymosis": int(rng.integers(1, 4)),
                 "mixed": int(rng.integers(0, 2)), "control": 0}[scenario]
        for _ in range(n_ecc):
            for _t in range(6):
                p = near_point(spread)
                if p is not None and try_add(_mk_ecchymosis(rng, float(p[0]), float(p[1]), dark)):
                    break
        for _ in range(n_purp):
            for _t in range(6):
                p = near_point(spread)
                if p is not None and try_add(_mk_purpura(rng, float(p[0]), float(p[1]), dark)):
                    break
        for _ in range(n_clusters):
            p = near_point(spread)
            if p is None:
                break
            ccu, ccv = float(p[0]), float(p[1])
            nper = int(rng.integers(8, 70))
            rc = math.sqrt(nper) * rng.uniform(1.2, 5.0)
            dmed = float(np.exp(rng.uniform(math.log(0.4), math.log(1.6))))
            for _i in range(nper):
                d = float(np.clip(dmed * np.exp(rng.normal(0, 0.35)), 0.3, 2.5))
                if spots and spots[-1].kind == "petechia" and rng.random() < 0.2:
                    a = rng.uniform(0, 2 * math.pi)
                    gap = rng.uniform(0.7, 1.2) * (d + spots[-1].size) / 2
                    cu, cv = spots[-1].cu + gap * math.cos(a), spots[-1].cv + gap * math.sin(a)
                else:
                    rr_ = rc * math.sqrt(rng.random())
                    a = rng.uniform(0, 2 * math.pi)
                    cu, cv = ccu + rr_ * math.cos(a), ccv + rr_ * math.sin(a) * rng.uniform(0.5, 1)
                try_add(_mk_petechia(rng, cu, cv, dark, d))
        # confounders
        kinds = ["angioma", "mole", "freckle", "bite", "acne", "scratch", "tattoo", "pen"]
        kp = np.array([0.2, 0.2, 0.15, 0.12, 0.1, 0.1, 0.07, 0.06])
        for _ in range(int(rng.integers(0, 9))):
            k = kinds[int(rng.choice(len(kinds), p=kp / kp.sum()))]
            for _t in range(5):
                p = near_point(spread * 1.5)
                if p is not None and try_add(_mk_confounder(rng, k, float(p[0]), float(p[1]), dark)):
                    break
        if rng.random() < 0.15 * (1 - dark) + 0.03:  # freckle field
            p = near_point(spread)
            if p is not None:
                fcu, fcv = float(p[0]), float(p[1])
                for _i in range(int(rng.integers(10, 50))):
                    rr_ = rng.uniform(0, 30)
                    a = rng.uniform(0, 2 * math.pi)
                    try_add(_mk_confounder(rng, "freckle", fcu + rr_ * math.cos(a), fcv + rr_ * math.sin(a), dark))
    for s in spots:
        _render_spot(s, hm, od, w, h, spec)

    # ---- skin reflectance with hair on top
    refl_skin = skin * np.exp(-od)
    hair_density = rng.choice([0, 1, 2, 3], p=[0.25, 0.35, 0.25, 0.15])
    if hair_density:
        hmask = np.zeros((h, w), np.uint8)
        area_cm2 = (w * h) * mmpp0 ** 2 / 100
        hcol_i = int(rng.choice(4, p=[0.45, 0.3, 0.15, 0.1]))
        hcol = np.array([(0.025, 0.02, 0.018), (0.09, 0.055, 0.03), (0.30, 0.22, 0.13), (0.28, 0.27, 0.26)]
                        [hcol_i], np.float32)
        nh = int(area_cm2 * [0, 1.5, 5, 14][hair_density] * rng.uniform(0.5, 1.5))
        if hcol_i >= 2:
            nh //= 2
        nh = min(nh, 4000)
        hw_mm = rng.uniform(0.03, 0.12)
        sh = 3
        for _ in range(nh):
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            a = phi + rng.normal(0, 0.35) + (math.pi if rng.random() < 0.5 else 0)
            ln = rng.uniform(3, 20) / mmpp0
            curv = rng.normal(0, 0.4)
            t = np.linspace(0, 1, 8)
            ang = a + curv * t
            px = x + np.cumsum(np.cos(ang)) * ln / 8
            py = y + np.cumsum(np.sin(ang)) * ln / 8
            wpx = hw_mm * rng.uniform(0.7, 1.3) / mmpp0
            val = int(255 * min(1.0, wpx) * rng.uniform(0.6, 1.0))
            cv2.polylines(hmask, [(np.column_stack([px, py]) * (1 << sh)).astype(np.int32)], False, val,
                          max(1, int(round(wpx))), cv2.LINE_AA, sh)
        ha = (hmask.astype(np.float32) / 255)[..., None]
        refl_skin = refl_skin * (1 - ha) + hcol * ha

    # ---- composite reflectance
    sa = skin_a[..., None]
    refl = bg * (1 - sa) + refl_skin * sa
    ra = ref_a[..., None]
    refl = refl * (1 - ra) + ref_rgb * ra

    # ---- illumination
    light_ang = rng.normal(0, 0.5)
    theta = np.arcsin(np.clip(sn, -1, 1))
    lam = np.clip(np.cos(theta - light_ang), 0, 1) ** rng.uniform(0.7, 1.3)
    amb = rng.uniform(0.15, 0.4)
    shade_skin = amb + (1 - amb) * lam
    shade_bg = rng.uniform(0.55, 1.0)
    shade = shade_bg * (1 - skin_a) + shade_skin * skin_a
    shade = np.maximum(shade, ref_a * shade_skin)
    # reference contact shadow on the skin
    if reference != "none":
        off = rng.uniform(0.5, 1.5) / mmpp0
        oa = rng.uniform(0, 2 * math.pi)
        mat = np.float32([[1, 0, off * math.cos(oa)], [0, 1, off * math.sin(oa)]])
        shadow = _blur(cv2.warpAffine(ref_a, mat, (w, h)), max(1.0, off))
        shade = shade * (1 - rng.uniform(0.15, 0.4) * shadow * (1 - ref_a))
    flash = rng.random() < 0.55
    fx_, fy_ = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
    rr2 = ((xx - fx_) ** 2 + (yy - fy_) ** 2) / (max(w, h) ** 2)
    illum = shade * (1 + (rng.uniform(0.2, 0.6) * np.exp(-rr2 / 0.08) if flash else 0))
    vig = 1 - rng.uniform(0.1, 0.45) * ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
    illum = illum * vig
    # illuminant colour (warm indoor / cool daylight / flash), corrected later only partly
    cct = rng.normal(0, 0.12)
    light_col = np.array([1 + cct, 1.0, 1 - cct], np.float32)
    rad = refl * (illum[..., None] * light_col)

    # ---- specular glare: limb highlight line broken by oily patches, plus flash spot
    gl = rng.uniform(0.0, 0.18) if rng.random() < 0.6 else 0.0
    spec_ang = light_ang / 2 + rng.normal(0, 0.2)
    t3 = _fft_noise(rng, 256, 6, 40)
    oil = 0.5 + 0.5 * np.tanh(0.5 * _sample_tile(t3, 1.0, uu, vv))
    glare = gl * np.exp(-((theta - spec_ang) / rng.uniform(0.12, 0.35)) ** 2) * (0.25 + oil)
    if flash:
        glare += rng.uniform(0.0, 0.2) * np.exp(-rr2 / 0.01) * (0.6 + 0.4 * oil)
    glare = glare * skin_a * (1 - ref_a)
    rspec = 0.0
    if reference != "none" and rng.random() < 0.35:
        gx, gy = ref_centre[0] + rng.normal(0, 40 * sc), ref_centre[1] + rng.normal(0, 40 * sc)
        rspec = rng.uniform(0.03, 0.2) * ref_spec_gain * np.exp(
            -((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * (rng.uniform(25, 80) * sc) ** 2)) * ref_a
    rad = rad + ((glare + spec * skin_a + rspec) * (0.6 + 0.4 * illum))[..., None] * light_col

    # ---- occluders on top
    if occ is not None:
        oa_ = occ[1][..., None]
        rad = rad * (1 - oa_) + occ[0] * (shade_bg * vig)[..., None] * light_col * oa_

    # ---- defocus (depth: tilt, limb curvature, background further away), motion blur
    fxp, fyp = (ref_centre if reference != "none" else (w / 2, h / 2))
    dz = (hm[2, 0] * xx + hm[2, 1] * yy + hm[2, 2])
    dz0 = hm[2, 0] * fxp + hm[2, 1] * fyp + hm[2, 2]
    depth = dz0 / dz - 1.0  # relative plane depth vs. focus point
    depth = depth + (w0 * mmpp0 / cam["distance_mm"]) * (1 - np.cos(theta)) * 0.8
    depth = depth * skin_a + rng.uniform(0.1, 0.5) * (1 - skin_a)
    aperture = rng.uniform(2.0, 25.0) * sc
    sig = np.abs(depth) * aperture + rng.uniform(0.0, 0.7) * sc
    levels = [0.0, 1.0 * sc, 2.5 * sc, 5.0 * sc, 10.0 * sc]
    sig = np.clip(sig, 0, levels[-1])
    # blend pre-blurred copies: tent weights over the blur levels
    out = np.zeros_like(rad)
    for i, lv in enumerate(levels):
        left = levels[i - 1] if i > 0 else lv - 1.0
        right = levels[i + 1] if i + 1 < len(levels) else lv + 1e9
        wgt = np.where(sig <= lv, (sig - left) / (lv - left), (right - sig) / (right - lv))
        wgt = np.clip(wgt, 0, 1).astype(np.float32)
        if wgt.max() > 0:
            out += _blur(rad, lv) * wgt[..., None]
    rad = out
    motion = rng.random() < 0.15
    if motion:
        ln = max(2, int(rng.uniform(2, 7) * sc))
        k = np.zeros((ln * 2 + 1, ln * 2 + 1), np.float32)
        a = rng.uniform(0, math.pi)
        cv2.line(k, (ln - int(ln * math.cos(a)), ln - int(ln * math.sin(a))),
                 (ln + int(ln * math.cos(a)), ln + int(ln * math.sin(a))), 1.0, 1)
        rad = cv2.filter2D(rad, -1, k / k.sum())

    # ---- lateral chromatic aberration
    if rng.random() < 0.7:
        ca = rng.uniform(0.0003, 0.0015)
        for ch, f in ((0, 1 + ca), (2, 1 - ca)):
            mat = np.float32([[f, 0, (1 - f) * w / 2], [0, f, (1 - f) * h / 2]])
            rad[..., ch] = cv2.warpAffine(np.ascontiguousarray(rad[..., ch]), mat, (w, h),
                                          borderMode=cv2.BORDER_REFLECT)

    # ---- exposure, white balance (auto WB only partly undoes the illuminant), noise
    light_level = rng.uniform(0.25, 1.0)  # dim rooms -> more gain -> more noise
    ev = rng.normal(0, 0.35)
    # centre-weighted average metering of the whole frame (so dark skin stays darker than light skin)
    cw = np.exp(-rr2 / 0.15)
    meter = float((rad[..., 1] * cw).sum() / cw.sum())
    gain = rng.uniform(0.2, 0.26) / max(meter, 1e-3) * 2 ** ev
    wb_corr = rng.uniform(0.3, 0.9)
    wb = (1 / light_col) ** wb_corr * np.array([1 + rng.normal(0, 0.03), 1, 1 + rng.normal(0, 0.03)], np.float32)
    lin = rad * gain * wb
    iso = 1 / light_level
    shot = 0.0006 * iso
    read = 0.0015 * iso
    noise = rng.standard_normal(lin.shape).astype(np.float32) * np.sqrt(np.clip(lin, 0, None) * shot + read ** 2)
    chroma = _blur(rng.standard_normal(lin.shape).astype(np.float32), 1.5 * sc) * 0.006 * iso
    lin = lin + noise + chroma
    srgb = _srgb(np.clip(lin, 0, 1)).astype(np.float32)
    g = rng.uniform(1.0, 1.3)
    srgb = srgb ** g / (srgb ** g + (1 - srgb) ** g + 1e-6)

    # ---- phone processing: chroma NR smear, local contrast, saturation, sharpening
    ycc = cv2.cvtColor(srgb, cv2.COLOR_RGB2YCrCb)
    if rng.random() < 0.7:
        s = rng.uniform(1.0, 3.0) * sc
        ycc[..., 1] = _blur(np.ascontiguousarray(ycc[..., 1]), s)
        ycc[..., 2] = _blur(np.ascontiguousarray(ycc[..., 2]), s)
        if rng.random() < 0.5:
            ycc[..., 0] = cv2.bilateralFilter(np.ascontiguousarray(ycc[..., 0]), 5, rng.uniform(0.03, 0.08), 3)
    if rng.random() < 0.6:
        yb = _blur(np.ascontiguousarray(ycc[..., 0]), min(w, h) / 30)
        ycc[..., 0] += rng.uniform(0.1, 0.45) * (ycc[..., 0] - yb)
    if rng.random() < 0.6:
        sat = rng.uniform(1.05, 1.35)
        ycc[..., 1:] = 0.5 + (ycc[..., 1:] - 0.5) * sat
    if rng.random() < 0.75:
        ys_ = np.ascontiguousarray(ycc[..., 0])
        ycc[..., 0] = ys_ + rng.uniform(0.3, 1.3) * (ys_ - _blur(ys_, rng.uniform(0.8, 1.8) * sc))
    srgb = cv2.cvtColor(np.clip(ycc, 0, 1), cv2.COLOR_YCrCb2RGB)
    img8 = np.clip(srgb * 255 + 0.5, 0, 255).astype(np.uint8)

    # ---- burnt-in timestamp / watermark
    meta_text = None
    if rng.random() < 0.15:
        meta_text = f"20{rng.integers(15, 25)}/{rng.integers(1, 13):02d}/{rng.integers(1, 29):02d} " \
                    f"{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}"
        fs = 0.9 * long_side / 1600
        (tw_, th_), _ = cv2.getTextSize(meta_text, cv2.FONT_HERSHEY_SIMPLEX, fs, max(1, int(2 * sc)))
        cv2.putText(img8, meta_text, (w - tw_ - int(20 * sc), h - int(20 * sc)), cv2.FONT_HERSHEY_SIMPLEX, fs,
                    (255, 150, 40), max(1, int(2 * sc)), cv2.LINE_AA)
    elif rng.random() < 0.1:
        meta_text = ["Dermatology Clinic", "PATIENT ID 0042", "Ward 7 - photo", "CONFIDENTIAL"][int(rng.integers(4))]
        fs = 0.8 * long_side / 1600
        over = img8.copy()
        cv2.putText(over, meta_text, (int(20 * sc), int(50 * sc)), cv2.FONT_HERSHEY_DUPLEX, fs, (255, 255, 255),
                    max(1, int(2 * sc)), cv2.LINE_AA)
        img8 = cv2.addWeighted(img8, 0.45, over, 0.55, 0)

    # ---- JPEG 4:2:0
    q = int(rng.integers(60, 96))
    buf = io.BytesIO()
    Image.fromarray(img8).save(buf, "JPEG", quality=q, subsampling=2)
    jpeg = buf.getvalue()
    image = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).copy()

    mmpp = local_mm_per_px(hm, *ref_centre)
    meta = {"jpeg_quality": q, "seed": seed, "background": bg_kind, "tilt_deg": cam["tilt_deg"],
            "focal_px": cam["focal_px"], "flash": flash, "motion_blur": motion, "hair": int(hair_density),
            "ref_centre": ref_centre, "homography_img_to_mm": hm.tolist(), "text": meta_text,
            "occluder": occ is not None, "dark": dark}
    return RenderedPhoto(image, jpeg, tuple(truths), mmpp, reference, sticker_mm if reference == "sticker" else None,
                         float(ita), meta)


# ------------------------------------------------------------------------------ folder


def write_folder(out: str | Path, n: int, seed0: int,
                 size: tuple[int, int] | None = None) -> list[tuple[str, RenderedPhoto]]:
    """Render n photos into out/images/clinic_*.jpg + out/annotations.json (indep_render.write_folder).

    Returns (file name relative to out, photo without its pixel arrays) per photo.
    """
    return indep_render.write_folder(out, n, seed0, size, render_fn=render, prefix="clinic",
                                     description="spotscale clinic-style renderer")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--seed0", type=int, default=950000)
    a = ap.parse_args()
    kept = write_folder(a.out, a.n, a.seed0)
    n_spots = sum(len(p.spots) for _, p in kept)
    print(f"wrote {len(kept)} photos, {n_spots} annotated spots to {a.out}")


if __name__ == "__main__":
    main()
