"""Synthetic skin photos with bleeding spots, a reference scale and exact ground truth.

The scene is drawn on a raster of the flat skin plane (millimetres) and warped into the image
with a known homography (rotation, scale, mild perspective tilt). A spot's mask is where its
pigment opacity >= 0.5 (soft edges make the boundary a definition); its sizes are MEASURED from
that mask on the skin plane (max / min Feret of the opacity's sub-pixel 0.5 outline, area,
equal-area circle), not taken from the values asked for. Image masks are the warped plane opacities
thresholded at 0.5. Pixel coordinates are (x, y) with integer values at pixel centres.
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from spotscale.data import coco
from spotscale.data.synth_geometry import apply_h, camera_homography, jacobian_scale, measure_opacity_mm
from spotscale.data.synth_refs import STICKER_COLOURS, RefDrawing, draw_aruco, draw_ruler, draw_sticker, paste
from spotscale.data.synth_skin import (
    FITZPATRICK_BY_BAND, add_hair, background, blur, draw_curves, fine_density, ita_band, lab_to_linear_rgb, limb_field,
    linear_to_srgb, linear_to_srgb_u8, noise, sample_skin_lab, skin_density, vein_density,
)
from spotscale.data.synth_spots import SpotPlan, render_spot

SCALE_KINDS = ("aruco", "ruler", "sticker", "none")


@dataclass(frozen=True)
class SynthSpot:
    """One ground-truth spot. `mask` is the bool crop of `bbox` (x0, y0, w, h) in image px."""

    category: str
    subtype: str
    borderline: bool
    mask: np.ndarray = field(repr=False, compare=False)
    bbox: tuple[int, int, int, int]
    x: float
    y: float
    diameter_mm: float
    eq_diameter_mm: float
    area_mm2: float
    minor_mm: float

    def full_mask(self, h: int, w: int) -> np.ndarray:
        """The spot's mask as a full (h, w) bool image."""
        out = np.zeros((h, w), bool)
        x0, y0, bw, bh = self.bbox
        out[y0:y0 + bh, x0:x0 + bw] = self.mask
        return out


@dataclass(frozen=True)
class SynthPhoto:
    """A rendered photo (RGB uint8 as it would be saved), its spots and its metadata."""

    image: np.ndarray = field(repr=False)
    spots: tuple[SynthSpot, ...]
    meta: dict


@dataclass
class _Plane:
    """The skin-plane raster, axis-aligned with the camera: `to_mm` maps raster px -> plane mm (a similarity).

    `to_image` maps raster px -> image px; `to_plane_mm` image px -> plane mm; `angle_deg` is how much
    a direction on the plane turns on the raster.
    """

    raster_mm: float
    w: int
    h: int
    to_mm: np.ndarray
    to_image: np.ndarray
    to_plane_mm: np.ndarray
    angle_deg: float

    def mm_to_raster(self, pts_mm: np.ndarray) -> np.ndarray:
        return apply_h(np.linalg.inv(self.to_mm), pts_mm)


def _seed_for(seed: int, index: int) -> int:
    """Per-photo seed: depends only on (seed, index), so photo i is the same whatever n is."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def _camera(rng: np.random.Generator, size: tuple[int, int], options: dict) -> tuple[np.ndarray, dict]:
    w, h = size
    if "mm_per_px" in options:
        mpp = float(options["mm_per_px"])
    else:
        fov_mm = float(np.exp(rng.uniform(np.log(110), np.log(420))))
        mpp = fov_mm / max(w, h)
    rot = float(options.get("rotation_deg", rng.normal(0, 8) if rng.random() < 0.8 else rng.uniform(-180, 180)))
    # mostly mild tilt (a phone held roughly square to the limb), now and then up to ~15 % scale change
    tilt = tuple(float(t) for t in options.get("tilt", np.clip(rng.normal(0.0, 0.05, 2), -0.15, 0.15)))
    h_pi = camera_homography(size, (0.0, 0.0), mpp, rot, tilt)
    return h_pi, {"mm_per_px_nominal": mpp, "rotation_deg": rot, "tilt": list(tilt)}


def _plane(h_pi: np.ndarray, size: tuple[int, int], rotation_deg: float, mm_per_px: float) -> _Plane:
    """A raster of the skin plane at the image's central scale, rotated like the camera so it hugs the frame."""
    w, h = size
    h_ip = np.linalg.inv(h_pi)
    h_ip /= h_ip[2, 2]
    corners = apply_h(h_ip, np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]]))
    a = np.deg2rad(rotation_deg)
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    q = apply_h(rot, corners)
    r = mm_per_px
    q0 = q.min(0) - 3 * r
    rw, rh = (np.ceil((q.max(0) + 3 * r - q0) / r)).astype(int) + 1
    to_mm = rot.T @ np.array([[r, 0, q0[0]], [0, r, q0[1]], [0, 0, 1]])
    return _Plane(r, int(rw), int(rh), to_mm, h_pi @ to_mm, h_ip, float(rotation_deg))


