"""Spot pigments for the generator: opacity crops on the skin-plane raster and their absorption.

A spot is an opacity field in [0, 1] on a local crop of the plane raster. Its colour comes from
multiplying the skin's linear RGB by a transmission exp(-opacity * density * k), where k is the
pigment's absorption per channel (haemoglobin, melanin, bilirubin...), so the same bleed is darker
and less red on dark skin. THE MASK OF A SPOT IS WHERE ITS PIGMENT OPACITY >= 0.5: soft edges make
"where is the boundary" a definition, and this is ours.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Absorption per linear R, G, B (relative optical densities).
K_OXY = np.array([0.22, 2.1, 1.5], np.float32)       # fresh, bright red blood
K_DEOXY = np.array([0.75, 2.0, 1.0], np.float32)     # purple, deoxygenated
K_OLD = np.array([0.75, 1.15, 1.55], np.float32)     # brownish, hemosiderin
K_BRUISE_RIM = np.array([0.35, 0.25, 1.5], np.float32)  # yellow-green, bilirubin / biliverdin
K_MELANIN = np.array([0.9, 1.35, 1.9], np.float32)
K_ERYTHEMA = np.array([0.05, 0.55, 0.4], np.float32)  # pink inflammation


@dataclass(frozen=True)
class SpotPlan:
    """What to draw: kind, centre (plane-raster px), nominal radius (mm), and appearance."""

    category: str
    subtype: str
    u: float  # centre in plane-raster px
    v: float
    radius_mm: float
    appearance: str  # "petechia" | "purpura" for hemorrhagic spots (borderline look), else subtype


@dataclass(frozen=True)
class SpotLayer:
    """A rendered spot: opacity and per-pixel absorption on a crop of the plane raster."""

    u0: int
    v0: int
    opacity: np.ndarray          # (h, w) float32, the mask is opacity >= 0.5
    absorb: np.ndarray           # (h, w, 3) float32 optical density (already times opacity)
    extra_absorb: np.ndarray | None = None  # halo etc.: drawn, but not part of the mask
    highlight: np.ndarray | None = None     # additive specular highlight (h, w)


def _noise(rng: np.random.Generator, shape: tuple[int, int], cells: float) -> np.ndarray:
    """Smooth zero-mean unit-ish noise with about `cells` blobs across the larger side."""
    h, w = shape
    n = max(2, int(cells))
    small = rng.standard_normal((n + 2, n + 2)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _blob(rng: np.random.Generator, radius_px: float, soft_px: float, irregular: float,
          elong: float, cx: float, cy: float, shape: tuple[int, int]) -> np.ndarray:
    """Opacity of a star-shaped blob: sigmoid of (r(theta) - distance) / soft, 0.5 on the outline."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, np.pi)
    dx, dy = xx - cx, yy - cy
    ca, sa = np.cos(ang), np.sin(ang)
    px = (dx * ca + dy * sa) / elong
    py = -dx * sa + dy * ca
    d = np.hypot(px, py)
    th = np.arctan2(py, px)
    r = np.ones_like(d)
    for k in range(2, 6):
        amp = irregular * rng.uniform(0, 1) / k ** 1.5
        r += amp * np.cos(k * th + rng.uniform(0, 2 * np.pi))
    r *= radius_px
    z = np.clip((r - d) / max(soft_px, 1e-3), -30, 30)
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def render_spot(rng: np.random.Generator, plan: SpotPlan, raster_mm: float, skin_dark: float) -> SpotLayer:
    """Draw one spot's opacity and absorption on a local crop of the plane raster.

    `raster_mm` is mm per raster pixel;
    `skin_dark` in [0, 1] (0 very light, 1 very dark) shifts colours the way melanin does.
    """
    kind = other_variant(rng, plan.appearance)
    lo, hi = _VARIANT_SIZE.get(kind, (1.0, 1.0))
    rad = plan.radius_mm * (rng.uniform(lo, hi) if kind in _VARIANT_SIZE else 1.0) / raster_mm
    soft = {
        "petechia": rng.uniform(0.25, 0.6) + 0.06 * rad,
        "purpura": rad * rng.uniform(0.05, 0.14) + 0.5,
        "ecchymosis": rad * rng.uniform(0.08, 0.18),
        "nevus": rng.uniform(0.3, 0.8) + 0.05 * rad,
        "freckle": rad * rng.uniform(0.2, 0.45),
        "cherry_angioma": rng.uniform(0.3, 0.7),
        "bite": rad * rng.uniform(0.25, 0.4),
        "pale_freckle": rad * rng.uniform(0.3, 0.55),
        "lentigo": rng.uniform(0.3, 0.8) + rad * rng.uniform(0.05, 0.15),
        "seborrhoeic_keratosis": rng.uniform(0.3, 0.7) + rad * 0.04,
        "scab": rng.uniform(0.3, 0.6) + rad * 0.05,
        "tattoo_dot": rng.uniform(0.3, 0.8),
        "ink_mark": rng.uniform(0.3, 0.6),
        "papule": rad * rng.uniform(0.3, 0.5),
        "folliculitis": rad * rng.uniform(0.2, 0.35),
        "scratch": rng.uniform(0.3, 0.6),
    }.get(kind, rad * 0.2)
    irregular = {"petechia": 0.12, "purpura": 0.45, "ecchymosis": 0.55, "nevus": 0.08,
                 "freckle": 0.3, "cherry_angioma": 0.05, "bite": 0.12, "pale_freckle": 0.35, "lentigo": 0.35,
                 "seborrhoeic_keratosis": 0.3, "scab": 0.7, "tattoo_dot": 0.05, "ink_mark": 0.15,
                 "papule": 0.1, "folliculitis": 0.1, "scratch": 0.25}.get(kind, 0.2)
    elong = rng.uniform(1.0, {"ecchymosis": 1.6, "purpura": 1.4, "freckle": 1.5, "pale_freckle": 1.5,
                              "lentigo": 1.6, "seborrhoeic_keratosis": 1.5, "scab": 1.8,
                              "ink_mark": 3.0}.get(kind, 1.15))
    if kind == "scratch":  # a thin line: `rad` is its half width, elong its length over width
        elong = rng.uniform(4.0, 12.0)
    halo = rad * 2.6 if kind == "bite" else rad * rng.uniform(1.6, 2.4) if kind == "scab" else 0.0
    lobes = 1.25 if kind == "purpura" else 1.0
    reach = max(rad * lobes * elong * (1 + 0.8 * irregular) + 5 * soft, halo * 1.6) + 3
    u0, v0 = int(np.floor(plan.u - reach)), int(np.floor(plan.v - reach))
    n = int(np.ceil(2 * reach)) + 2
    # large spots are drawn on a coarser grid and upsampled: the upsampled field IS the spot
    f = max(1.0, rad / 30.0)
    nw = int(np.ceil(n / f))
    cx, cy = (plan.u - u0 + 0.5) / f - 0.5, (plan.v - v0 + 0.5) / f - 0.5
    op, absorb, extra, highlight = _fields(rng, kind, rad / f, soft / f, irregular, elong, halo / f, cx, cy, nw,
                                           skin_dark)
    if f > 1:
        op, absorb = _up(op, n), _up(absorb, n)
        extra = None if extra is None else _up(extra, n)
        highlight = None if highlight is None else _up(highlight, n)
    return SpotLayer(u0, v0, op, absorb, extra, highlight)


