"""Skin and surroundings for the generator: tone by ITA, texture, pores, hair, veins, creases, background.

Everything here works on the skin-plane raster in linear RGB float32.
"""
from __future__ import annotations

import cv2
import numpy as np

from spotscale.data.skin_tone import FITZPATRICK_BY_BAND, ITA_BANDS, ita_band  # noqa: F401 (re-exported)

def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, np.float32)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(lin: np.ndarray) -> np.ndarray:
    """Linear RGB -> sRGB, float in [0, 1]."""
    c = np.clip(np.asarray(lin, np.float64), 0, 1)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def linear_to_srgb_u8(lin: np.ndarray) -> np.ndarray:
    """Linear RGB float -> sRGB uint8 through a 4096-entry table (fast on 12 MP)."""
    x = np.linspace(0, 1, 4096, dtype=np.float64)
    lut = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)
    lut = np.clip(np.round(lut * 255), 0, 255).astype(np.uint8)
    idx = np.empty(lin.shape, np.uint16)
    np.multiply(np.clip(lin, 0, 1, out=lin), 4095, out=lin)
    idx[...] = lin
    return lut[idx]


def lab_to_linear_rgb(lab: tuple[float, float, float]) -> np.ndarray:
    """One CIELAB (D65) colour to linear sRGB."""
    arr = np.array([[lab]], np.float32)
    rgb = cv2.cvtColor(arr, cv2.COLOR_Lab2RGB)[0, 0]  # float input: output sRGB in [0, 1]
    return srgb_to_linear(np.clip(rgb, 0, 1))


def sample_skin_lab(rng: np.random.Generator, band: str | None = None) -> tuple[tuple[float, float, float], float]:
    """Draw a skin CIELAB colour, ITA bands sampled uniformly; returns (L, a, b) and the nominal ITA."""
    names = [b[0] for b in ITA_BANDS]
    name = band or names[rng.integers(len(names))]
    _, lo, hi = ITA_BANDS[names.index(name)]
    ita = rng.uniform(lo, hi)
    b = rng.uniform(12, 21)
    lum = 50 + b * np.tan(np.deg2rad(ita))
    if lum > 80:
        lum, b = 80.0, 30.0 / np.tan(np.deg2rad(ita))
    if lum < 22:
        lum = 22.0
        b = (lum - 50) / np.tan(np.deg2rad(ita))
    a = rng.uniform(6, 15) + (3 if ita < 10 else 0)
    return (float(lum), float(a), float(b)), float(np.degrees(np.arctan2(lum - 50, b)))


def blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide ones run on a reduced copy (cost independent of sigma)."""
    if sigma <= 6:
        return cv2.GaussianBlur(a, (0, 0), sigma)
    f = sigma / 3.0
    h, w = a.shape[:2]
    small = cv2.resize(a, (max(2, int(w / f)), max(2, int(h / f))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 3.0)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def noise(rng: np.random.Generator, shape: tuple[int, int], cell_px: float) -> np.ndarray:
    """Smooth noise, std about 1, feature size about `cell_px`, upsampled from a coarse grid."""
    h, w = shape
    gh, gw = max(2, int(h / cell_px) + 2), max(2, int(w / cell_px) + 2)
    small = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def skin_density(rng: np.random.Generator, shape: tuple[int, int], raster_mm: float) -> np.ndarray:
    """Optical density of skin mottling (melanin and erythema blotches), (h, w, 3) at `raster_mm` per px."""
    r = raster_mm
    mel = noise(rng, shape, 25 / r) * rng.uniform(0.02, 0.07) + noise(rng, shape, 6 / r) * rng.uniform(0.01, 0.03)
    ery = noise(rng, shape, 15 / r) * rng.uniform(0.01, 0.07)
    od = mel[..., None] * np.array([0.8, 1.0, 1.25], np.float32)
    od += ery[..., None] * np.array([0.05, 1.0, 0.7], np.float32)
    return od


def fine_density(rng: np.random.Generator, shape: tuple[int, int], raster_mm: float) -> tuple[np.ndarray, dict]:
    """Full-resolution grey optical density: fine texture, pores and creases / skin lines, (h, w).

    Drawn at half resolution (pores are ~0.1 mm, several raster pixels) and upsampled once.
    """
    h, w = shape
    sh, sw = max(2, (h + 1) // 2), max(2, (w + 1) // 2)
    r2 = raster_mm * 2
    fine = rng.standard_normal((sh, sw), dtype=np.float32)
    fine *= np.float32(rng.uniform(0.015, 0.04))
    # skin relief: a network of fine furrows (ridged noise, cells ~0.4-1 mm), fading where cells are sub-pixel
    cell_px = rng.uniform(0.4, 1.0) / r2
    if cell_px >= 1.5:
        ridge = noise(rng, (sh, sw), cell_px)
        ridge = np.exp(-(ridge / np.float32(0.25)) ** 2)
        fine += ridge * np.float32(rng.uniform(0.04, 0.12) * min(1.0, (cell_px - 1.5) / 3))
    pore_density = float(rng.uniform(0.3, 1.5))  # per mm^2
    n_pores = min(int(sh * sw * r2 ** 2 * pore_density), 400_000)
    if n_pores:
        pores = np.zeros((sh, sw), np.float32)
        pores[rng.integers(0, sh, n_pores), rng.integers(0, sw, n_pores)] = 1.0
        true_sig = 0.05 / r2  # pores smaller than a pixel fade out instead of becoming pixel-sized dots
        sig = max(0.5, true_sig)
        pores = cv2.GaussianBlur(pores, (0, 0), sig)
        fine += pores * np.float32(2 * np.pi * true_sig ** 2 * rng.uniform(0.1, 0.35))
    n_creases = int(rng.choice([0, 3, 8, 20], p=[0.25, 0.3, 0.3, 0.15]))
    if n_creases:
        width_px = rng.uniform(0.08, 0.25) / r2
        cov = draw_curves(rng, (sh, sw), n_creases, (10 / r2, 60 / r2), max(1.0, width_px), 0.05)
        cov = cv2.GaussianBlur(cov, (0, 0), max(0.5, 0.1 / r2))
        fine += cov * np.float32(rng.uniform(0.15, 0.4) * min(1.0, width_px))
    fine = cv2.resize(fine, (w, h), interpolation=cv2.INTER_LINEAR)
    return fine, {"pores_per_mm2": pore_density, "creases": n_creases}


def curve_coverage(rng: np.random.Generator, shape: tuple[int, int], n: int, length_px: tuple[float, float],
                   thickness_px: float, curl: float) -> np.ndarray:
    """Anti-aliased random curved strokes (random walks of 12 steps, a shared main direction), uint8 0..255."""
    h, w = shape
    cov = np.zeros((h, w), np.uint8)
    if n <= 0:
        return cov
    steps = 12
    start = np.c_[rng.uniform(-0.05 * w, 1.05 * w, n), rng.uniform(-0.05 * h, 1.05 * h, n)]
    ang = rng.uniform(0, np.pi) + rng.normal(0, 0.5, n)
    ang = ang[:, None] + np.cumsum(rng.normal(0, curl, (n, steps)), axis=1)
    step = (rng.uniform(*length_px, n) / steps)[:, None]
    pts = np.empty((n, steps + 1, 2))
    pts[:, 0] = start
    pts[:, 1:, 0] = start[:, :1] + np.cumsum(np.cos(ang) * step, axis=1)
    pts[:, 1:, 1] = start[:, 1:] + np.cumsum(np.sin(ang) * step, axis=1)
    pts = np.round(pts * 16).astype(np.int32)
    widths = np.maximum(1, np.round(thickness_px * rng.uniform(0.7, 1.3, n))).astype(int)
    for t in np.unique(widths):
        cv2.polylines(cov, list(pts[widths == t]), False, 255, int(t), cv2.LINE_AA, shift=4)
    return cov


def draw_curves(rng: np.random.Generator, shape: tuple[int, int], n: int, length_px: tuple[float, float],
                thickness_px: float, curl: float) -> np.ndarray:
    """Anti-aliased random curved strokes as a float coverage map in [0, 1]."""
    return curve_coverage(rng, shape, n, length_px, thickness_px, curl).astype(np.float32) / np.float32(255)


def add_hair(rng: np.random.Generator, img: np.ndarray, raster_mm: float, ita: float) -> dict:
    """Thin dark curved hairs; sometimes dense. Returns what was drawn."""
    h, w = img.shape[:2]
    area_cm2 = h * w * raster_mm ** 2 / 100
    density = float(rng.choice([0, 0.5, 2, 6, 15], p=[0.25, 0.25, 0.25, 0.15, 0.1]))  # per cm^2
    n = min(int(area_cm2 * density), 4000)
    true_thick = rng.uniform(0.04, 0.1) / raster_mm
    cov = curve_coverage(rng, (h, w), n, (3 / raster_mm, 15 / raster_mm), max(1.0, true_thick), 0.12)
    hair_col = np.array([0.02, 0.015, 0.01], np.float32) * rng.uniform(0.5, 3)
    if rng.random() < 0.15:
        hair_col = np.array([0.25, 0.18, 0.1], np.float32)  # fair hair
    if n:
        idx = np.flatnonzero(cov)  # hairs cover a small part of the skin: update only those pixels
        a = cov.reshape(-1)[idx].astype(np.float32)
        a *= np.float32(rng.uniform(0.6, 0.95) * min(1.0, true_thick) ** 0.7 / 255)  # thin hairs cover part of a pixel
        flat = img.reshape(-1, 3)
        px = flat[idx]
        px -= (px - hair_col) * a[:, None]
        flat[idx] = px
    return {"hair_per_cm2": density, "hair_count": n}


def vein_density(rng: np.random.Generator, shape: tuple[int, int], raster_mm: float, skin_dark: float) -> tuple[np.ndarray, int]:
    """Low-resolution optical density of bluish, wide, low-contrast veins, (h, w, 3) at `raster_mm` per px."""
    n_veins = int(rng.choice([0, 1, 2, 4], p=[0.3, 0.3, 0.25, 0.15]))
    h, w = shape
    if not n_veins:
        return np.zeros((h, w, 3), np.float32), 0
    cov = draw_curves(rng, shape, n_veins, (60 / raster_mm, 200 / raster_mm), rng.uniform(2, 5) / raster_mm, 0.15)
    cov = blur(cov, max(1.0, 1.2 / raster_mm))
    k = np.array([0.3, 0.15, 0.02], np.float32) * rng.uniform(0.5, 1.2) * (1 - 0.6 * skin_dark)
    return cov[..., None] * k, n_veins


def background(rng: np.random.Generator, shape: tuple[int, int], raster_mm: float, ds: int,
               shadow_from: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """Non-skin surroundings (cloth incl. red/purple, blue/white/green sheets, wall, floor), full-res linear RGB.

    Folds and shading are drawn at 1/ds resolution and upsampled; weave is full resolution.
    `shadow_from` (full-res signed distance to the limb, px) darkens the background next to the limb.
    """
    h, w = shape
    kinds = {
        "red_cloth": (0.35, 0.02, 0.03), "purple_cloth": (0.12, 0.02, 0.18), "blue_sheet": (0.08, 0.2, 0.45),
        "white_sheet": (0.7, 0.72, 0.72), "green_sheet": (0.1, 0.3, 0.22), "wall": (0.55, 0.5, 0.42),
        "floor": (0.3, 0.18, 0.08), "dark_cloth": (0.02, 0.02, 0.03), "jeans": (0.04, 0.07, 0.15),
        "pink_cloth": (0.6, 0.2, 0.25),
    }
    kind = str(rng.choice(list(kinds)))
    col = np.array(kinds[kind], np.float32) * rng.uniform(0.7, 1.2, 3).astype(np.float32)
    low = (max(2, -(-h // ds)), max(2, -(-w // ds)))
    soft = "sheet" in kind or "cloth" in kind
    folds = 1 + noise(rng, low, 40 / raster_mm / ds) * (0.25 if soft else 0.08)
    if soft:
        folds -= np.abs(noise(rng, low, 15 / raster_mm / ds)) * 0.15
    folds = np.clip(folds, 0.3, None)
    if kind == "floor":
        yy = np.arange(low[0], dtype=np.float32)[:, None]
        folds = folds * (1 + 0.15 * np.sin(yy * raster_mm * ds / rng.uniform(2, 8)))
    if shadow_from is not None:
        d = cv2.resize(shadow_from, (low[1], low[0]), interpolation=cv2.INTER_AREA)
        folds = folds * (1 - rng.uniform(0.2, 0.5) * np.exp(-np.clip(d, 0, None) / max(1.0, 5 / raster_mm)))
    low_img = (folds[..., None] * col).astype(np.float32)
    if soft and rng.random() < 0.35:  # printed pattern (dots or stripes, sometimes red or purple), drawn small
        kind += "_" + _print_pattern(rng, low_img, raster_mm * ds)
    img = cv2.resize(low_img, (w, h), interpolation=cv2.INTER_LINEAR)
    if soft or kind == "jeans":
        small = (max(2, (h + 1) // 2), max(2, (w + 1) // 2))
        weave = cv2.resize(rng.standard_normal(small, dtype=np.float32), (w, h), interpolation=cv2.INTER_NEAREST)
        img *= (1 + np.float32(0.08) * weave)[..., None]
    return img, kind


def limb_field(rng: np.random.Generator, shape: tuple[int, int], raster_mm: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """Signed distance (px, < 0 inside) to the limb's outline and a 0..1 'across the limb' coordinate.

    Smooth fields, computed on a coarse raster of `shape` and meant to be upsampled; some photos are all skin.
    """
    h, w = shape
    diag = float(np.hypot(w, h))
    mode = str(rng.choice(["full", "limb", "edge"], p=[0.3, 0.45, 0.25]))
    ang = rng.uniform(0, np.pi)
    n = np.array([-np.sin(ang), np.cos(ang)])
    cx, cy = w / 2, h / 2
    xs = np.arange(w, dtype=np.float32)[None, :] - cx
    ys = np.arange(h, dtype=np.float32)[:, None] - cy
    across = xs * n[0] + ys * n[1]
    along = xs * -n[1] + ys * n[0]
    if mode == "full":
        half, offset = diag * rng.uniform(0.9, 1.5), 0.0
    elif mode == "limb":
        half, offset = diag * rng.uniform(0.28, 0.45), diag * rng.uniform(-0.08, 0.08)
    else:
        half = diag * rng.uniform(0.5, 0.8)
        offset = half - diag * rng.uniform(0.15, 0.35)
    taper = 1 + rng.uniform(-0.15, 0.15) * along / diag
    bend = rng.uniform(-0.15, 0.15) * (along / diag) ** 2 * diag
    wiggle = noise(rng, (h, w), max(4.0, 30 / raster_mm)) * 0.008 * diag
    dist = np.abs(across - offset - bend)
    signed = dist - half * taper - wiggle
    rel = np.clip(dist / (half * taper), 0, 1)
    return signed.astype(np.float32), rel.astype(np.float32), {"layout": mode}


def _print_pattern(rng: np.random.Generator, img: np.ndarray, raster_mm: float) -> str:
    """Draw a printed fabric pattern (dots or stripes) on a background, in place; return its name."""
    h, w = img.shape[:2]
    colours = [(0.4, 0.02, 0.03), (0.15, 0.02, 0.2), (0.8, 0.8, 0.78), (0.02, 0.02, 0.03), (0.05, 0.1, 0.4)]
    col = np.array(colours[rng.integers(len(colours))], np.float32)
    mask = np.zeros((h, w), np.uint8)
    pitch = rng.uniform(4, 20) / raster_mm
    if rng.random() < 0.5:
        rad = max(1, int(pitch * rng.uniform(0.1, 0.3)))
        for y in np.arange(pitch / 2, h, pitch):
            off = pitch / 2 if int(y / pitch) % 2 else 0
            for x in np.arange(off, w, pitch):
                cv2.circle(mask, (int(x), int(y)), rad, 255, -1, cv2.LINE_AA)
        name = "dots"
    else:
        t = max(1, int(pitch * rng.uniform(0.15, 0.5)))
        for y in np.arange(0, h + w, pitch):
            cv2.line(mask, (0, int(y)), (w, int(y - w * 0.3)), 255, t, cv2.LINE_AA)
        name = "stripes"
    idx = np.flatnonzero(mask)  # update only printed pixels
    a = mask.reshape(-1)[idx].astype(np.float32) / np.float32(255)
    flat = img.reshape(-1, 3)
    px = flat[idx]
    shade = px.mean(axis=1, keepdims=True) / max(float(img[::8, ::8].mean()), 1e-3)  # folds shade the print too
    px += a[:, None] * (col * shade - px)
    flat[idx] = px
    return name