def _pick_scale(rng: np.random.Generator, scale: str) -> str:
    if scale == "mixed":
        return str(rng.choice(SCALE_KINDS, p=[0.45, 0.25, 0.2, 0.1]))
    if scale not in SCALE_KINDS:
        raise ValueError(f"unknown scale {scale!r}; expected one of {SCALE_KINDS + ('mixed',)}")
    return scale


def _draw_reference(rng: np.random.Generator, kind: str, plane: _Plane, size: tuple[int, int],
                    options: dict) -> tuple[RefDrawing | None, dict]:
    """Choose, draw and place the reference; returns the drawing and its placement (centre mm, angle)."""
    w, h = size
    r = plane.raster_mm
    if kind == "aruco":
        side = float(options.get("marker_side_mm", 20.0 if rng.random() < 0.75 else rng.choice([10, 15, 25, 30, 40])))
        ref = draw_aruco(rng, r, side, int(options.get("marker_id", rng.integers(0, 50))))
    elif kind == "ruler":
        ref = draw_ruler(rng, r, float(rng.choice([30, 50, 60, 80, 100, 150])))
    elif kind == "sticker":
        colour = str(rng.choice(list(STICKER_COLOURS)))
        dia = float(rng.choice([8, 10, 12, 15, 19, 20, 25])) if colour != "silver" else float(
            rng.choice([16.25, 18.75, 21.25, 23.25, 24.25, 25.75]))
        ref = draw_sticker(rng, r, dia, colour)
    else:
        ref = None
    return ref, {}


def _place_reference(rng: np.random.Generator, ref: RefDrawing, plane: _Plane, size: tuple[int, int],
                     in_frame: bool) -> tuple[np.ndarray, float, np.ndarray, bool]:
    """Pick the reference's centre (mm) and angle so its outline is inside the image (or partly out).

    Returns centre (mm), angle (deg), outline (image px) and whether the outline is really inside.
    """
    w, h = size
    for _ in range(200):
        if in_frame:
            px = np.array([rng.uniform(0.05, 0.95) * w, rng.uniform(0.05, 0.95) * h])
        else:
            side = rng.integers(4)
            t = rng.uniform(0.1, 0.9)
            px = np.array([[0, t * h], [w, t * h], [t * w, 0], [t * w, h]][side], float)
        c_mm = apply_h(plane.to_plane_mm, px)[0]
        ang = float(rng.uniform(-180, 180) if rng.random() < 0.5 else rng.normal(0, 10))
        a = np.deg2rad(ang)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        outline_mm = ref.outline_mm @ rot.T + c_mm
        outline_img = apply_h(np.linalg.inv(plane.to_plane_mm), outline_mm)
        inside = ((outline_img >= 1) & (outline_img <= np.array([w - 2, h - 2]))).all()
        if inside == in_frame:
            return c_mm, ang, outline_img, bool(inside)
    return c_mm, ang, outline_img, bool(inside)


def _spot_plan(rng: np.random.Generator, n_scale: float) -> list[tuple[str, str, str, float, int]]:
    """What spots to draw: (category, subtype, appearance, nominal diameter mm, cluster id or -1)."""
    plan: list[tuple[str, str, str, float, int]] = []
    if rng.random() < 0.05:
        return plan
    n_clusters = int(rng.choice([0, 1, 2, 3], p=[0.25, 0.4, 0.25, 0.1]))
    for c in range(n_clusters):
        for _ in range(int(rng.integers(5, 40) * n_scale) + 1):
            plan.append(("petechia", "petechia", "petechia", float(np.exp(rng.uniform(np.log(0.3), np.log(1.8)))), c))
    for _ in range(int(rng.integers(0, 8) * n_scale)):
        plan.append(("petechia", "petechia", "petechia", float(np.exp(rng.uniform(np.log(0.3), np.log(1.8)))), -1))
    for _ in range(int(rng.choice([0, 1, 2, 4, 6]))):
        plan.append(("purpura", "purpura", "purpura", float(rng.uniform(4.3, 8.0)), -1))
    for _ in range(int(rng.choice([0, 0, 1, 2]))):
        plan.append(("ecchymosis", "ecchymosis", "ecchymosis", float(rng.uniform(12, 40)), -1))
    for _ in range(int(rng.choice([0, 1, 2, 3, 5]))):
        look = "petechia" if rng.random() < 0.5 else "purpura"
        plan.append((look, look, look, float(rng.uniform(2.2, 3.6)), -1))
    for _ in range(int(rng.choice([0, 1, 2, 4, 8]))):
        plan.append(("other", "nevus", "nevus", float(rng.uniform(1.5, 6)), -1))
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(5, 30))):
            plan.append(("other", "freckle", "freckle", float(rng.uniform(1, 4)), 100))
    for _ in range(int(rng.choice([0, 0, 1, 2, 4]))):
        plan.append(("other", "cherry_angioma", "cherry_angioma", float(rng.uniform(1, 4)), -1))
    for _ in range(int(rng.choice([0, 0, 1, 3]))):
        plan.append(("other", "bite", "bite", float(rng.uniform(2, 6)), -1))
    return plan


