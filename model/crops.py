"""THE crop code shared by training and inference: one scale-normalised crop per spot.

Design (units in names): a crop is S x S pixels (`size_px`, default 32) centred on the spot.
- Scale known: one crop pixel is `mm_per_crop_px` mm (default 0.25, an 8 mm field), so a 0.5 mm
  petechia spans 2 crop px and a 4 mm spot fills half the field. Spots larger than the
  field / `context` are shrunk to fit (field = `context` x spot diameter, so a 10 mm purpura
  sits in a 20 mm field); their true size travels in the scalar features, so the network still
  knows it.
- Scale unknown (fallback): the field is `unknown_context` x the spot's own diameter in px; the
  scalar "scale known" is 0 and the size scalar is 0 (the net then judges appearance only).
Channels: 0-2 = log(rgb / local skin) * 2 (local skin = median of the crop's outer frame, so
lighting, white balance and skin tone shifts are divided out); 3 = mask of THE spot asked about
(soft, 0..1), so the network knows which spot of a cluster it is asked about.
Scalar features (SCALAR_FEATURES): log(diameter_mm / 2) (max Feret of the mask; 0 if no scale), scale known (0/1),
skin brightness (mean skin rgb / 127.5 - 1).
Coordinates are (x, y) px of the image as stored; pixel i has its centre at coordinate i.
Downscaling is anti-aliased (integer box reduction with cv2.INTER_AREA, then a bilinear warp).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np

from spotscale.data.geometry import homography_scale

SCALAR_FEATURES: tuple[str, ...] = ("log_diameter_mm_over_2", "scale_known", "skin_brightness")
FRAME_PX = 3  # width of the outer frame the local skin colour is measured on


@dataclass
class CropConfig:
    """How crops are cut. `pad_px` adds context around the S x S core (training augmentation)."""

    size_px: int = 32
    mm_per_crop_px: float = 0.25
    context: float = 2.0  # with a scale: field >= context x spot diameter (shrink to fit)
    unknown_context: float = 4.0  # without a scale: field = this x spot diameter in px
    min_field_px: float = 12.0  # without a scale: smallest field in image px
    max_field_mm: float = 0.0  # with a scale: a wider field is narrowed to this (0: never), but not under
    min_context: float = 1.2  # ...this x the spot's diameter (inference: no wider field than training showed)
    max_field_frac: float = 0.0  # without a scale: a wider field than this x the photo's shorter side is
    # narrowed to it (0: never), but not under min_context x the spot's diameter
    pad_px: int = 0
    log_gain: float = 2.0
    offset: float = 8.0  # added to rgb (0..255) before the log ratio, so black pixels stay finite

    def to_dict(self) -> dict:
        """Plain dict for checkpoint metadata."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> "CropConfig":
        """Inverse of to_dict; unknown keys are ignored."""
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class CropBatch:
    """Network input: crops (N, 4, S, S) float32 and scalar features (N, len(SCALAR_FEATURES))."""

    images: np.ndarray
    scalars: np.ndarray


@dataclass(frozen=True)
class RawCrops:
    """Cut but not yet normalised crops (what training caches and augments).

    rgb (N, F, F, 3) uint8 and mask (N, F, F) uint8 (0..255) with F = size_px + 2 pad_px;
    size_feats (N, 2): log(diameter_mm / 2) (0 without scale) and scale known (0/1).
    """

    rgb: np.ndarray
    mask: np.ndarray
    size_feats: np.ndarray


def extract_crops(image_rgb: np.ndarray, items: Sequence[Any], mm_per_px: float | None | Sequence,
                  config: CropConfig) -> np.ndarray:
    """Crops (N, 4, S, S) float32 of `items` ((x, y, mask_bbox, mask_crop) tuples or Spots)."""
    return crop_batch(image_rgb, items, mm_per_px, config).images


def crop_batch(image_rgb: np.ndarray, items: Sequence[Any], mm_per_px: float | None | Sequence,
               config: CropConfig) -> CropBatch:
    """Network input (crops + scalar features) of `items`; mm_per_px: one value, None, or one per item."""
    return normalise_crops(cut_crops(image_rgb, items, mm_per_px, config), config)