def _up(a: np.ndarray, n: int) -> np.ndarray:
    return cv2.resize(a, (n, n), interpolation=cv2.INTER_LINEAR)


def _fields(rng: np.random.Generator, kind: str, rad: float, soft: float, irregular: float, elong: float,
            halo: float, cx: float, cy: float, n: int, skin_dark: float):
    """Opacity, absorption, extra absorption and highlight of one spot on an n x n grid."""
    op = _blob(rng, rad, soft, irregular, elong, cx, cy, (n, n))
    if kind == "purpura" and rng.random() < 0.5:  # merged lobes
        for _ in range(rng.integers(1, 3)):
            a = rng.uniform(0, 2 * np.pi)
            off = rad * rng.uniform(0.3, 0.6)
            lobe = _blob(rng, rad * rng.uniform(0.4, 0.6), soft, irregular, 1.0,
                         cx + off * np.cos(a), cy + off * np.sin(a), (n, n))
            op = np.maximum(op, lobe)
    tex = 1.0 + _noise(rng, (n, n), max(2, rad / 3)) * 0.15
    extra = None
    highlight = None
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    if kind == "petechia":
        mix = rng.random()
        k = K_OXY * (1 - mix) + K_DEOXY * mix if rng.random() < 0.8 else K_OLD
        dens = 0.5 * 3.6 ** rng.uniform(0.0, 1.0) * (1.0 - 0.35 * skin_dark)  # pale pink to dark maroon (0.5-1.8)
        absorb = (op * tex * dens)[..., None] * k
    elif kind == "purpura":
        mix = rng.uniform(0.5, 1.0)
        k = K_OXY * (1 - mix) + K_DEOXY * mix if rng.random() < 0.85 else K_OLD
        dens = rng.uniform(0.6, 1.2) * (1.0 - 0.3 * skin_dark)
        absorb = (op * tex * dens)[..., None] * k
    elif kind == "ecchymosis":
        d = np.hypot(xx - cx, yy - cy) / max(rad, 1)
        rim = np.clip((d - rng.uniform(0.5, 0.8)) / 0.4, 0, 1)[..., None]
        rim = rim * rng.uniform(0.25, 0.8)
        k = K_DEOXY * (1 - rim) + K_BRUISE_RIM * rim
        dens = rng.uniform(0.6, 1.1) * (1.0 - 0.3 * skin_dark)
        absorb = (op * np.clip(1 + _noise(rng, (n, n), 5) * 0.25, 0.3, None) * dens)[..., None] * k
    elif kind in ("nevus", "freckle"):
        dens = rng.uniform(0.9, 2.2) if kind == "nevus" else rng.uniform(0.25, 0.55)
        absorb = (op * tex * dens)[..., None] * K_MELANIN
    elif kind == "cherry_angioma":
        dens = rng.uniform(1.0, 1.6)
        absorb = (op * dens)[..., None] * (K_OXY * 1.2)
        hx, hy = cx - rad * 0.3, cy - rad * 0.3
        highlight = (np.exp(-((xx - hx) ** 2 + (yy - hy) ** 2) / (2 * max(rad * 0.12, 0.5) ** 2))
                     * rng.uniform(0.1, 0.35)).astype(np.float32)
    elif kind == "bite":
        dens = rng.uniform(0.5, 0.9)
        absorb = (op * dens)[..., None] * K_ERYTHEMA
        hal = np.exp(-(np.hypot(xx - cx, yy - cy) / max(halo * 0.55, 1)) ** 2).astype(np.float32)
        extra = (hal * rng.uniform(0.2, 0.45))[..., None] * K_ERYTHEMA
        punct = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * max(rad * 0.12, 0.5) ** 2))
        absorb = absorb + (punct * 0.6)[..., None].astype(np.float32) * K_DEOXY
    elif kind in _OTHER_LOOKS:
        absorb, extra, highlight = _OTHER_LOOKS[kind](rng, op, rad, halo, cx, cy, n, skin_dark)
    else:
        raise ValueError(f"unknown spot appearance {kind!r}")
    return op, absorb.astype(np.float32), extra, highlight


