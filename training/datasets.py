"""Labelled data -> an in-memory cache of raw crops (cut once, augmented every epoch).

Inputs (auto-detected by data.loaders.load_labelled): a COCO dataset (annotations.json + images),
a CSV manifest (image, x, y, diameter_mm, label) or a folder of crops per class.
Targets: petechia -> petechia; purpura and ecchymosis -> purpura (haemorrhagic, large);
other -> other. Borderline spots keep their appearance category (their COCO category);
a spot labelled only "borderline" has no appearance class and is skipped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from spotscale.data.errors import AnnotationError, PhotoError
from spotscale.data.loaders import LabelledImage, LabelledSet, load_labelled, mask_of
from spotscale.data.photo import read_photo
from spotscale.data.types import CNN_CLASSES
from spotscale.model.crops import CropConfig, RawCrops, cut_crops, local_mm_per_px

TARGETS: dict[str, int] = {"petechia": 0, "purpura": 1, "ecchymosis": 1, "other": 2}
HARD_NEGATIVE = "hard_negative"


@dataclass(frozen=True)
class SampleSet:
    """Cached raw crops with integer targets (index into CNN_CLASSES) and the photo each came from."""

    raw: RawCrops
    targets: np.ndarray  # (N,) int64
    photo: np.ndarray  # (N,) int64 index into photos
    photos: tuple[str, ...]
    source: str
    n_hard_negatives: int = 0
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, idx: np.ndarray) -> "SampleSet":
        """The samples at idx (photos list unchanged)."""
        raw = RawCrops(self.raw.rgb[idx], self.raw.mask[idx], self.raw.size_feats[idx])
        return SampleSet(raw, self.targets[idx], self.photo[idx], self.photos, self.source,
                         self.n_hard_negatives, self.skipped)

    def counts(self) -> dict[str, int]:
        """Samples per class name."""
        return {c: int(np.sum(self.targets == i)) for i, c in enumerate(CNN_CLASSES)}


def join_samples(parts: Sequence[SampleSet]) -> SampleSet:
    """One SampleSet of several; photos with the same path become one photo."""
    photos: dict[str, int] = {}
    raws, targets, photo_idx = [], [], []
    for p in parts:
        remap = np.array([photos.setdefault(name, len(photos)) for name in p.photos] or [0], np.int64)
        raws.append(p.raw)
        targets.append(p.targets)
        photo_idx.append(remap[p.photo] if len(p) else p.photo)
    f = parts[0].raw.rgb.shape[1]
    raw = RawCrops(np.concatenate([r.rgb for r in raws]) if raws else np.zeros((0, f, f, 3), np.uint8),
                   np.concatenate([r.mask for r in raws]), np.concatenate([r.size_feats for r in raws]))
    return SampleSet(raw, np.concatenate(targets), np.concatenate(photo_idx), tuple(photos),
                     " + ".join(p.source for p in parts), sum(p.n_hard_negatives for p in parts),
                     sum(p.skipped for p in parts))


def target_of(label: str) -> int | None:
    """CNN target index of a COCO / final label; None for labels without an appearance class."""
    return TARGETS.get(label)


def build_samples(data: str | Path | Sequence[str | Path], crop: CropConfig, unknown_scale_prob: float = 0.0,
                  seed: int = 0, extra_negatives: dict[str, list[tuple]] | None = None,
                  jpeg_prob: float = 0.0) -> SampleSet:
    """Cut every labelled spot of `data` (one source or several, e.g. truth + mined) once into a SampleSet.

    Several sources are joined photo by photo: a photo named by two sources (its truth spots and its
    mined candidates) is one photo, so a by-photo split keeps all its samples on one side.
    `unknown_scale_prob` of the crops are cut as if the photo had no scale (the fallback path);
    `extra_negatives` maps an image path to (x, y, bbox, mask) items that are "other" (hard negatives);
    `jpeg_prob` of the photos are JPEG-compressed (quality 35-90) before cutting (augmentation).
    """
    if isinstance(data, (list, tuple)):
        if not data:
            raise AnnotationError("<none>", "no training data given")
        return join_samples([build_samples(d, crop, unknown_scale_prob, seed + 1009 * i,
                                           extra_negatives if i == 0 else None, jpeg_prob)
                             for i, d in enumerate(data)])
    labelled = load_labelled(data)
    if isinstance(labelled, list):
        return _from_crop_folder(labelled, crop, str(data))
    return _from_labelled_set(labelled, crop, unknown_scale_prob, seed, extra_negatives or {}, jpeg_prob)


def _from_labelled_set(ls: LabelledSet, crop: CropConfig, p_unknown: float, seed: int,
                       extra: dict[str, list[tuple]], jpeg_prob: float) -> SampleSet:
    """Crops of every spot of every photo of a COCO / CSV labelled set."""
    parts, targets, photo_idx, photos = [], [], [], []
    skipped = n_hard = 0
    for k, im in enumerate(ls.images):
        rng = np.random.default_rng([seed, k])
        try:
            image = read_photo(im.path)
        except PhotoError as e:
            raise AnnotationError(ls.source, f"image {im.path}: {e.cause}") from None
        if rng.random() < jpeg_prob:
            image = jpeg_roundtrip(image, int(rng.integers(35, 91)))
        items, tg = _items_of(im, image.shape[0], image.shape[1])
        n_hard += sum(1 for sp in im.spots if sp.attributes and sp.attributes.get(HARD_NEGATIVE) is True)
        skipped += sum(t is None for t in tg)
        keep = [i for i, t in enumerate(tg) if t is not None]
        items, tg = [items[i] for i in keep], [tg[i] for i in keep]
        hard = extra.get(str(im.path), [])
        n_hard += len(hard)
        items += list(hard)
        tg += [TARGETS["other"]] * len(hard)
        if not items:
            continue
        mpps = [_mpp_at(im, it[0], it[1]) for it in items]
        mpps = [None if rng.random() < p_unknown else m for m in mpps]
        parts.append(cut_crops(image, items, mpps, crop))
        targets += tg
        photo_idx += [len(photos)] * len(items)
        photos.append(str(im.path))
    return SampleSet(_concat(parts, crop), np.asarray(targets, np.int64), np.asarray(photo_idx, np.int64),
                     tuple(photos), ls.source, n_hard, skipped)


def _items_of(im: LabelledImage, h: int, w: int) -> tuple[list[tuple], list[int | None]]:
    """(x, y, bbox, mask) crop items and targets of one labelled photo."""
    items, targets = [], []
    for s in im.spots:
        item = spot_item(s, h, w, im.mm_per_px)
        if item is None:
            continue
        items.append(item)
        targets.append(target_of(s.label))
    return items, targets


def spot_item(spot: Any, h: int, w: int, mm_per_px: float | None) -> tuple | None:
    """(x, y, bbox, mask crop) of a LabelledSpot: its RLE / polygon mask, else a disc of its diameter."""
    if spot.mask_rle is not None and spot.bbox is not None:
        bbox, m = rle_crop(spot.mask_rle, spot.bbox)
        if m.any():
            return spot.x, spot.y, bbox, m
    if spot.polygons or spot.mask_rle is not None:
        full = mask_of(spot, h, w, mm_per_px)
        if full is not None and full.any():
            ys, xs = np.nonzero(full)
            x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
            return spot.x, spot.y, (int(x0), int(y0), int(x1 - x0), int(y1 - y0)), full[y0:y1, x0:x1]
    r_px = 0.0
    if spot.diameter_mm and mm_per_px:
        r_px = spot.diameter_mm / mm_per_px / 2
    elif spot.bbox is not None:
        r_px = max(spot.bbox[2], spot.bbox[3]) / 2
    if r_px <= 0:
        return None
    return disc_item(spot.x, spot.y, r_px)


def disc_item(x: float, y: float, r_px: float) -> tuple:
    """(x, y, bbox, mask) of a disc of radius r_px centred at (x, y)."""
    x0, y0 = int(math.floor(x - r_px)), int(math.floor(y - r_px))
    n = int(math.ceil(x + r_px)) - x0 + 1
    yy, xx = np.mgrid[0:n, 0:n]
    m = (xx + x0 - x) ** 2 + (yy + y0 - y) ** 2 <= max(r_px, 0.5) ** 2
    return x, y, (x0, y0, n, n), m


def rle_crop(rle: dict, bbox: Sequence[float]) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """(bbox, bool mask crop) of an uncompressed COCO RLE, decoding only its pixels (spots are small)."""
    counts = rle.get("counts")
    h = int(rle["size"][0])
    if not isinstance(counts, list):  # compressed strings: the loaders' full decoder
        from spotscale.data.coco import rle_decode
        full = rle_decode(rle)
        ys, xs = np.nonzero(full)
    else:
        c = np.asarray(counts, np.int64)
        ends = np.cumsum(c)
        starts = ends - c
        s1, l1 = starts[1::2], c[1::2]
        idx = np.repeat(s1 - np.concatenate([[0], np.cumsum(l1)[:-1]]), l1) + np.arange(int(l1.sum()))
        xs, ys = idx // h, idx % h
    if len(xs) == 0:
        x0, y0, bw, bh = (int(round(v)) for v in bbox)
        return (x0, y0, max(bw, 1), max(bh, 1)), np.zeros((max(bh, 1), max(bw, 1)), bool)
    x0, y0 = int(xs.min()), int(ys.min())
    m = np.zeros((int(ys.max()) - y0 + 1, int(xs.max()) - x0 + 1), bool)
    m[ys - y0, xs - x0] = True
    return (x0, y0, m.shape[1], m.shape[0]), m


def _mpp_at(im: LabelledImage, x: float, y: float) -> float | None:
    """mm per px at (x, y): local from the image's image_to_plane homography if given, else mm_per_px."""
    h = im.meta.get("image_to_plane") if isinstance(im.meta, dict) else None
    if h is not None:
        try:
            v = local_mm_per_px(h, x, y)
            if v is not None:
                return v
        except (ValueError, TypeError):
            pass
    return im.mm_per_px