def cut_crops(image_rgb: np.ndarray, items: Sequence[Any], mm_per_px: float | None | Sequence,
              config: CropConfig) -> RawCrops:
    """Raw scale-normalised crops (uint8) of `items`, with pad_px extra context on each side."""
    n = len(items)
    full = config.size_px + 2 * config.pad_px
    rgb = np.zeros((n, full, full, 3), np.uint8)
    mask = np.zeros((n, full, full), np.uint8)
    feats = np.zeros((n, 2), np.float32)
    if isinstance(mm_per_px, (int, float)) or mm_per_px is None:
        mpps = [mm_per_px] * n
    else:
        mpps = list(mm_per_px)
        if len(mpps) != n:
            raise ValueError(f"{len(mpps)} mm_per_px values for {n} items")
    img = np.ascontiguousarray(image_rgb[..., :3])
    for i, item in enumerate(items):
        x, y, bbox, m = as_item(item)
        rgb[i], mask[i], feats[i] = _one_crop(img, x, y, bbox, m, mpps[i], config)
    return RawCrops(rgb, mask, feats)


def normalise_crops(raw: RawCrops, config: CropConfig) -> CropBatch:
    """Centre S x S of raw crops as log(rgb / local skin) * gain + mask channel, plus scalar features."""
    p, s = (raw.rgb.shape[1] - config.size_px) // 2, config.size_px
    core = np.ascontiguousarray(raw.rgb[:, p:p + s, p:p + s].transpose(0, 3, 1, 2))  # (N, 3, S, S)
    n, f = len(core), FRAME_PX
    frame = np.concatenate([core[:, :, :f].reshape(n, 3, -1), core[:, :, -f:].reshape(n, 3, -1),
                            core[:, :, f:-f, :f].reshape(n, 3, -1), core[:, :, f:-f, -f:].reshape(n, 3, -1)],
                           axis=2)
    skin = np.median(frame, axis=2).astype(np.float32)  # (N, 3)
    lut = np.log(np.arange(256, dtype=np.float32) + np.float32(config.offset)) * np.float32(config.log_gain)
    images = np.empty((n, 4, s, s), np.float32)
    images[:, :3] = lut[core]
    images[:, :3] -= (np.log(skin + np.float32(config.offset)) * np.float32(config.log_gain))[:, :, None, None]
    images[:, 3] = raw.mask[:, p:p + s, p:p + s] * np.float32(1 / 255)
    scalars = np.concatenate([raw.size_feats, skin.mean(axis=1, keepdims=True) / 127.5 - 1.0], axis=1)
    return CropBatch(images, scalars.astype(np.float32))


def as_item(item: Any) -> tuple[float, float, tuple[int, int, int, int], np.ndarray]:
    """(x, y, mask_bbox, bool mask_crop) of a tuple item or of a Spot (mask from its contour)."""
    if isinstance(item, tuple) and len(item) == 4:
        x, y, bbox, mask = item
        return float(x), float(y), tuple(int(v) for v in bbox), np.asarray(mask, bool)
    x0, y0, w, h = (int(v) for v in item.bbox)
    w, h = max(w, 1), max(h, 1)
    mask = np.zeros((h, w), np.uint8)
    if len(item.contour) >= 3:
        pts = np.round(np.asarray(item.contour, np.float64) - (x0, y0)).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1)
    if not mask.any():  # no usable outline: the ellipse inscribed in the bbox
        cv2.ellipse(mask, (((w - 1) / 2, (h - 1) / 2), (w, h), 0), 1, -1)
        mask[h // 2, w // 2] = 1
    return float(item.x), float(item.y), (x0, y0, w, h), mask.astype(bool)


def _diameter_px(mask: np.ndarray) -> float:
    """Max Feret diameter of the mask over its pixels' corners (>= 1 px).

    The same definition as the measured and the annotated diameters (longest extent of the outline),
    so the size feature of a diagonal spot is not its bounding box side (up to 29 % short).
    """
    m = np.ascontiguousarray(mask, np.uint8)
    if not m.any():
        return 1.0
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    pts = np.concatenate([c.reshape(-1, 2) for c in contours]).astype(np.float32)
    hull = cv2.convexHull(pts).reshape(-1, 2)
    corners = cv2.convexHull((hull[:, None, :] + _CORNERS[None]).reshape(-1, 2)).reshape(-1, 2)  # pixel corners
    d = corners[:, None, :] - corners[None, :, :]
    return float(max(1.0, math.sqrt(float((d * d).sum(axis=2).max()))))


_CORNERS = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]], np.float32)


