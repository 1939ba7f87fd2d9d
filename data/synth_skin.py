"""Skin and surroundings for the generator: tone by ITA, texture, pores, hair, veins, creases, background.

Everything here works on the skin-plane raster in linear RGB float32.
"""
from __future__ import annotations

import cv2
import numpy as np

ITA_BANDS: tuple[tuple[str, float, float], ...] = (  # name, low, high (degrees)
    ("very_light", 55.0, 70.0), ("light", 41.0, 55.0), ("intermediate", 28.0, 41.0),
    ("tan", 10.0, 28.0), ("brown", -30.0, 10.0), ("dark", -60.0, -30.0),
)
FITZPATRICK_BY_BAND = {"very_light": "I", "light": "II", "intermediate": "III", "tan": "IV",
                       "brown": "V", "dark": "VI"}


def ita_band(ita: float) -> str:
    """Name of the ITA band (Chardon et al.) an angle falls in."""
    for name, lo, _hi in ITA_BANDS:
        if ita > lo:
            return name
    return "dark"


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, np.float32)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


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


def noise(rng: np.random.Generator, shape: tuple[int, int], cell_px: float) -> np.ndarray:
    """Smooth noise, std about 1, feature size about `cell_px`, upsampled from a coarse grid."""
    h, w = shape
    gh, gw = max(2, int(h / cell_px) + 2), max(2, int(w / cell_px) + 2)
    small = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def skin_texture(rng: np.random.Generator, shape: tuple[int, int], raster_mm: float, base: np.ndarray,
                 ita: float) -> np.ndarray:
    """Skin colour field: mottling (melanin / erythema), fine texture and pores, linear RGB."""
    h, w = shape
    mott = noise(rng, shape, 25 / raster_mm) * 0.05 + noise(rng, shape, 6 / raster_mm) * 0.03
    red = noise(rng, shape, 15 / raster_mm) * rng.uniform(0.02, 0.08)
    small = (max(2, h // 2), max(2, w // 2))
    fine = cv2.resize(rng.standard_normal(small).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    fine *= rng.uniform(0.015, 0.04)
    img = np.empty((h, w, 3), np.float32)
    g = 1.0 + mott + fine
    img[..., 0] = base[0] * g * (1 + red * 0.3)
    img[..., 1] = base[1] * g * (1 - red)
    img[..., 2] = base[2] * g * (1 - red * 0.6)
    # pores: sparse small dark dots
    n_pores = int(h * w * raster_mm ** 2 * rng.uniform(0.3, 1.5))  # per mm^2
    if n_pores:
        pores = np.zeros((h, w), np.float32)
        ys = rng.integers(0, h, n_pores)
        xs = rng.integers(0, w, n_pores)
        pores[ys, xs] = 1.0
        sig = max(0.6, 0.06 / raster_mm)
        pores = cv2.GaussianBlur(pores, (0, 0), sig) * (2 * np.pi * sig ** 2)
        img *= (1 - np.clip(pores, 0, 1) * rng.uniform(0.1, 0.3))[..., None]
    return img


def draw_curves(rng: np.random.Generator, shape: tuple[int, int], n: int, length_px: tuple[float, float],
                thickness_px: float, curl: float, scale: int = 16) -> np.ndarray:
    """Anti-aliased random curved strokes as a float coverage map in [0, 1]."""
    h, w = shape
    cov = np.zeros((h, w), np.uint8)
    if n <= 0:
        return cov.astype(np.float32)
    base_dir = rng.uniform(0, np.pi)
    for _ in range(n):
        x, y = rng.uniform(-0.05 * w, 1.05 * w), rng.uniform(-0.05 * h, 1.05 * h)
        ang = base_dir + rng.normal(0, 0.5)
        length = rng.uniform(*length_px)
        steps = 12
        pts = [(x, y)]
        for _ in range(steps):
            ang += rng.normal(0, curl)
            x += np.cos(ang) * length / steps
            y += np.sin(ang) * length / steps
            pts.append((x, y))
        arr = (np.array(pts) * scale).astype(np.int32)
        t = max(1, int(round(thickness_px * rng.uniform(0.7, 1.3))))
        cv2.polylines(cov, [arr], False, 255, t, cv2.LINE_AA, shift=4)
    return cov.astype(np.float32) / 255.0


def add_hair(rng: np.random.Generator, img: np.ndarray, raster_mm: float, ita: float) -> dict:
    """Thin dark curved hairs; sometimes dense. Returns what was drawn."""
    h, w = img.shape[:2]
    area_cm2 = h * w * raster_mm ** 2 / 100
    density = float(rng.choice([0, 0.5, 2, 6, 15], p=[0.25, 0.25, 0.25, 0.15, 0.1]))  # per cm^2
    n = int(area_cm2 * density)
    n = min(n, 4000)
    thick = max(1.0, rng.uniform(0.04, 0.09) / raster_mm)
    cov = draw_curves(rng, (h, w), n, (3 / raster_mm, 15 / raster_mm), thick, 0.12)
    hair_col = np.array([0.02, 0.015, 0.01], np.float32) * rng.uniform(0.5, 3)
    if rng.random() < 0.15:
        hair_col = np.array([0.25, 0.18, 0.1], np.float32)  # fair hair
    op = cov * rng.uniform(0.6, 0.95)
    img *= (1 - op)[..., None]
    img += op[..., None] * hair_col
    return {"hair_per_cm2": density, "hair_count": n}


def add_veins_creases(rng: np.random.Generator, img: np.ndarray, raster_mm: float, skin_dark: float) -> dict:
    """Bluish wide low-contrast veins and darker thin creases / skin folds."""
    h, w = img.shape[:2]
    n_veins = int(rng.choice([0, 1, 2, 4], p=[0.3, 0.3, 0.25, 0.15]))
    out = {"veins": n_veins}
    if n_veins:
        ds = 4
        small = (max(2, h // ds), max(2, w // ds))
        cov = draw_curves(rng, small, n_veins, (60 / raster_mm / ds, 200 / raster_mm / ds),
                          rng.uniform(2, 5) / raster_mm / ds, 0.15)
        cov = cv2.GaussianBlur(cov, (0, 0), max(1.0, 1.2 / raster_mm / ds))
        cov = cv2.resize(cov, (w, h), interpolation=cv2.INTER_LINEAR)
        k = np.array([0.35, 0.18, 0.02], np.float32) * rng.uniform(0.5, 1.2) * (1 - 0.6 * skin_dark)
        img *= np.exp(-cov[..., None] * k)
    n_creases = int(rng.choice([0, 2, 6, 15], p=[0.3, 0.3, 0.25, 0.15]))
    out["creases"] = n_creases
    if n_creases:
        cov = draw_curves(rng, (h, w), n_creases, (10 / raster_mm, 60 / raster_mm),
                          max(1.0, rng.uniform(0.1, 0.3) / raster_mm), 0.05)
        cov = cv2.GaussianBlur(cov, (0, 0), max(0.7, 0.15 / raster_mm))
        img *= (1 - cov * rng.uniform(0.15, 0.35))[..., None]
    return out


def background(rng: np.random.Generator, shape: tuple[int, int], raster_mm: float) -> tuple[np.ndarray, str]:
    """Non-skin surroundings: cloth (incl. red/purple), blue/white/green sheets, wall or floor."""
    h, w = shape
    kinds = {
        "red_cloth": (0.35, 0.02, 0.03), "purple_cloth": (0.12, 0.02, 0.18), "blue_sheet": (0.08, 0.2, 0.45),
        "white_sheet": (0.7, 0.72, 0.72), "green_sheet": (0.1, 0.3, 0.22), "wall": (0.55, 0.5, 0.42),
        "floor": (0.3, 0.18, 0.08), "dark_cloth": (0.02, 0.02, 0.03), "jeans": (0.04, 0.07, 0.15),
    }
    kind = str(rng.choice(list(kinds)))
    col = np.array(kinds[kind], np.float32) * rng.uniform(0.7, 1.2, 3).astype(np.float32)
    folds = 1 + noise(rng, shape, 40 / raster_mm) * (0.25 if "sheet" in kind or "cloth" in kind else 0.08)
    img = np.empty((h, w, 3), np.float32)
    img[:] = col
    img *= folds[..., None]
    if kind == "floor":
        yy = np.arange(h, dtype=np.float32)[:, None]
        img *= (1 + 0.15 * np.sin(yy * raster_mm / rng.uniform(2, 8)))[..., None]
    elif "cloth" in kind or kind == "jeans":
        weave = rng.standard_normal((max(2, h // 2), max(2, w // 2))).astype(np.float32)
        img *= (1 + 0.08 * cv2.resize(weave, (w, h), interpolation=cv2.INTER_LINEAR))[..., None]
    return img, kind


def limb_mask(rng: np.random.Generator, shape: tuple[int, int], raster_mm: float,
              visible_px: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray, dict]:
    """Where the limb is (soft coverage 0..1) and a 0..1 'across the limb' coordinate for curvature shading.

    `visible_px` (u0, v0, u1, v1) bounds what the camera sees; full-frame skin in some photos.
    """
    h, w = shape
    u0, v0, u1, v1 = visible_px
    diag = np.hypot(u1 - u0, v1 - v0)
    mode = rng.choice(["full", "limb", "edge"], p=[0.3, 0.45, 0.25])
    ang = rng.uniform(0, np.pi)
    n = np.array([-np.sin(ang), np.cos(ang)])
    cx, cy = (u0 + u1) / 2, (v0 + v1) / 2
    xs = np.arange(w, dtype=np.float32)
    ys = np.arange(h, dtype=np.float32)
    across = (xs[None, :] - cx) * n[0] + (ys[:, None] - cy) * n[1]  # px, signed
    along = (xs[None, :] - cx) * -n[1] + (ys[:, None] - cy) * n[0]
    wiggle = noise(rng, (1, max(4, w)), 8).ravel()
    if mode == "full":
        half = diag * rng.uniform(0.9, 1.5)
        offset = 0.0
    elif mode == "limb":
        half = diag * rng.uniform(0.28, 0.45)
        offset = diag * rng.uniform(-0.08, 0.08)
    else:
        half = diag * rng.uniform(0.5, 0.8)
        offset = half - diag * rng.uniform(0.15, 0.35)
    taper = 1 + rng.uniform(-0.15, 0.15) * along / diag
    bend = rng.uniform(-0.15, 0.15) * (along / diag) ** 2 * diag
    edge_noise = np.interp(along.ravel(), np.linspace(along.min(), along.max(), wiggle.size),
                           wiggle).reshape(along.shape) * 0.01 * diag
    d = np.abs(across - offset - bend) - half * taper - edge_noise
    soft = max(1.0, 0.3 / raster_mm)
    cov = np.clip(0.5 - d / soft, 0, 1).astype(np.float32)
    rel = np.clip(np.abs(across - offset - bend) / (half * taper), 0, 1).astype(np.float32)
    return cov, rel, {"layout": str(mode)}