def _categorise(category: str, appearance: str, diameter_mm: float) -> tuple[str, bool]:
    """Category of a spot from its MEASURED diameter (hemorrhagic) and borderline flag for [2, 4) mm."""
    if category == "other":
        return "other", False
    if diameter_mm < 2:
        return "petechia", False
    if diameter_mm < 4:
        return ("purpura" if appearance == "purpura" else "petechia"), True
    if diameter_mm <= 10:
        return "purpura", False
    return "ecchymosis", False


class _Occupancy:
    """Which raster pixels already hold a spot or the reference (spots must not overlap)."""

    def __init__(self, plane: _Plane):
        self.grid = np.zeros((plane.h, plane.w), bool)

    def free(self, u0: int, v0: int, mask: np.ndarray) -> bool:
        h, w = mask.shape
        if u0 < 0 or v0 < 0 or v0 + h > self.grid.shape[0] or u0 + w > self.grid.shape[1]:
            return False
        grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)  # may touch, not overlap
        return not (self.grid[v0:v0 + h, u0:u0 + w] & grown).any()

    def take(self, u0: int, v0: int, mask: np.ndarray) -> None:
        h, w = mask.shape
        self.grid[v0:v0 + h, u0:u0 + w] |= mask


def _spot_to_image(op: np.ndarray, u0: int, v0: int, plane: _Plane, size: tuple[int, int]):
    """Warp a spot's opacity crop into the image; return (mask crop, bbox) or None if not fully inside."""
    w, h = size
    ch, cw = op.shape
    corners = apply_h(plane.to_image, np.array([[u0 - 1, v0 - 1], [u0 + cw, v0 - 1], [u0 + cw, v0 + ch],
                                                  [u0 - 1, v0 + ch]], float))
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 1
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
        return None
    t = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], float) @ plane.to_image @ np.array(
        [[1, 0, u0], [0, 1, v0], [0, 0, 1]], float)
    warped = cv2.warpPerspective(op, t, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderValue=0)
    m = warped >= 0.5
    if not m.any():
        return None
    ys, xs = np.nonzero(m)
    by0, by1, bx0, bx1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return m[by0:by1, bx0:bx1], (int(x0 + bx0), int(y0 + by0), int(bx1 - bx0), int(by1 - by0))


def _sample_spot_centre(rng, plane: _Plane, size, clusters: dict, cid: int) -> np.ndarray:
    """A spot centre in plane-raster px: uniform over the frame, or around its cluster's centre."""
    w, h = size
    if cid >= 0:
        if cid not in clusters:
            px = np.array([[rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h]])
            clusters[cid] = (apply_h(plane.to_plane_mm, px)[0], rng.uniform(4, 25))
        c_mm, rad_mm = clusters[cid]
        a, d = rng.uniform(0, 2 * np.pi), rad_mm * np.sqrt(rng.random())
        return plane.mm_to_raster(c_mm + d * np.array([np.cos(a), np.sin(a)]))[0]
    px = np.array([[rng.uniform(0.02, 0.98) * w, rng.uniform(0.02, 0.98) * h]])
    return apply_h(np.linalg.inv(plane.to_image), px)[0]


def _render_spots(rng, plane: _Plane, size, skin: np.ndarray, skin_cov: np.ndarray, occ: _Occupancy,
                  skin_dark: float, options: dict) -> list[SynthSpot]:
    """Draw the planned spots onto the skin raster (in place) and return their ground truth."""
    r = plane.raster_mm
    clusters: dict = {}
    spots: list[SynthSpot] = []
    for category, subtype, appearance, diameter, cid in _spot_plan(rng, float(options.get("density", 1.0))):
        for _attempt in range(6):
            u, v = _sample_spot_centre(rng, plane, size, clusters, cid)
            if not (0 <= u < plane.w and 0 <= v < plane.h) or skin_cov[int(v), int(u)] < 0.99:
                continue
            rq = int(diameter / 2 / r * 0.7)  # cheap pre-check before drawing
            if occ.grid[max(0, int(v) - rq):int(v) + rq + 1, max(0, int(u) - rq):int(u) + rq + 1].any():
                continue
            layer = render_spot(rng, SpotPlan(category, subtype, u, v, diameter / 2, appearance), r, skin_dark)
            mask = layer.opacity >= 0.5
            if not mask.any() or not occ.free(layer.u0, layer.v0, mask):
                continue
            hh, ww = mask.shape
            if skin_cov[layer.v0:layer.v0 + hh, layer.u0:layer.u0 + ww][mask].min() < 0.99:
                continue
            placed = _spot_to_image(layer.opacity, layer.u0, layer.v0, plane, size)
            if placed is None:
                continue
            occ.take(layer.u0, layer.v0, mask)
            sub = skin[layer.v0:layer.v0 + hh, layer.u0:layer.u0 + ww]
            dens = layer.absorb if layer.extra_absorb is None else layer.absorb + layer.extra_absorb
            sub *= np.exp(-dens)
            if layer.highlight is not None:
                sub += layer.highlight[..., None] * np.float32(0.9)
            to_mm = plane.to_mm @ np.array([[1, 0, layer.u0], [0, 1, layer.v0], [0, 0, 1]], float)
            sizes = measure_opacity_mm(layer.opacity, to_mm, px_area_mm2=r * r)
            cat, borderline = _categorise(category, appearance, sizes["diameter_mm"])
            img_mask, bbox = placed
            ys, xs = np.nonzero(img_mask)
            spots.append(SynthSpot(cat, subtype if category == "other" else cat, borderline, img_mask, bbox,
                                   float(xs.mean() + bbox[0]), float(ys.mean() + bbox[1]),
                                   sizes["diameter_mm"], sizes["eq_diameter_mm"], sizes["area_mm2"],
                                   sizes["minor_mm"]))
            break
    return spots


