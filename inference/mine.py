"""Hard-negative mining: the segmenter's own candidates of a labelled photo set, labelled from the truth.

The CNN meets at inference whatever the segmenter hands it: hair pieces, pores, cloth, creases,
merged clusters and partly segmented spots. `mine_dataset` runs the real pipeline's scale search
(for the reference exclusion), segmentation and measurement on every photo of a COCO set, with the
TRUE scale of the annotation (image_to_plane homography, else mm_per_px) so sizes are right, and
writes a COCO json whose annotations are the candidates, each with the mask the classifier cuts its
crop from (model.crops.as_item of the measured Spot, as uncompressed RLE) and labelled from the truth:

- overlapping a truth spot by at least `min_overlap` of the smaller of the two areas: that truth
  spot's category (the one with the largest overlap), attributes.hard_negative = false;
- overlapping no truth spot at all: "other", attributes.hard_negative = true;
- in between (a sliver of overlap): left out, counted as ambiguous.

The output sits beside the input's images (same file names), so the ordinary COCO loader reads it.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from spotscale.data.coco import category_id, rle_encode_crop, write_coco
from spotscale.data.errors import AnnotationError, ConfigError, PhotoError
from spotscale.data.geometry import homography_scale
from spotscale.data.loaders import LabelledImage, LabelledSpot, load_coco, mask_of
from spotscale.data.photo import read_photo
from spotscale.data.types import COCO_CATEGORIES, Scale, Spot
from spotscale.model.crops import as_item

MINE_FORMAT = 1


@dataclass(frozen=True)
class MinedSpot:
    """One segmenter candidate with the label it got from the truth."""

    spot: Spot
    bbox: tuple[int, int, int, int]  # x0, y0, w, h of `mask` (clipped to the image)
    mask: np.ndarray  # bool crop the classifier sees (the Spot's outline filled)
    category: str  # petechia | purpura | ecchymosis | other
    hard_negative: bool
    truth_ann_id: int | None
    overlap: float  # intersection / smaller area with the chosen truth spot (0 for hard negatives)
    borderline: bool = False


@dataclass(frozen=True)
class MineSummary:
    """What mining one set produced."""

    out: Path
    photos: int
    candidates: int
    matched: int
    hard_negatives: int
    ambiguous: int
    truth_spots: int
    truth_found: int  # truth spots that some candidate was labelled from
    seconds: float
    cpu_seconds: float


def true_scale(im: LabelledImage) -> Scale | None:
    """The scale the annotation states: its image_to_plane homography, else its mm_per_px; None if neither."""
    hom = im.meta.get("image_to_plane") if isinstance(im.meta, dict) else None
    if hom is not None:
        try:
            h = tuple(tuple(float(v) for v in row) for row in hom)
            cx, cy = (im.width or 0) / 2, (im.height or 0) / 2
            mpp = homography_scale(h, cx, cy)
            if len(h) == 3 and all(len(r) == 3 for r in h) and mpp:
                return Scale(mm_per_px=float(mpp), source="annotation", homography=h)
        except (TypeError, ValueError):
            pass
    if im.mm_per_px:
        return Scale(mm_per_px=float(im.mm_per_px), source="annotation")
    return None


def mine_photo(image_rgb: np.ndarray, im: LabelledImage, config: Any = None,
               min_overlap: float = 0.2) -> tuple[list[MinedSpot], int, set[int]]:
    """(mined candidates, number of ambiguous candidates left out, ann ids of truth spots found) of one photo."""
    from spotscale.inference.measure import measure
    from spotscale.inference.pipeline import AnalysisConfig, working_image
    from spotscale.inference.scale import find_scale, reference_mask
    from spotscale.inference.segment import segment
    cfg = config or AnalysisConfig()
    h, w = image_rgb.shape[:2]
    reduced = working_image(image_rgb)
    reduce = 1 if reduced is None else max(1, round(w / reduced.shape[1]))
    found = find_scale(image_rgb, cfg.scale, reduced=reduced, reduce=reduce)
    exclude = reference_mask(found, (h, w), margin_px=cfg.reference_margin_px) if found.outline else None
    truth = true_scale(im)
    scale = dataclasses.replace(found, mm_per_px=truth.mm_per_px, homography=truth.homography,
                                source="annotation", reference_points=()) if truth else found
    seg = segment(image_rgb, exclude=exclude, mm_per_px=scale.mm_per_px, config=cfg.segment, reduced=reduced)
    spots = measure(image_rgb, seg.candidates, scale)
    truths = _truth_masks(im, h, w)
    out, ambiguous, found_ids = [], 0, set()
    for spot in spots:
        bbox, mask = _clipped_item(spot, h, w)
        if not mask.any():
            continue
        best, best_overlap, best_frac = None, 0, 0.0
        for t, (tb, tm) in truths:
            inter = _intersection(bbox, mask, tb, tm)
            if inter > best_overlap:
                best, best_overlap = t, inter
                best_frac = inter / max(1, min(int(mask.sum()), int(tm.sum())))
        if best is None:
            out.append(MinedSpot(spot, bbox, mask, "other", True, None, 0.0))
        elif best_frac >= min_overlap:
            out.append(MinedSpot(spot, bbox, mask, best.label, False, best.ann_id, round(best_frac, 4),
                                 best.borderline))
            if best.ann_id is not None:
                found_ids.add(best.ann_id)
        else:
            ambiguous += 1
    return out, ambiguous, found_ids


def _truth_masks(im: LabelledImage, h: int, w: int) -> list[tuple[LabelledSpot, tuple[tuple[int, int, int, int], np.ndarray]]]:
    """Truth spots with an appearance category and their (bbox, bool mask crop)."""
    out = []
    for s in im.spots:
        if s.label not in COCO_CATEGORIES:  # e.g. "borderline" only: no category to hand on
            continue
        full = mask_of(s, h, w, im.mm_per_px)
        if full is None or not full.any():
            continue
        ys, xs = np.nonzero(full)
        x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        out.append((s, ((x0, y0, x1 - x0, y1 - y0), full[y0:y1, x0:x1])))
    return out


def _clipped_item(spot: Spot, h: int, w: int) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """(bbox, bool mask) of the crop item the classifier makes of `spot`, clipped to the image."""
    _, _, (x0, y0, bw, bh), m = as_item(spot)
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + bw, w), min(y0 + bh, h)
    if xb <= xa or yb <= ya:
        return (0, 0, 1, 1), np.zeros((1, 1), bool)
    return (xa, ya, xb - xa, yb - ya), m[ya - y0:yb - y0, xa - x0:xb - x0]


def _intersection(ba: tuple[int, int, int, int], ma: np.ndarray, bb: tuple[int, int, int, int],
                  mb: np.ndarray) -> int:
    """Pixels two bbox-cropped masks share."""
    xa, ya = max(ba[0], bb[0]), max(ba[1], bb[1])
    xb, yb = min(ba[0] + ba[2], bb[0] + bb[2]), min(ba[1] + ba[3], bb[1] + bb[3])
    if xb <= xa or yb <= ya:
        return 0
    a = ma[ya - ba[1]:yb - ba[1], xa - ba[0]:xb - ba[0]]
    b = mb[ya - bb[1]:yb - bb[1], xa - bb[0]:xb - bb[0]]
    return int(np.count_nonzero(a & b))


def _annotation(m: MinedSpot, ann_id: int, image_id: int, h: int, w: int) -> dict:
    """The COCO annotation of one mined candidate (uncompressed RLE of the classifier's mask)."""
    s = m.spot
    attrs = {"hard_negative": m.hard_negative, "mined": True, "borderline": m.borderline,
             "truth_ann_id": m.truth_ann_id, "overlap": m.overlap, "x": s.x, "y": s.y}
    if s.diameter_mm is not None:
        attrs["diameter_mm"] = s.diameter_mm
    return {"id": ann_id, "image_id": image_id, "category_id": category_id(m.category),
            "segmentation": rle_encode_crop(m.mask, m.bbox, h, w), "bbox": list(m.bbox),
            "area": int(m.mask.sum()), "iscrowd": 0, "attributes": attrs}


def _relative_name(image_path: Path, out_dir: Path, src: Path) -> str:
    """The image's file name relative to the output's folder (the loader refuses names leaving it)."""
    try:
        return image_path.resolve().relative_to(out_dir.resolve()).as_posix()
    except ValueError:
        raise ConfigError(f"{src}: image {image_path} is not under {out_dir}; write the mined json "
                          f"into the data set's folder (e.g. beside {src.name})") from None


def _mine_one(args: tuple) -> tuple[int, list[dict], int, int, None, int, float]:
    """Worker: (image index, annotations without ids, truth spots, ambiguous, -, truth spots found, cpu s)."""
    k, im, config, min_overlap = args
    c0 = time.process_time()
    try:
        image = read_photo(im.path)
    except PhotoError as e:
        raise AnnotationError(im.path, f"cannot read image: {e.cause}") from None
    mined, ambiguous, found = mine_photo(image, im, config, min_overlap)
    h, w = image.shape[:2]
    anns = [_annotation(m, 0, int(im.meta.get("coco_id", k + 1)), h, w) for m in mined]
    n_truth = sum(1 for s in im.spots if s.label in COCO_CATEGORIES)
    return k, anns, n_truth, ambiguous, None, len(found), time.process_time() - c0


def mine_dataset(data: str | Path, out: str | Path, config: Any = None, workers: int = 1,
                 min_overlap: float = 0.2, progress: bool = True) -> MineSummary:
    """Mine every photo of the COCO set `data` and write the candidates' COCO json to `out`."""
    src = Path(data)
    if src.is_dir():
        src = src / "annotations.json"
    ls = load_coco(src)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = json.loads(src.read_text())
    names = {int(im.meta.get("coco_id", i + 1)): _relative_name(im.path, out.parent, src)
             for i, im in enumerate(ls.images)}
    t0, c0 = time.time(), time.process_time()
    jobs = [(k, im, config, min_overlap) for k, im in enumerate(ls.images)]
    results = _run_jobs(jobs, workers, progress)
    anns: list[dict] = []
    for r in sorted(results, key=lambda r: r[0]):
        for ann in r[1]:
            ann["id"] = len(anns) + 1
            anns.append(ann)
    n_truth, ambiguous, found = (sum(r[i] for r in results) for i in (2, 3, 5))
    cpu = time.process_time() - c0 + (sum(r[6] for r in results) if workers > 1 else 0.0)
    images = []
    for im in doc["images"]:
        im = dict(im)
        im["file_name"] = names.get(int(im["id"]), im["file_name"])
        images.append(im)
    n_hard = sum(1 for a in anns if a["attributes"]["hard_negative"])
    info = {"description": "segmenter candidates labelled from the truth (spotscale mine)",
            "mine_format": MINE_FORMAT, "source": str(src), "min_overlap": min_overlap,
            "source_info": doc.get("info", {}), "hard_negatives": n_hard, "ambiguous_left_out": ambiguous}
    write_coco(out, images, anns, info)
    summary = MineSummary(out, len(ls.images), len(anns), len(anns) - n_hard, n_hard, ambiguous, n_truth, found,
                          round(time.time() - t0, 2), round(cpu, 2))
    return summary


def _run_jobs(jobs: Sequence[tuple], workers: int, progress: bool) -> list[tuple]:
    """Mine the photos, in `workers` processes when more than one."""
    from tqdm import tqdm
    bar = tqdm(total=len(jobs), desc="mining", unit="photo", disable=not progress)
    results = []
    if workers <= 1:
        for job in jobs:
            results.append(_mine_one(job))
            bar.update(1)
    else:
        import multiprocessing as mp
        ctx = mp.get_context("fork" if os.name == "posix" else "spawn")
        with ctx.Pool(workers) as pool:
            for r in pool.imap_unordered(_mine_one, jobs):
                results.append(r)
                bar.update(1)
    bar.close()
    return results


__all__ = ["MinedSpot", "MineSummary", "true_scale", "mine_photo", "mine_dataset"]