# Looks that are not bleeding, drawn in place of an "other" plan's appearance (freckle, nevus, bite)
# with these probabilities: real photos show far more kinds of non-bleeding spots than the plan names.
# The truth keeps the plan's subtype; the category ("other") is what matters.
OTHER_VARIANTS: dict[str, tuple[tuple[str, float], ...]] = {
    "freckle": (("freckle", 0.4), ("pale_freckle", 0.35), ("lentigo", 0.25)),
    "nevus": (("nevus", 0.4), ("seborrhoeic_keratosis", 0.15), ("scab", 0.15), ("tattoo_dot", 0.1),
              ("ink_mark", 0.1), ("pale_freckle", 0.1)),
    "bite": (("bite", 0.3), ("papule", 0.25), ("folliculitis", 0.25), ("scratch", 0.2)),
}
# radius factors (uniform range) of the variants relative to the plan's nominal radius
_VARIANT_SIZE: dict[str, tuple[float, float]] = {
    "pale_freckle": (0.4, 1.0), "lentigo": (0.8, 1.6), "seborrhoeic_keratosis": (0.9, 1.6), "scab": (0.3, 0.9),
    "tattoo_dot": (0.12, 0.4), "ink_mark": (0.12, 0.4), "papule": (0.4, 1.0), "folliculitis": (0.3, 0.6),
    "scratch": (0.06, 0.15),
}
K_INKS = (np.array([1.2, 0.8, 0.2], np.float32), np.array([1.5, 1.5, 1.4], np.float32),  # blue, black
          np.array([1.0, 0.9, 0.7], np.float32), np.array([1.3, 1.0, 0.5], np.float32))  # blue-grey, navy
# (no purple or red ink: a magenta dot IS what a petechia looks like in a photo)
K_PUS = np.array([-0.12, -0.08, 0.25], np.float32)  # a yellow-white pustule: lighter red/green, less blue


def other_variant(rng: np.random.Generator, appearance: str) -> str:
    """The look drawn for a plan's appearance: itself, or one of its OTHER_VARIANTS."""
    options = OTHER_VARIANTS.get(appearance)
    if not options:
        return appearance
    names, p = zip(*options)
    return str(names[int(rng.choice(len(names), p=np.asarray(p) / sum(p)))])


def _melanin_look(rng, op, rad, halo, cx, cy, n, skin_dark, dens_range, tex_amp, cells):
    """Brown melanin absorption with a texture, hue jittered a little (freckles, lentigines, SK)."""
    tex = np.clip(1.0 + _noise(rng, (n, n), cells) * tex_amp, 0.2, None)
    k = K_MELANIN * rng.uniform(0.92, 1.08, 3).astype(np.float32)
    return (op * tex * rng.uniform(*dens_range))[..., None] * k, None, None


