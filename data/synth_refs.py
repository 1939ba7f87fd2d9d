"""Reference objects for the generator: ArUco marker sticker, mm ruler, round sticker.

Each is drawn flat in its own frame (mm, centred on the object) as linear RGB + alpha at a given
mm per pixel, then pasted onto the skin-plane raster by `paste`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

STICKER_COLOURS: dict[str, tuple[float, float, float]] = {  # linear RGB
    "red": (0.55, 0.03, 0.03), "green": (0.03, 0.35, 0.06), "blue": (0.02, 0.08, 0.5),
    "yellow": (0.8, 0.6, 0.02), "orange": (0.85, 0.22, 0.01), "white": (0.82, 0.82, 0.8),
    "black": (0.02, 0.02, 0.02), "silver": (0.45, 0.45, 0.47),
}


@dataclass(frozen=True)
class RefDrawing:
    """A reference drawn in its own frame: linear RGB, alpha, mm per px, and its outline (mm, local)."""

    rgb: np.ndarray
    alpha: np.ndarray
    mm_per_px: float
    outline_mm: np.ndarray  # (N, 2) polygon in the object's frame, centred at (0, 0)
    meta: dict = field(default_factory=dict)
    points_mm: dict = field(default_factory=dict)  # named (N, 2) point sets in the local frame


def _canvas(w_mm: float, h_mm: float, res: float) -> tuple[int, int]:
    return int(np.ceil(w_mm / res)) + 2, int(np.ceil(h_mm / res)) + 2


def draw_aruco(rng: np.random.Generator, res: float, side_mm: float, marker_id: int) -> RefDrawing:
    """ArUco DICT_4X4_50 marker of printed side `side_mm` on a white sticker with a margin."""
    margin = side_mm * rng.uniform(0.15, 0.35)
    total = side_mm + 2 * margin
    w, h = _canvas(total, total, res)
    ss = 4
    big = int(round(total / res * ss))
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    cells = cv2.aruco.generateImageMarker(dictionary, marker_id, 6)  # 6x6 cells incl. black border
    paper = np.full((h * ss, w * ss), 255, np.uint8)  # exact multiple of the output grid
    m0 = int(round(margin / res * ss))
    ms = int(round(side_mm / res * ss))
    paper[m0:m0 + ms, m0:m0 + ms] = cv2.resize(cells, (ms, ms), interpolation=cv2.INTER_NEAREST)
    grey = cv2.resize(paper, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    white = rng.uniform(0.7, 0.9)
    ink = rng.uniform(0.01, 0.04)
    lin = ink + (white - ink) * grey
    tint = np.array([1.0, rng.uniform(0.97, 1.0), rng.uniform(0.92, 1.0)], np.float32)
    rgb = lin[..., None] * tint
    cover = np.zeros((h * ss, w * ss), np.float32)
    cover[:big, :big] = 1.0
    alpha = cv2.resize(cover, (w, h), interpolation=cv2.INTER_AREA)
    # re-centre: local frame origin at sticker centre, px (0,0) at mm (-total/2, -total/2)
    half = total / 2
    outline = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    s = side_mm / 2
    corners = np.array([[-s, -s], [s, -s], [s, s], [-s, s]])
    meta = {"kind": "aruco", "marker_side_mm": float(side_mm), "marker_id": int(marker_id),
            "dictionary": "DICT_4X4_50", "sticker_margin_mm": float(margin)}
    return RefDrawing(rgb, alpha, res, outline, meta, {"marker_corners": corners})


def draw_ruler(rng: np.random.Generator, res: float, length_mm: float) -> RefDrawing:
    """A flat ruler with mm ticks, longer 5 and 10 mm ticks and printed cm numbers."""
    width = rng.uniform(12, 25)
    body = length_mm + 2 * rng.uniform(3, 8)
    ss = 2
    ww, hh = _canvas(body, width, res)
    w, h = ww * ss, hh * ss
    base = {"white": (0.8, 0.8, 0.78), "yellow": (0.8, 0.62, 0.12), "clear": (0.55, 0.58, 0.6),
            "steel": (0.45, 0.46, 0.48), "black": (0.03, 0.03, 0.035)}
    colour_name = str(rng.choice(list(base), p=[0.3, 0.2, 0.2, 0.18, 0.12]))
    img = np.ones((h, w, 3), np.float32) * np.array(base[colour_name], np.float32)
    ink = {"steel": (0.05, 0.05, 0.06), "black": (0.75, 0.75, 0.72)}.get(colour_name, (0.02, 0.02, 0.02))
    px = 1.0 / (res / ss)
    x0 = (body - length_mm) / 2
    thick = max(1, int(round(rng.uniform(0.1, 0.2) * px)))  # printed tick width 0.1-0.2 mm
    both_edges = rng.random() < 0.3  # many rulers repeat the mm scale along their other edge
    for i in range(int(length_mm) + 1):
        tick = 5.0 if i % 10 == 0 else (3.5 if i % 5 == 0 else 2.0)
        x = int(round((x0 + i) * px))
        cv2.line(img, (x, 0), (x, int(round(tick * px))), ink, thick, cv2.LINE_AA)
        if both_edges:
            y1 = int(round(width * px))
            cv2.line(img, (x, y1), (x, y1 - int(round(0.8 * tick * px))), ink, thick, cv2.LINE_AA)
        if i % 10 == 0:
            txt = str(i // 10)
            scale = cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_SIMPLEX, max(6, int(round(2.6 * px))), 1)
            (tw, th), _ = cv2.getTextSize(txt, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            cv2.putText(img, txt, (x - tw // 2, int(round(5.8 * px)) + th), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        ink, max(1, int(scale * 2)), cv2.LINE_AA)
    if rng.random() < 0.5 and not both_edges:
        cv2.putText(img, "mm", (int(round((x0 + 1.5) * px)), int(round((width - 2.5) * px))),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.08 * px, ink, max(1, int(0.2 * px)), cv2.LINE_AA)
    rgb = cv2.resize(img, (ww, hh), interpolation=cv2.INTER_AREA)
    cover = np.zeros((h, w), np.float32)
    cover[: int(round(width * px)), : int(round(body * px))] = 0.85 if colour_name == "clear" else 1.0
    alpha = cv2.resize(cover, (ww, hh), interpolation=cv2.INTER_AREA)
    hb, hw_ = body / 2, width / 2
    outline = np.array([[-hb, -hw_], [hb, -hw_], [hb, hw_], [-hb, hw_]])
    ticks = np.array([[x0 + i - hb, -hw_] for i in range(int(length_mm) + 1)])
    meta = {"kind": "ruler", "length_mm": float(length_mm), "width_mm": float(width), "colour": colour_name,
            "tick_mm": 1.0, "numbers": "cm", "both_edges": bool(both_edges)}
    return RefDrawing(rgb, alpha, res, outline, meta, {"tick_tops": ticks})


def draw_sticker(rng: np.random.Generator, res: float, diameter_mm: float, colour: str) -> RefDrawing:
    """A round sticker (or coin, colour 'silver') of known diameter and colour."""
    ss = 4
    n = int(np.ceil(diameter_mm / res)) + 2
    big = np.zeros((n * ss, n * ss), np.uint8)
    c = diameter_mm / res * ss / 2 - 0.5  # centre in big-pixel-centre coordinates
    rad = diameter_mm / res * ss / 2
    cv2.circle(big, (int(round(c * 16)), int(round(c * 16))), int(round(rad * 16)), 255, -1, cv2.LINE_8, 4)
    alpha = cv2.resize(big, (n, n), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    col = np.array(STICKER_COLOURS[colour], np.float32) * rng.uniform(0.85, 1.1)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    cc = diameter_mm / res / 2 - 0.5
    r = np.hypot(xx - cc, yy - cc) / max(cc, 1)
    look = str(rng.choice(["shaded", "flat", "printed"], p=[0.45, 0.3, 0.25]))
    if look == "flat":  # a matt plain disc: no shading, no sheen
        shade = np.ones_like(r)
    else:
        shade = 1.0 - 0.12 * r ** 2 + (0.15 if colour == "silver" else 0.04) * np.exp(-((r - 0.45) / 0.2) ** 2)
    rgb = col * shade[..., None]
    if look == "printed":  # a printed ring and a centre mark, darker (or lighter on a dark sticker) than the disc
        ink = col * 0.3 if float(col.mean()) > 0.1 else np.full(3, 0.6, np.float32)
        ring_r = rng.uniform(0.6, 0.78)
        band = (np.abs(r - ring_r) < 0.035) | (r < 0.08)
        rgb[band] = ink
    ang = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    outline = np.c_[np.cos(ang), np.sin(ang)] * diameter_mm / 2
    meta = {"kind": "sticker", "diameter_mm": float(diameter_mm), "colour": colour, "look": look}
    # local frame: pixel (0,0) sits at mm (-d/2, -d/2)
    return RefDrawing(rgb.astype(np.float32), alpha, res, outline, meta, {})


def paste(canvas: np.ndarray, ref: RefDrawing, centre_px: tuple[float, float], angle_deg: float,
          raster_mm: float, extent_mm: tuple[float, float]) -> tuple[np.ndarray, int, int]:
    """Alpha-blend `ref` onto `canvas` (raster px) rotated by angle, centred at centre_px.

    Returns the pasted alpha as a crop and the crop's top-left (x0, y0) on the canvas.

    `extent_mm` (w, h) is the object's outline extent, whose centre is the local origin.
    """
    k = ref.mm_per_px / raster_mm
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) * k
    # local origin (the object's centre) in ref pixel-centre coordinates: pixel i covers [i - 0.5, i + 0.5]
    local_c = np.array([extent_mm[0] / 2, extent_mm[1] / 2]) / ref.mm_per_px - 0.5
    t = np.asarray(centre_px, float) - rot @ local_c
    m = np.c_[rot, t].astype(np.float64)
    h, w = canvas.shape[:2]
    hh, ww = ref.alpha.shape
    corners = np.array([[0, 0], [ww, 0], [ww, hh], [0, hh]], float) @ rot.T + t
    x0, y0 = np.floor(corners.min(0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
    x0c, y0c, x1c, y1c = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1c <= x0c or y1c <= y0c:
        return np.zeros((0, 0), np.float32), 0, 0
    m_loc = m.copy()
    m_loc[:, 2] -= (x0c, y0c)
    size = (x1c - x0c, y1c - y0c)
    al = cv2.warpAffine(ref.alpha, m_loc, size, flags=cv2.INTER_LINEAR, borderValue=0)
    col = cv2.warpAffine(ref.rgb, m_loc, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    sub = canvas[y0c:y1c, x0c:x1c]
    sub[:] = sub * (1 - al[..., None]) + col * al[..., None]
    return al, int(x0c), int(y0c)


def make_marker_target(path: "str | Path", marker_id: int = 0, side_mm: float = 20.0, dpi: int = 300) -> "Path":
    """Write a printable ArUco DICT_4X4_50 target (PNG at `dpi`, with its real size printed on it); return the path.

    The page holds the marker (black side `side_mm`) on a white margin, a 50 mm check bar and the text
    saying how to print it (100 % scale, no "fit to page") and how to check the printed size.
    """
    from PIL import Image

    px_per_mm = dpi / 25.4
    side = int(round(side_mm * px_per_mm))
    margin = int(round(6 * px_per_mm))
    page_w = max(side + 2 * margin, int(round(95 * px_per_mm)))
    page_h = side + 2 * margin + int(round(28 * px_per_mm))
    page = np.full((page_h, page_w), 255, np.uint8)
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    marker = cv2.aruco.generateImageMarker(dictionary, int(marker_id), side)
    x0 = (page_w - side) // 2
    page[margin:margin + side, x0:x0 + side] = marker
    # light cut line around the white sticker margin
    cv2.rectangle(page, (x0 - margin // 2, margin // 2), (x0 + side + margin // 2, margin + side + margin // 2), 200, 1)
    y = margin * 2 + side
    bar = int(round(50 * px_per_mm))
    bx = (page_w - bar) // 2
    cv2.rectangle(page, (bx, y), (bx + bar, y + int(round(1.5 * px_per_mm))), 0, -1)
    font_scale = 0.75 * dpi / 300
    lines = [f"ArUco DICT_4X4_50 id {marker_id}: black square = {side_mm:g} mm",
             f"Print at {dpi} dpi, 100 % (no fit-to-page).", "Check: the bar above is 50 mm."]
    for k, text in enumerate(lines):
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 2)
        ty = y + int(round((6 + 6 * k) * px_per_mm)) + th
        cv2.putText(page, text, ((page_w - tw) // 2, ty), cv2.FONT_HERSHEY_SIMPLEX, font_scale, 0, 2, cv2.LINE_AA)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(page).save(path, dpi=(dpi, dpi))
    return path