def _one_crop(img: np.ndarray, x: float, y: float, bbox: tuple[int, int, int, int], mask: np.ndarray,
              mpp: float | None, cfg: CropConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One raw crop: rgb (F, F, 3) uint8, mask (F, F) uint8 and the two size features."""
    d_px = _diameter_px(mask)
    known = mpp is not None and math.isfinite(mpp) and mpp > 0
    if known:
        least_mm = cfg.size_px * cfg.mm_per_crop_px
        field_mm = _narrowed(max(least_mm, cfg.context * d_px * mpp), cfg.max_field_mm,
                             max(cfg.min_context * d_px * mpp, least_mm))
        s = field_mm / mpp / cfg.size_px  # image px per crop px
    else:
        field_px = _narrowed(max(cfg.unknown_context * d_px, cfg.min_field_px), cfg.max_field_frac * min(img.shape[:2]),
                             max(cfg.min_context * d_px, cfg.min_field_px))
        s = field_px / cfg.size_px
    full = cfg.size_px + 2 * cfg.pad_px
    k = max(1, int(s))  # integer box reduction first (anti-aliasing), then a bilinear warp
    half = (full / 2 + 2) * s + k
    x0, y0 = int(math.floor(x - half)), int(math.floor(y - half))
    side = int(math.ceil(2 * half / k)) * k
    rgb = _padded_window(img, x0, y0, side)
    msk = np.zeros((side, side), np.uint8)
    _paste(msk, mask.astype(np.uint8) * 255, bbox[0] - x0, bbox[1] - y0)
    if k > 1:
        rgb = cv2.resize(rgb, (side // k, side // k), interpolation=cv2.INTER_AREA)
        msk = cv2.resize(msk, (side // k, side // k), interpolation=cv2.INTER_AREA)
    sk = s / k
    c = (full - 1) / 2
    tx = (x - x0 - (k - 1) / 2) / k - c * sk
    ty = (y - y0 - (k - 1) / 2) / k - c * sk
    m = np.array([[sk, 0, tx], [0, sk, ty]], np.float64)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    rgb_out = cv2.warpAffine(np.ascontiguousarray(rgb), m, (full, full), flags=flags,
                             borderMode=cv2.BORDER_REFLECT)
    msk_out = cv2.warpAffine(msk, m, (full, full), flags=flags, borderMode=cv2.BORDER_CONSTANT)
    feats = np.array([math.log(d_px * mpp / 2.0) if known else 0.0, 1.0 if known else 0.0], np.float32)
    return rgb_out, msk_out, feats


def _narrowed(field: float, cap: float, floor: float) -> float:
    """`field` narrowed to `cap` when wider (a cap of 0 or less: never), but not under `floor`."""
    return min(field, max(cap, floor)) if 0 < cap < field else field


def local_mm_per_px(homography: Any, x: float, y: float) -> float | None:
    """mm per px at (x, y) of a px -> mm homography: sqrt(|det J|); None when degenerate."""
    return homography_scale(homography, x, y)


def _padded_window(img: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """img[y0:y0+side, x0:x0+side], reflected where it leaves the image."""
    h, w = img.shape[:2]
    if x0 >= 0 and y0 >= 0 and x0 + side <= w and y0 + side <= h:
        return img[y0:y0 + side, x0:x0 + side]
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    pads = (ya - y0, y0 + side - yb, xa - x0, x0 + side - xb)  # top, bottom, left, right
    if xa < xb and ya < yb and max(pads[0], pads[1]) < yb - ya and max(pads[2], pads[3]) < xb - xa:
        # one reflection suffices: OpenCV pads the visible part (same pixels as the index path)
        return cv2.copyMakeBorder(np.ascontiguousarray(img[ya:yb, xa:xb]), *pads, cv2.BORDER_REFLECT_101)
    xs = _reflect_index(np.arange(x0, x0 + side), w)
    ys = _reflect_index(np.arange(y0, y0 + side), h)
    return img[ys[:, None], xs[None, :]]


def _reflect_index(idx: np.ndarray, n: int) -> np.ndarray:
    """Indices reflected into 0..n-1 (like cv2.BORDER_REFLECT_101, repeated for far overflows)."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - idx, idx)


def _paste(dst: np.ndarray, src: np.ndarray, ox: int, oy: int) -> None:
    """dst[oy:oy+h, ox:ox+w] = src where they overlap (src may stick out)."""
    h, w = src.shape
    H, W = dst.shape
    xa, ya, xb, yb = max(ox, 0), max(oy, 0), min(ox + w, W), min(oy + h, H)
    if xa < xb and ya < yb:
        dst[ya:yb, xa:xb] = src[ya - oy:yb - oy, xa - ox:xb - ox]