def _pale_freckle(rng, op, rad, halo, cx, cy, n, skin_dark):
    return _melanin_look(rng, op, rad, halo, cx, cy, n, skin_dark, (0.16, 0.35), 0.15, max(2, rad / 3))


def _lentigo(rng, op, rad, halo, cx, cy, n, skin_dark):
    return _melanin_look(rng, op, rad, halo, cx, cy, n, skin_dark, (0.55, 1.3), 0.2, max(2, rad / 3))


def _seb_keratosis(rng, op, rad, halo, cx, cy, n, skin_dark):
    """Stuck-on, warty tan-to-dark-brown plaque: coarse texture and keratin glints."""
    absorb, _, _ = _melanin_look(rng, op, rad, halo, cx, cy, n, skin_dark, (0.5, 1.6), 0.45, max(3, rad / 2.5))
    glint = np.clip(_noise(rng, (n, n), max(3, rad / 2)) - 1.6, 0, None) * op * rng.uniform(0.03, 0.1)
    return absorb, None, glint.astype(np.float32)


def _scab(rng, op, rad, halo, cx, cy, n, skin_dark):
    """Crust of dried blood and serum: dark red-brown to black, rough, often an inflamed rim."""
    mix = rng.uniform(0.3, 1.0)
    k = K_OLD * mix + K_MELANIN * (1 - mix)
    tex = np.clip(1.0 + _noise(rng, (n, n), max(3, rad / 2)) * 0.5, 0.2, None)
    absorb = (op * tex * rng.uniform(1.2, 2.6))[..., None] * k
    glint = np.clip(_noise(rng, (n, n), max(3, rad / 2)) - 1.6, 0, None) * op * rng.uniform(0.03, 0.12)
    extra = None
    if rng.random() < 0.6:
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
        hal = np.exp(-(np.hypot(xx - cx, yy - cy) / max(halo * 0.6, 1)) ** 2)
        extra = (hal * rng.uniform(0.15, 0.4))[..., None] * K_ERYTHEMA
    return absorb, extra, glint.astype(np.float32)


def _ink(rng, op, rad, halo, cx, cy, n, skin_dark, dens_range):
    k = K_INKS[int(rng.integers(len(K_INKS)))] * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    return (op * rng.uniform(*dens_range))[..., None] * k, None, None


def _tattoo_dot(rng, op, rad, halo, cx, cy, n, skin_dark):
    """A tattoo's ink dot (radiotherapy marks, fine-line tattoos): blue-black, sharp, flat."""
    return _ink(rng, op, rad, halo, cx, cy, n, skin_dark, (0.8, 2.2))


def _ink_mark(rng, op, rad, halo, cx, cy, n, skin_dark):
    """A pen dot or short stroke on the skin (blue, black, purple)."""
    return _ink(rng, op, rad, halo, cx, cy, n, skin_dark, (0.5, 1.8))


def _papule(rng, op, rad, halo, cx, cy, n, skin_dark):
    """An insect bite without halo / urticarial papule: pink, soft-edged, a raised sheen."""
    absorb = (op * rng.uniform(0.6, 1.3))[..., None] * K_ERYTHEMA
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    hx, hy = cx - rad * 0.3, cy - rad * 0.3
    shine = np.exp(-((xx - hx) ** 2 + (yy - hy) ** 2) / (2 * max(rad * 0.25, 0.5) ** 2)) * rng.uniform(0, 0.12)
    return absorb, None, shine.astype(np.float32)


def _folliculitis(rng, op, rad, halo, cx, cy, n, skin_dark):
    """A follicular papule or pustule: pink rim, a yellow-white head in the middle half the time."""
    absorb = (op * rng.uniform(0.6, 1.2))[..., None] * K_ERYTHEMA
    if rng.random() < 0.5:
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
        head = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * max(rad * 0.35, 0.5) ** 2))
        absorb = absorb + (head * rng.uniform(0.5, 1.0))[..., None].astype(np.float32) * (K_PUS - K_ERYTHEMA * 0.8)
    return absorb, None, None


def _scratch(rng, op, rad, halo, cx, cy, n, skin_dark):
    """A small scratch: a thin red line (fresh) or a pale, whitish one (dry excoriation)."""
    if rng.random() < 0.6:
        k = K_ERYTHEMA * 0.6 + K_OXY * 0.4
        return (op * rng.uniform(0.5, 1.1))[..., None] * k, None, None
    return (op * rng.uniform(0.1, 0.3))[..., None] * K_ERYTHEMA, None, (op * rng.uniform(0.08, 0.2)).astype(np.float32)


_OTHER_LOOKS = {"pale_freckle": _pale_freckle, "lentigo": _lentigo, "seborrhoeic_keratosis": _seb_keratosis,
                "scab": _scab, "tattoo_dot": _tattoo_dot, "ink_mark": _ink_mark, "papule": _papule,
                "folliculitis": _folliculitis, "scratch": _scratch}