def _tattoo(rng, skin: np.ndarray, raster_mm: float) -> bool:
    """Sometimes add tattoo ink strokes (in place on linear RGB skin)."""
    if rng.random() > 0.12:
        return False
    h, w = skin.shape[:2]
    ink = [np.array([0.25, 0.6, 0.4], np.float32), np.array([1.6, 1.2, 0.7], np.float32),
           np.array([0.2, 1.5, 1.5], np.float32), np.array([1.5, 0.4, 1.2], np.float32)]
    k = ink[rng.integers(len(ink))] * rng.uniform(0.8, 2.0)
    sub_w, sub_h = int(w * rng.uniform(0.15, 0.4)), int(h * rng.uniform(0.15, 0.4))
    x0, y0 = int(rng.integers(0, max(1, w - sub_w))), int(rng.integers(0, max(1, h - sub_h)))
    cov = draw_curves(rng, (sub_h, sub_w), int(rng.integers(3, 12)), (20 / raster_mm, 60 / raster_mm),
                      max(1.0, rng.uniform(0.5, 2.5) / raster_mm), 0.3)
    cov = cv2.GaussianBlur(cov, (0, 0), max(0.5, 0.15 / raster_mm))
    yy, xx = np.ogrid[0:sub_h, 0:sub_w]  # strokes end within the drawing, not on a straight cut
    edge = np.minimum(np.minimum(xx, sub_w - 1 - xx) / (0.12 * sub_w), np.minimum(yy, sub_h - 1 - yy) / (0.12 * sub_h))
    cov *= np.clip(edge, 0, 1).astype(np.float32)
    skin[y0:y0 + sub_h, x0:x0 + sub_w] *= np.exp(-cov[..., None] * k)
    return True