def _from_crop_folder(entries: list[tuple[Path, str]], crop: CropConfig, source: str) -> SampleSet:
    """One sample per crop image: the spot is taken as centred, a disc of a third of the crop side."""
    parts, targets, photo_idx, photos = [], [], [], []
    skipped = 0
    for path, label in entries:
        t = target_of(label)
        if t is None:
            skipped += 1
            continue
        try:
            image = read_photo(path)
        except PhotoError as e:
            raise AnnotationError(source, f"crop {path}: {e.cause}") from None
        h, w = image.shape[:2]
        parts.append(cut_crops(image, [disc_item((w - 1) / 2, (h - 1) / 2, min(h, w) / 6)], None, crop))
        targets.append(t)
        photo_idx.append(len(photos))
        photos.append(str(path))
    return SampleSet(_concat(parts, crop), np.asarray(targets, np.int64), np.asarray(photo_idx, np.int64),
                     tuple(photos), source, 0, skipped)


def _concat(parts: list[RawCrops], crop: CropConfig) -> RawCrops:
    """One RawCrops of many (empty when there are none)."""
    if not parts:
        f = crop.size_px + 2 * crop.pad_px
        return RawCrops(np.zeros((0, f, f, 3), np.uint8), np.zeros((0, f, f), np.uint8), np.zeros((0, 2), np.float32))
    return RawCrops(np.concatenate([p.rgb for p in parts]), np.concatenate([p.mask for p in parts]),
                    np.concatenate([p.size_feats for p in parts]))


def split_by_photo(samples: SampleSet, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, val indices) with every photo wholly on one side."""
    n_photos = len(samples.photos)
    order = np.random.default_rng([seed, 7919]).permutation(n_photos)
    n_val = min(max(1, int(round(val_fraction * n_photos))), max(n_photos - 1, 1))
    val_photos = np.zeros(n_photos, bool)
    val_photos[order[:n_val]] = True
    is_val = val_photos[samples.photo]
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def jpeg_roundtrip(image_rgb: np.ndarray, quality: int) -> np.ndarray:
    """The image after JPEG compression at `quality` (augmentation)."""
    ok, buf = cv2.imencode(".jpg", image_rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy() if ok else image_rgb