def _lighting(rng, size: tuple[int, int]) -> tuple[np.ndarray, dict]:
    """Per-channel gain: uneven light, a soft shadow, vignetting, exposure and white-balance cast (small, upsampled)."""
    w, h = size
    sw, sh = 64, 48
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    xn, yn = xx / (sw - 1) - 0.5, yy / (sh - 1) - 0.5
    g = 1 + rng.uniform(-0.35, 0.35) * xn + rng.uniform(-0.35, 0.35) * yn
    g *= 1 + noise(rng, (sh, sw), 16) * rng.uniform(0.02, 0.1)
    vig = rng.uniform(0.0, 0.45)
    g *= 1 - vig * (xn ** 2 + yn ** 2) * 2
    shadow = rng.random() < 0.3
    if shadow:
        a = rng.uniform(0, 2 * np.pi)
        d = xn * np.cos(a) + yn * np.sin(a) - rng.uniform(0, 0.4)
        g *= 1 - rng.uniform(0.2, 0.5) / (1 + np.exp(-d / rng.uniform(0.02, 0.08)))
    exposure = rng.uniform(0.7, 1.15)
    wb = rng.normal(1, 0.06, 3)
    wb /= wb.mean()
    if rng.random() < 0.2:  # strong cast: tungsten (warm) or shade (cool)
        wb = wb * (np.array([1.15, 1.0, 0.8]) if rng.random() < 0.5 else np.array([0.88, 1.0, 1.15]))
    g3 = (g * exposure)[..., None] * wb.astype(np.float32)
    g3 = cv2.resize(g3.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return g3, {"vignetting": float(vig), "shadow": bool(shadow), "exposure": float(exposure),
                "white_balance": [float(v) for v in wb]}


def _sheen(rng, img: np.ndarray) -> float:
    """Sometimes a soft specular sheen (oily or moist skin under a flash): a whitish additive glow, in place."""
    if rng.random() > 0.25:
        return 0.0
    h, w = img.shape[:2]
    sw, sh = 64, 48
    blob = np.clip(noise(rng, (sh, sw), 20) - 0.3, 0, None) ** 2
    blob = cv2.GaussianBlur(blob, (0, 0), 3)
    strength = float(rng.uniform(0.02, 0.08))
    glow = cv2.resize((blob * strength).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    img += glow[..., None]
    return strength


def _camera_effects(rng, img: np.ndarray, options: dict) -> dict:
    """Optical blur and signal-dependent sensor noise, in place on linear RGB (>= 0)."""
    h, w = img.shape[:2]
    out = {}
    blur = float(options.get("blur_px", rng.choice([0, 0, 0.5, 1.0, 1.8, 3.0]) * np.sqrt(max(w, h) / 2000)))
    if blur > 0:
        cv2.GaussianBlur(img, (0, 0), blur, dst=img)
    out["blur_px"] = blur
    motion = float(options.get("motion_px", rng.uniform(2, 8) * np.sqrt(max(w, h) / 2000) if rng.random() < 0.1 else 0))
    if motion >= 1:  # camera shake: a short line kernel
        k = int(np.ceil(motion)) | 1
        kernel = np.zeros((k, k), np.float32)
        a = rng.uniform(0, np.pi)
        c = (k - 1) / 2
        cv2.line(kernel, (int(round(c - c * np.cos(a))), int(round(c - c * np.sin(a)))),
                 (int(round(c + c * np.cos(a))), int(round(c + c * np.sin(a)))), 1.0, 1, cv2.LINE_AA)
        cv2.filter2D(img, -1, kernel / kernel.sum(), dst=img)
    out["motion_blur_px"] = motion
    sigma = float(options.get("noise", rng.uniform(0.002, 0.02)))
    if sigma > 0:
        small = rng.random((h // 2 + 1, w // 2 + 1, 3), dtype=np.float32)  # uniform, unit variance below
        small -= np.float32(0.5)
        small *= np.float32(sigma * np.sqrt(12))
        n = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
        n *= cv2.sqrt(img)
        img += n
    out["noise"] = sigma
    return out


WATERMARKS = (None, "yellow")  # render_photo(watermark=...): one photo in five at random, or always yellow


def _watermark(rng, rgb: np.ndarray, kind: str | None = None) -> str | None:
    """Blend a line of text over the photo in place (one photo in five: white, or yellow one in three
    of those); kind "yellow": always, yellow or orange (a camera's date stamp). Returns the text."""
    if kind is None and rng.random() > 0.2:
        return None
    h, w = rgb.shape[:2]
    text = str(rng.choice(["(c) DermClinic 2024", "www.skinatlas.example", "2023-05-14 10:32",
                           "Patient 0042 - left forearm", "SAMPLE", "medphoto.example.org"]))
    scale = w / 900 * rng.uniform(0.6, 1.6)
    thick = max(1, int(scale * 2))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x = int(rng.uniform(0, max(1, w - tw)))
    y = int(rng.uniform(th + 1, h - 2))
    overlay = rgb.copy()
    if kind == "yellow":
        colour = (255, 255, 0) if rng.random() < 0.5 else (255, 170, 0)
    else:
        colour = (255, 255, 255) if rng.random() < 0.7 else (255, 255, 0)
    cv2.putText(overlay, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)
    a = rng.uniform(0.3, 0.9)
    cv2.addWeighted(overlay, a, rgb, 1 - a, 0, dst=rgb)
    return text


def _sample_skin(rng, size: tuple[int, int], plane: _Plane, bare: np.ndarray, skin: np.ndarray, n: int = 60000):
    """Random image points: (x, y) of those on bare skin, their raster (u, v), and the image's skin fraction."""
    w, h = size
    xy = np.c_[rng.uniform(0, w - 1, n), rng.uniform(0, h - 1, n)]
    uv = np.round(apply_h(np.linalg.inv(plane.to_image), xy)).astype(int)
    uv[:, 0] = np.clip(uv[:, 0], 0, plane.w - 1)
    uv[:, 1] = np.clip(uv[:, 1], 0, plane.h - 1)
    keep = bare[uv[:, 1], uv[:, 0]]
    return np.round(xy[keep]).astype(int), uv[keep], float(skin[uv[:, 1], uv[:, 0]].mean())


def _ita(srgb: np.ndarray) -> float:
    """ITA = atan((L - 50) / b) in degrees from the median CIELAB L and b of (N, 3) sRGB values in [0, 1]."""
    if len(srgb) < 20:
        return float("nan")
    lab = cv2.cvtColor(np.clip(srgb, 0, 1).reshape(-1, 1, 3).astype(np.float32), cv2.COLOR_RGB2Lab).reshape(-1, 3)
    lum, bb = float(np.median(lab[:, 0])), float(np.median(lab[:, 2]))
    return float(np.degrees(np.arctan2(lum - 50, bb)))


def _marks(rng, skin: np.ndarray, plane: _Plane, spots: list[SynthSpot]) -> dict:
    """Things clinical photos show that are not spots: a pen circle around a lesion, scratch marks (in place)."""
    r = plane.raster_mm
    out = {"pen_circle": False, "scratches": 0}
    if spots and rng.random() < 0.12:
        s = spots[int(rng.integers(len(spots)))]
        u, v = apply_h(np.linalg.inv(plane.to_image), np.array([[s.x, s.y]]))[0]
        rad = max(s.diameter_mm, 4) * rng.uniform(1.5, 3.0) / r
        k = [np.array([1.2, 0.8, 0.2], np.float32), np.array([1.5, 1.5, 1.4], np.float32),
             np.array([0.5, 1.4, 0.3], np.float32)][int(rng.integers(3))]  # blue, black, purple ink
        pad = int(rad * 1.4) + 4
        x0, y0 = max(0, int(u) - pad), max(0, int(v) - pad)
        x1, y1 = min(plane.w, int(u) + pad), min(plane.h, int(v) + pad)
        if x1 > x0 and y1 > y0:
            cov = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.ellipse(cov, (int(round((u - x0) * 16)), int(round((v - y0) * 16))),
                        (int(rad * 16), int(rad * rng.uniform(0.7, 1.0) * 16)), rng.uniform(0, 180),
                        rng.uniform(0, 40), rng.uniform(300, 380), 255, max(1, int(rng.uniform(0.4, 1.0) / r)),
                        cv2.LINE_AA, 4)
            skin[y0:y1, x0:x1] *= np.exp(-(cov.astype(np.float32) / 255)[..., None] * k)
            out["pen_circle"] = True
    if rng.random() < 0.12:
        n = int(rng.integers(1, 6))
        cov = draw_curves(rng, (plane.h, plane.w), n, (10 / r, 40 / r), max(1.0, rng.uniform(0.2, 0.5) / r), 0.03)
        skin *= np.exp(-cov[..., None] * (np.array([0.1, 0.9, 0.7], np.float32) * rng.uniform(0.3, 0.8)))
        out["scratches"] = n
    return out


def _skin_folds(rng, shape: tuple[int, int], raster_mm: float) -> np.ndarray | None:
    """Sometimes one or two skin folds: a dark furrow with a brighter lip beside it (grey optical density)."""
    if rng.random() > 0.3:
        return None
    n = int(rng.integers(1, 3))
    width = rng.uniform(0.5, 1.5) / raster_mm
    cov = draw_curves(rng, shape, n, (40 / raster_mm, 120 / raster_mm), max(1.0, width), 0.08)
    furrow = blur(cov, max(0.7, width))
    lip = blur(cov, max(1.5, 4 * width))
    return furrow * np.float32(rng.uniform(0.3, 0.7)) - lip * np.float32(rng.uniform(0.05, 0.15))


def _skin_and_limb(rng, plane: _Plane, base: np.ndarray, skin_dark: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Bare skin (linear RGB, before spots and hair), limb coverage (0..1) and the signed distance to its edge.

    Colour variation (mottling, veins, limb curvature shading) is drawn at 1/4 resolution; fine grey
    texture (pores, skin lines, creases) at full resolution.
    """
    r = plane.raster_mm
    ds = 4
    low = (max(2, -(-plane.h // ds)), max(2, -(-plane.w // ds)))
    od_low = skin_density(rng, low, r * ds)
    veins, n_veins = vein_density(rng, low, r * ds, skin_dark)
    od_low += veins
    signed, across, limb_meta = limb_field(rng, low, r * ds)
    shade = rng.uniform(0.1, 0.45)
    od_low -= np.log(1 - shade * across ** 3)[..., None]  # limb curvature shading
    folds = _skin_folds(rng, low, r * ds)
    if folds is not None:
        od_low += folds[..., None]
    colour_low = np.exp(-od_low) * base
    skin = cv2.resize(colour_low.astype(np.float32), (plane.w, plane.h), interpolation=cv2.INTER_LINEAR)
    fine, fine_meta = fine_density(rng, (plane.h, plane.w), r)
    skin *= cv2.exp(np.negative(fine, out=fine))[..., None]
    tattoo = _tattoo(rng, skin, r)
    signed = cv2.resize(signed * ds, (plane.w, plane.h), interpolation=cv2.INTER_LINEAR)
    soft = max(1.0, 0.3 / r)
    cov = np.clip(0.5 - signed / soft, 0, 1)
    meta = {**limb_meta, **fine_meta, "veins": n_veins, "tattoo": tattoo, "limb_shading": float(shade)}
    return skin, cov, signed, meta


def _reference_into(rng, kind: str, plane: _Plane, size, options: dict, occ: _Occupancy):
    """Draw and place the reference; reserve its area in `occ`; returns (drawing, placement, scale meta)."""
    ref, _ = _draw_reference(rng, kind, plane, size, options)
    if ref is None:
        return None, None, {"kind": "none", "outline": [], "in_frame": False}
    in_frame = bool(options.get("in_frame", rng.random() < 0.9))
    c_mm, ang, outline_img, in_frame = _place_reference(rng, ref, plane, size, in_frame)
    a = np.deg2rad(ang)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    poly = plane.mm_to_raster((ref.outline_mm * 1.15) @ rot.T + c_mm)
    res = np.zeros((plane.h, plane.w), np.uint8)
    cv2.fillPoly(res, [np.round(poly).astype(np.int32)], 1)
    occ.grid |= res.astype(bool)
    meta = dict(ref.meta)
    meta["outline"] = [[float(x), float(y)] for x, y in outline_img]
    meta["in_frame"] = in_frame
    meta["angle_deg"] = ang
    img_from_mm = np.linalg.inv(plane.to_plane_mm)
    for name, pts in ref.points_mm.items():
        meta[name] = apply_h(img_from_mm, pts @ rot.T + c_mm).tolist()
    centre_px = apply_h(img_from_mm, np.asarray(c_mm, float)[None])[0]  # the projected centre, not the corners' mean
    return ref, (c_mm, ang, centre_px), meta


def render_photo(seed: int, size: tuple[int, int] = (4000, 3000), scale: str = "aruco", **options) -> SynthPhoto:
    """Render one photo of skin with spots and a reference; `size` is (width, height) in px.

    options (all optional): mm_per_px, rotation_deg, tilt (tx, ty), marker_side_mm, marker_id,
    skin_band (an ITA band name), density (spot count factor), blur_px, noise, in_frame, jpeg_quality
    (recorded only; the caller encodes), watermark (WATERMARKS: None = one photo in five, "yellow" =
    always a yellow or orange one).
    """
    if options.get("watermark") not in WATERMARKS:
        raise ValueError(f"watermark must be one of {WATERMARKS}, not {options.get('watermark')!r}")
    rng = np.random.default_rng(seed)
    size = (int(size[0]), int(size[1]))
    kind = _pick_scale(rng, scale)
    h_pi, cam_meta = _camera(rng, size, options)
    plane = _plane(h_pi, size, cam_meta["rotation_deg"], cam_meta["mm_per_px_nominal"])
    r = plane.raster_mm
    lab, ita_nominal = sample_skin_lab(rng, options.get("skin_band"))
    skin_dark = float(np.clip((41 - ita_nominal) / 90, 0, 1))
    skin, cov, signed, skin_meta = _skin_and_limb(rng, plane, lab_to_linear_rgb(lab), skin_dark)
    occ = _Occupancy(plane)
    ref, placement, ref_meta = _reference_into(rng, kind, plane, size, options, occ)
    spots = _render_spots(rng, plane, size, skin, cov, occ, skin_dark, options)
    marks = _marks(rng, skin, plane, spots)
    hair = add_hair(rng, skin, r, ita_nominal)
    rows = np.flatnonzero((cov < 1).any(axis=1))
    scene, bg_kind = skin, "none"
    if rows.size:  # blend the background in only where the limb does not cover
        y0, y1 = rows[0], rows[-1] + 1
        band, bg_kind = background(rng, (y1 - y0, plane.w), r, 4, shadow_from=signed[y0:y1])
        band -= skin[y0:y1]
        band *= (1 - cov[y0:y1])[..., None]
        scene[y0:y1] += band
        del band
    skin_px = cov >= 0.5
    bare = (cov >= 0.99) & ~occ.grid
    if ref is not None:
        c_mm, ang, ref_px = placement
        ext = ref.outline_mm.max(0) - ref.outline_mm.min(0)
        centre = plane.mm_to_raster(c_mm[None])[0]
        al, ax, ay = paste(scene, ref, tuple(centre), ang + plane.angle_deg, r, tuple(ext))
        bare[ay:ay + al.shape[0], ax:ax + al.shape[1]] &= al < 0.01
        skin_px[ay:ay + al.shape[0], ax:ax + al.shape[1]] &= al < 0.5
    else:
        ref_px = np.array([(size[0] - 1) / 2, (size[1] - 1) / 2])
    pts_xy, pts_uv, skin_fraction = _sample_skin(rng, size, plane, bare, skin_px)
    # ITA of the bare skin as rendered (albedo, texture, curvature; before light and camera)
    ita = _ita(linear_to_srgb(scene[pts_uv[:, 1], pts_uv[:, 0]]))
    img = cv2.warpPerspective(scene, plane.to_image, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    del scene
    gain, light_meta = _lighting(rng, size)
    img *= gain
    del gain
    light_meta["sheen"] = _sheen(rng, img)
    cam_fx = _camera_effects(rng, img, options)
    rgb = linear_to_srgb_u8(img)
    watermark = _watermark(rng, rgb, options.get("watermark"))
    ita_image = _ita(rgb[pts_xy[:, 1], pts_xy[:, 0]].astype(np.float32) / 255.0)  # as the camera saw it
    mm_per_px = jacobian_scale(plane.to_plane_mm, float(ref_px[0]), float(ref_px[1]))
    q = options.get("jpeg_quality")
    meta = {
        "seed": int(seed), "width": size[0], "height": size[1], "mm_per_px": mm_per_px,
        "scale": ref_meta, "image_to_plane": (plane.to_plane_mm / plane.to_plane_mm[2, 2]).tolist(),
        "ita": ita, "ita_image": ita_image, "ita_nominal": ita_nominal, "ita_band": ita_band(ita),
        "fitzpatrick": FITZPATRICK_BY_BAND.get(ita_band(ita), "?"),
        "skin_lab_nominal": list(lab), "skin_fraction": skin_fraction,
        "jpeg_quality": int(q) if q is not None else None, "background": bg_kind, "watermark": watermark,
        **skin_meta, **hair, **marks, **cam_meta, **light_meta, **cam_fx, "raster_mm": r,
    }
    return SynthPhoto(rgb, tuple(spots), meta)


def _coco_entries(photo: SynthPhoto, image_id: int, file_name: str, first_ann_id: int) -> tuple[dict, list[dict]]:
    """COCO image entry (with the photo's meta) and its annotation entries."""
    h, w = photo.image.shape[:2]
    image = {"id": image_id, "file_name": file_name, "width": w, "height": h, **photo.meta}
    anns = []
    for k, s in enumerate(photo.spots):
        anns.append({
            "id": first_ann_id + k, "image_id": image_id, "category_id": coco.category_id(s.category),
            "segmentation": coco.rle_encode_crop(s.mask, s.bbox, h, w), "bbox": [int(v) for v in s.bbox],
            "area": int(np.count_nonzero(s.mask)), "iscrowd": 0,
            "attributes": {"diameter_mm": s.diameter_mm, "eq_diameter_mm": s.eq_diameter_mm,
                           "area_mm2": s.area_mm2, "minor_mm": s.minor_mm, "subtype": s.subtype,
                           "borderline": s.borderline, "x": s.x, "y": s.y},
        })
    return image, anns


def _render_and_save(job: tuple) -> tuple[dict, list[dict]]:
    """Worker: render photo `index`, save it, return its COCO entries (annotation ids assigned later)."""
    out_dir, index, seed, size, scale, jpeg_quality, web_fraction = job
    ps = _seed_for(seed, index)
    rng = np.random.default_rng([ps, 1])
    if rng.random() < web_fraction:
        size = (640, 480) if size[0] >= size[1] else (480, 640)
        q = int(rng.integers(40, 81)) if jpeg_quality is None else int(jpeg_quality)
    else:
        q = int(rng.integers(40, 96)) if jpeg_quality is None else int(jpeg_quality)
    photo = render_photo(ps, size, scale, jpeg_quality=q)
    name = f"synth_{index:05d}.jpg" if q < 100 else f"synth_{index:05d}.png"
    path = Path(out_dir) / "images" / name
    bgr = cv2.cvtColor(photo.image, cv2.COLOR_RGB2BGR)
    ok = cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, q] if q < 100 else [])
    if not ok:
        raise OSError(f"could not write {path}")
    image, anns = _coco_entries(photo, index + 1, f"images/{name}", 0)
    image["per_photo_seed"] = ps
    return image, anns


def write_dataset(out_dir: Path | str, n: int, seed: int, size: tuple[int, int] = (4000, 3000), scale: str = "mixed",
                  jpeg_quality: int | None = None, workers: int = 1, web_fraction: float = 0.1,
                  progress=None) -> Path:
    """Render `n` photos into out_dir/images and write out_dir/annotations.json (COCO); return the JSON path.

    Photo i uses a seed derived from (seed, i) only, so it is identical whatever `n` is. A fraction
    `web_fraction` of photos are small 640x480 web images; jpeg_quality None draws 40-95 per photo
    (100 writes PNG). `progress(image_entry, annotations)` is called after each photo.
    """
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    jobs = [(str(out), i, int(seed), tuple(size), scale, jpeg_quality, web_fraction) for i in range(n)]
    images, annotations = [], []
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = pool.map(_render_and_save, jobs)
            for image, anns in results:
                _collect(image, anns, images, annotations, progress)
    else:
        for job in jobs:
            _collect(*_render_and_save(job), images, annotations, progress)
    return coco.write_coco(out / "annotations.json", images, annotations,
                           {"description": "spotscale synthetic photos", "seed": int(seed), "n": int(n),
                            "scale": scale, "mask_rule": "pigment opacity >= 0.5"})


def _collect(image: dict, anns: list[dict], images: list, annotations: list, progress) -> None:
    for a in anns:
        a["id"] = len(annotations) + 1
        annotations.append(a)
    images.append(image)
    if progress is not None:
        progress(image, anns)


def describe(image: dict, anns: list[dict]) -> str:
    """One line about a generated photo: file, scale kind, ITA, counts per category."""
    counts = {c: 0 for c in ("petechia", "purpura", "ecchymosis", "other")}
    names = {i + 1: c for i, c in enumerate(counts)}
    for a in anns:
        counts[names[a["category_id"]]] += 1
    border = sum(1 for a in anns if a["attributes"]["borderline"])
    ita = image.get("ita")
    return (f"{image['file_name']}  {image['width']}x{image['height']}  scale={image['scale']['kind']}"
            f"  mm/px={image['mm_per_px']:.4f}  ITA={ita:+.1f} ({image.get('ita_band')})  "
            + " ".join(f"{k}={v}" for k, v in counts.items()) + f" borderline={border}")


def save_photo(image_path: Path | str, photo: SynthPhoto, jpeg_quality: int = 90) -> Path:
    """Save one photo (JPEG, or PNG for a .png path) and its ground truth as a one-image COCO JSON beside it.

    Returns the JSON path (same name, .json); its image entry's file_name is the photo's file name.
    """
    image_path = Path(image_path)
    bgr = cv2.cvtColor(photo.image, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if image_path.suffix.lower() in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(image_path), bgr, params):
        raise OSError(f"could not write {image_path}")
    image, anns = _coco_entries(photo, 1, image_path.name, 1)
    image["jpeg_quality"] = int(jpeg_quality) if params else None
    return coco.write_coco(image_path.with_suffix(".json"), [image], anns,
                           {"description": "spotscale synthetic photo", "mask_rule": "pigment opacity >= 0.5"})
