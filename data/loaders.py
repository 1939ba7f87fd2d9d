"""Loaders for labelled photos users bring: COCO JSON, a CSV manifest, a folder of crops per class.

Every problem in such a file (bad JSON, a missing field, a wrong type, a box outside its image,
duplicate or dangling ids, an unknown label, a path escaping the dataset root) is an
`AnnotationError(file, "<entry>: <cause>")` on one line; nothing else escapes these loaders.

Coordinates are (x, y) pixels of the image as stored (EXIF applied), like everywhere in spotscale.
COCO masks are uncompressed RLE (column-major `counts`, `size` [h, w]), compressed RLE strings
(pycocotools; decoded by `spotscale.data.coco.rle_decode`) or polygons in COCO's continuous
coordinates (pixel i spans [i, i+1)); `mask_of` turns any of them into a bool array.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from spotscale.data.coco import rle_decode
from spotscale.data.errors import AnnotationError
from spotscale.data.photo import DEFAULT_MAX_PIXELS, PHOTO_SUFFIXES
from spotscale.data.types import COCO_CATEGORIES, FINAL_LABELS

# Lower-case synonyms -> (label, subtype). Look-alikes that are not bleeding map to "other".
LABEL_SYNONYMS: dict[str, tuple[str, str | None]] = {
    "petechiae": ("petechia", None), "petechial": ("petechia", None),
    "purpuras": ("purpura", None), "purpuric": ("purpura", None),
    "ecchymoses": ("ecchymosis", None), "ecchymosis/bruise": ("ecchymosis", None),
    "bruise": ("ecchymosis", None), "bruises": ("ecchymosis", None),
    "hematoma": ("ecchymosis", None), "haematoma": ("ecchymosis", None),
    "undetermined": ("borderline", None), "border": ("borderline", None),
    "nevus": ("other", "nevus"), "naevus": ("other", "nevus"), "mole": ("other", "nevus"),
    "freckle": ("other", "freckle"), "cherry angioma": ("other", "cherry angioma"),
    "angioma": ("other", "cherry angioma"), "bite": ("other", "bite"),
    "insect bite": ("other", "bite"), "non-hemorrhagic": ("other", None), "others": ("other", None),
}
CROP_FOLDER_IGNORED = frozenset({"__MACOSX", ".ipynb_checkpoints"})


@dataclass(frozen=True)
class LabelledSpot:
    """One labelled spot: centre (x, y) px, final label, optional size and outline."""

    image: Path
    x: float
    y: float
    label: str  # one of FINAL_LABELS
    diameter_mm: float | None = None  # max Feret on the skin plane, when the file says so
    bbox: tuple[int, int, int, int] | None = None  # x0, y0, w, h px
    mask_rle: dict | None = field(default=None, repr=False)  # {"counts": [...], "size": [h, w]}
    subtype: str | None = None  # for "other": nevus, freckle, cherry angioma, bite...
    borderline: bool = False  # 2-4 mm, the undefined band
    ann_id: int | None = None
    polygons: tuple[tuple[float, ...], ...] | None = field(default=None, repr=False)  # x0,y0,x1,..
    attributes: dict | None = field(default=None, repr=False)  # the file's other per-spot fields


@dataclass(frozen=True)
class LabelledImage:
    """One labelled photo; `meta` keeps whatever else the file said about it (scale, ita...)."""

    path: Path
    width: int | None
    height: int | None
    mm_per_px: float | None
    meta: dict
    spots: tuple[LabelledSpot, ...]


@dataclass(frozen=True)
class LabelledSet:
    """A labelled data set: images under `root`, the label vocabulary it used, where it came from."""

    root: Path
    images: tuple[LabelledImage, ...]
    categories: tuple[str, ...]
    source: str  # the file it was read from
    warnings: tuple[str, ...] = ()  # rows skipped by a non-strict load, "file:line: cause"


def normalize_label(name: object) -> tuple[str, str | None] | None:
    """(label, subtype) for a label name in any case or a known synonym; None when unknown."""
    if not isinstance(name, str):
        return None
    key = " ".join(name.strip().lower().replace("_", " ").split())
    if key in FINAL_LABELS or key in COCO_CATEGORIES:
        return key, None
    return LABEL_SYNONYMS.get(key) or LABEL_SYNONYMS.get(key.replace(" ", "-"))


# ----------------------------------------------------------------------------- masks

def mask_of(spot: LabelledSpot, h: int, w: int, mm_per_px: float | None = None) -> np.ndarray | None:
    """Bool mask (h, w) of a spot: its RLE, else its polygons, else a disc of its diameter, else None.

    The disc needs `mm_per_px` (CSV manifests give only centre and diameter).
    """
    if spot.mask_rle is not None:
        m = rle_decode(spot.mask_rle)
        if m.shape == (h, w):
            return m
        out = np.zeros((h, w), bool)
        hh, ww = min(h, m.shape[0]), min(w, m.shape[1])
        out[:hh, :ww] = m[:hh, :ww]
        return out
    if spot.polygons:
        return _fill_polygons(spot.polygons, h, w)
    if spot.diameter_mm is not None and mm_per_px:
        r = spot.diameter_mm / mm_per_px / 2.0
        yy, xx = np.ogrid[0:h, 0:w]
        return (xx - spot.x) ** 2 + (yy - spot.y) ** 2 <= r * r
    return None


def _fill_polygons(polys: Iterable[tuple[float, ...]], h: int, w: int) -> np.ndarray:
    """Pixels whose centre (i + 0.5 in COCO's continuous coordinates) is inside any polygon.

    Even-odd rule, like pycocotools: a 10 x 10 square with corners on the pixel grid gives
    exactly 100 pixels (OpenCV's fillPoly also fills the boundary and would give 121).
    """
    out = np.zeros((h, w), bool)
    for p in polys:
        pts = np.asarray(p, np.float64).reshape(-1, 2)
        x0, y0 = np.clip(np.floor(pts.min(axis=0)).astype(int), 0, [w, h])
        x1, y1 = np.clip(np.ceil(pts.max(axis=0)).astype(int) + 1, 0, [w, h])
        if x1 <= x0 or y1 <= y0:
            continue
        py, px = np.mgrid[y0:y1, x0:x1] + 0.5
        inside = np.zeros(px.shape, bool)
        for (ax, ay), (bx, by) in zip(pts, np.roll(pts, -1, axis=0)):
            if ay == by:
                continue
            crosses = (ay > py) != (by > py)
            x_cross = ax + (py - ay) * (bx - ax) / (by - ay)
            inside ^= crosses & (px < x_cross)
        out[y0:y1, x0:x1] |= inside
    return out


def _rle_stats(counts: list[int], h: int) -> tuple[float, float, int, tuple[int, int, int, int]]:
    """(x, y, area, bbox) of a column-major RLE without building the mask.

    A plain loop over the runs of ones: spots have a few to a few hundred runs, where numpy's
    per-call overhead costs more than it saves.
    """
    sx = sy = 0.0
    area, x0, y0, x1, y1 = 0, math.inf, math.inf, -1, -1
    pos = 0
    for i, run in enumerate(counts):
        s, n = pos, run
        pos += run
        if not i % 2 or n <= 0:
            continue
        while n > 0:  # a run may wrap from one column into the next
            col, row = divmod(s, h)
            m = min(n, h - row)
            sx += col * m
            sy += (2 * row + m - 1) * m / 2.0
            area += m
            x0, x1 = min(x0, col), max(x1, col)
            y0, y1 = min(y0, row), max(y1, row + m - 1)
            s, n = s + m, n - m
    if area == 0:
        return math.nan, math.nan, 0, (0, 0, 0, 0)
    return sx / area, sy / area, area, (int(x0), int(y0), int(x1 - x0 + 1), int(y1 - y0 + 1))


def _mask_stats(m: np.ndarray) -> tuple[float, float, int, tuple[int, int, int, int]]:
    """(x, y, area, bbox) of a bool mask."""
    ys, xs = np.nonzero(m)
    if xs.size == 0:
        return math.nan, math.nan, 0, (0, 0, 0, 0)
    x0, y0 = int(xs.min()), int(ys.min())
    bbox = (x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1)
    return float(xs.mean()), float(ys.mean()), int(xs.size), bbox


def _polygon_centroid(polys: Iterable[tuple[float, ...]]) -> tuple[float, float, float]:
    """Area-weighted centroid (x, y) and area of polygons (shoelace); vertex mean if degenerate."""
    a_sum = cx = cy = 0.0
    pts_all = []
    for p in polys:
        pts = np.asarray(p, np.float64).reshape(-1, 2)
        pts_all.append(pts)
        x, y = pts[:, 0], pts[:, 1]
        x2, y2 = np.roll(x, -1), np.roll(y, -1)
        cross = x * y2 - x2 * y
        a = cross.sum() / 2.0
        a_sum += a
        cx += ((x + x2) * cross).sum() / 6.0
        cy += ((y + y2) * cross).sum() / 6.0
    if abs(a_sum) < 1e-9:
        pts = np.concatenate(pts_all)
        return float(pts[:, 0].mean()), float(pts[:, 1].mean()), 0.0
    return cx / a_sum, cy / a_sum, abs(a_sum)


# ----------------------------------------------------------------------------- paths

def _safe_path(root: Path, name: object, src: Path, where: str) -> Path:
    """root/name resolved; refuses names that leave the root (.., absolute, symlinks outside)."""
    if not isinstance(name, str) or not name.strip():
        raise AnnotationError(src, f"{where}: file name must be a non-empty string, got {name!r}")
    if "\x00" in name:
        raise AnnotationError(src, f"{where}: file name contains a NUL byte")
    rel = name.replace("\\", "/")  # data sets made on Windows
    try:
        target = (root / rel).resolve()
        inside = target.is_relative_to(root.resolve())
    except (OSError, RuntimeError, ValueError) as e:  # symlink loops, too-long names
        raise AnnotationError(src, f"{where}: cannot resolve {name!r}: {e}") from None
    if not inside:
        raise AnnotationError(src, f"{where}: path {name!r} escapes the dataset root {root}")
    return target


def _short(e: BaseException) -> str:
    return " ".join(str(e).split())[:120] or type(e).__name__


def _finite(v: object) -> float | None:
    """v as a finite float, or None (bools are not numbers here)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _int_id(v: object) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def _read_source(src: Path) -> bytes:
    try:
        return src.read_bytes()
    except FileNotFoundError:
        raise AnnotationError(src, "no such file") from None
    except IsADirectoryError:
        raise AnnotationError(src, "is a directory, not an annotation file") from None
    except PermissionError:
        raise AnnotationError(src, "permission denied") from None
    except OSError as e:
        raise AnnotationError(src, f"cannot read: {e.strerror or e}") from None


# ----------------------------------------------------------------------------- COCO

def load_coco(json_path: str | os.PathLike, root: str | os.PathLike | None = None,
              check_files: bool = True) -> LabelledSet:
    """Read a COCO instances JSON (the generator's, or any tool's) into a LabelledSet.

    `root` (default: the JSON's folder, or its images/ subfolder when file names are bare)
    is where `file_name`s are resolved; names leaving it are refused. `check_files` also
    refuses entries whose image file does not exist. Crowd annotations are skipped.
    """
    src = Path(json_path)
    doc = _parse_json(src)
    if not isinstance(doc, dict):
        raise AnnotationError(src, f"top level must be a JSON object, got {type(doc).__name__}")
    for key in ("images", "annotations", "categories"):
        if key not in doc:
            raise AnnotationError(src, f"missing top-level field {key!r}")
        if not isinstance(doc[key], list):
            raise AnnotationError(src, f"{key!r} must be a list, got {type(doc[key]).__name__}")
    base = Path(root) if root is not None else _guess_root(src, doc["images"])
    cats = _coco_categories(src, doc["categories"])
    images = _coco_images(src, base, doc["images"], check_files)
    spots: dict[int, list[LabelledSpot]] = {i: [] for i in images}
    seen: set[int] = set()
    for k, ann in enumerate(doc["annotations"]):
        spot = _coco_annotation(src, k, ann, images, cats, seen)
        if spot is not None:
            spots[_int_id(ann["image_id"])].append(spot)
    out = tuple(LabelledImage(path=im["path"], width=im["width"], height=im["height"],
                              mm_per_px=im["mm_per_px"], meta=im["meta"], spots=tuple(spots[i]))
                for i, im in images.items())
    labels = tuple(dict.fromkeys(c[0] for c in cats.values() if c[0] is not None))
    return LabelledSet(root=base, images=out, categories=labels, source=str(src))


def _parse_json(src: Path) -> Any:
    raw = _read_source(src)
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise AnnotationError(src, f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
                              ) from None
    except UnicodeDecodeError:
        raise AnnotationError(src, "not valid JSON: not UTF-8/16/32 text") from None
    except RecursionError:
        raise AnnotationError(src, "not valid JSON: nested too deeply") from None
    except ValueError as e:  # e.g. an integer with too many digits
        raise AnnotationError(src, f"not valid JSON: {e}") from None


def _guess_root(src: Path, images: list) -> Path:
    """The JSON's folder, unless the first image is only found in its images/ subfolder."""
    base = src.parent
    first = images[0] if images and isinstance(images[0], dict) else {}
    name = first.get("file_name")
    if isinstance(name, str) and name and "\x00" not in name:
        try:
            if not (base / name).exists() and (base / "images" / name).exists():
                return base / "images"
        except (OSError, ValueError):
            pass
    return base


def _entry_id(src: Path, section: str, k: int, entry: object, taken) -> int:
    """The integer id of entry k of a COCO section, refusing non-objects and duplicates."""
    if not isinstance(entry, dict):
        raise AnnotationError(src, f"{section}[{k}]: must be an object")
    eid = _int_id(entry.get("id"))
    if eid is None:
        raise AnnotationError(src, f"{section}[{k}]: 'id' must be an integer, got "
                                   f"{entry.get('id')!r}")
    if eid in taken:
        raise AnnotationError(src, f"{section}[{k}]: duplicate id {eid}")
    return eid


def _coco_categories(src: Path, cats: list) -> dict[int, tuple[str | None, str | None, str]]:
    """category id -> (label or None when unknown, subtype, name as written)."""
    out: dict[int, tuple[str | None, str | None, str]] = {}
    for k, c in enumerate(cats):
        cid = _entry_id(src, "categories", k, c, out)
        name = c.get("name")
        if not isinstance(name, str):
            raise AnnotationError(src, f"category {cid}: 'name' must be a string, got {name!r}")
        norm = normalize_label(name)
        out[cid] = (norm[0], norm[1], name) if norm else (None, None, name)
    return out


_IMAGE_KEYS = ("id", "file_name", "width", "height", "mm_per_px")


def _coco_images(src: Path, root: Path, images: list, check_files: bool) -> dict[int, dict]:
    """image id -> {path, width, height, mm_per_px, meta}, validated."""
    out: dict[int, dict] = {}
    names: dict[Path, int] = {}
    for k, im in enumerate(images):
        iid = _entry_id(src, "images", k, im, out)
        where = f"image {iid}"
        path = _safe_path(root, im.get("file_name"), src, where)
        if path in names:
            raise AnnotationError(src, f"{where}: same file as image {names[path]} ({path.name})")
        names[path] = iid
        if check_files and not path.is_file():
            raise AnnotationError(src, f"{where}: image file {im.get('file_name')!r} not found "
                                       f"under {root}")
        width, height = (_positive_int(src, where, im, key) for key in ("width", "height"))
        mm = im.get("mm_per_px")
        if mm is not None and ((_finite(mm) or 0.0) <= 0.0):
            raise AnnotationError(src, f"{where}: 'mm_per_px' must be a positive number, got {mm!r}")
        meta = {key: v for key, v in im.items() if key not in _IMAGE_KEYS}
        meta["coco_id"] = iid
        out[iid] = {"path": path, "width": width, "height": height,
                    "mm_per_px": None if mm is None else float(mm), "meta": meta}
    return out


def _positive_int(src: Path, where: str, d: dict, key: str) -> int | None:
    v = d.get(key)
    if v is None:
        return None
    iv = _int_id(v)
    if iv is None or iv < 1:
        raise AnnotationError(src, f"{where}: {key!r} must be a positive integer, got {v!r}")
    return iv


def _coco_annotation(src: Path, k: int, ann: object, images: dict, cats: dict,
                     seen: set[int]) -> LabelledSpot | None:
    """One validated annotation as a LabelledSpot (None for crowd regions)."""
    aid = _entry_id(src, "annotations", k, ann, seen)
    seen.add(aid)
    where = f"annotation {aid}"
    iid, cid = _int_id(ann.get("image_id")), _int_id(ann.get("category_id"))
    if iid not in images:
        raise AnnotationError(src, f"{where}: image_id {ann.get('image_id')!r} is not an image id")
    if cid not in cats:
        raise AnnotationError(src, f"{where}: category_id {ann.get('category_id')!r} "
                                   "is not a category id")
    label, cat_subtype, cat_name = cats[cid]
    if label is None:
        raise AnnotationError(src, f"{where}: category {cat_name!r} is not a known label "
                                   f"(known: {', '.join(FINAL_LABELS)} and synonyms)")
    if ann.get("iscrowd") not in (None, 0, False):
        return None
    im = images[iid]
    geo = _coco_geometry(src, where, ann, im["width"], im["height"])
    attrs = ann.get("attributes", {})
    if attrs is None:
        attrs = {}
    if not isinstance(attrs, dict):
        raise AnnotationError(src, f"{where}: 'attributes' must be an object")
    diameter = attrs.get("diameter_mm", ann.get("diameter_mm"))
    if diameter is not None and (_finite(diameter) is None or diameter < 0):
        raise AnnotationError(src, f"{where}: diameter_mm must be a number >= 0, got {diameter!r}")
    subtype = attrs.get("subtype", cat_subtype)
    if subtype is not None and not isinstance(subtype, str):
        raise AnnotationError(src, f"{where}: subtype must be a string, got {subtype!r}")
    borderline = attrs.get("borderline", False)
    if borderline not in (True, False, 0, 1, None):
        raise AnnotationError(src, f"{where}: borderline must be true or false, got {borderline!r}")
    return LabelledSpot(
        image=im["path"], x=geo["x"], y=geo["y"], label=label,
        diameter_mm=None if diameter is None else float(diameter), bbox=geo["bbox"],
        mask_rle=geo["rle"], subtype=subtype or None,
        borderline=bool(borderline) or label == "borderline", ann_id=aid, polygons=geo["polygons"],
        attributes=attrs or None)


def _coco_geometry(src: Path, where: str, ann: dict, width: int | None,
                   height: int | None) -> dict:
    """Centre (x, y) px, integer bbox, RLE (as a list of counts) and polygons of an annotation.

    COCO coordinates are continuous (pixel i spans [i, i+1)); centres are returned in pixel
    index coordinates (pixel i's centre is i), like the masks' centroids.
    """
    seg = ann.get("segmentation")
    rle = polys = None
    x = y = None
    seg_bbox = None
    if isinstance(seg, dict):
        rle = _check_rle(src, where, seg, width, height)
        if isinstance(rle["counts"], str):
            try:
                cx, cy, area, box = _mask_stats(rle_decode(rle))
            except Exception as e:  # noqa: BLE001 - a hostile string can fail in many ways
                raise AnnotationError(src, f"{where}: bad compressed RLE string ({_short(e)})"
                                      ) from None
        else:
            cx, cy, area, box = _rle_stats(rle["counts"], rle["size"][0])
        if area > 0:
            x, y, seg_bbox = cx, cy, box
    elif isinstance(seg, list) and seg:
        polys = _check_polygons(src, where, seg, width, height)
        cx, cy, _ = _polygon_centroid(polys)
        x, y = cx - 0.5, cy - 0.5
        pts = np.concatenate([np.asarray(p).reshape(-1, 2) for p in polys])
        x0, y0 = np.floor(pts.min(axis=0)).astype(int)
        x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
        seg_bbox = (int(x0), int(y0), int(x1 - x0), int(y1 - y0))
    elif seg is not None and seg != []:
        raise AnnotationError(src, f"{where}: segmentation must be an RLE object or a list of "
                                   f"polygons, got {type(seg).__name__}")
    bbox = _check_bbox(src, where, ann["bbox"], width, height) if "bbox" in ann else seg_bbox
    if bbox is None:
        raise AnnotationError(src, f"{where}: has neither a bbox nor a non-empty segmentation")
    if x is None:
        x, y = bbox[0] + bbox[2] / 2.0 - 0.5, bbox[1] + bbox[3] / 2.0 - 0.5
    return {"x": float(x), "y": float(y), "bbox": bbox, "rle": rle, "polygons": polys}


def _check_rle(src: Path, where: str, seg: dict, width: int | None, height: int | None) -> dict:
    size, counts = seg.get("size"), seg.get("counts")
    if (not isinstance(size, list) or len(size) != 2
            or any(_int_id(v) is None or _int_id(v) < 1 for v in size)):
        raise AnnotationError(src, f"{where}: RLE 'size' must be [height, width], got {size!r}")
    h, w = _int_id(size[0]), _int_id(size[1])
    if (height is not None and h != height) or (width is not None and w != width):
        raise AnnotationError(src, f"{where}: RLE size {h}x{w} differs from its image "
                                   f"{height}x{width}")
    if h * w > DEFAULT_MAX_PIXELS:
        raise AnnotationError(src, f"{where}: RLE size {h}x{w} is over {DEFAULT_MAX_PIXELS} pixels")
    if isinstance(counts, str):  # pycocotools' compressed form, decoded later
        if not all("0" <= ch <= "o" for ch in counts):  # 6-bit groups are chars 48..111
            raise AnnotationError(src, f"{where}: bad compressed RLE string (characters outside "
                                       "'0'..'o')")
        return {"counts": counts, "size": [h, w]}
    if not isinstance(counts, list):
        raise AnnotationError(src, f"{where}: RLE 'counts' must be a list or a string")
    try:
        arr = np.asarray(counts) if counts else np.zeros(0, np.int64)
    except (ValueError, TypeError, OverflowError):  # ragged nesting
        arr = None
    if arr is None or arr.dtype.kind != "i":  # floats, strings, nesting, huge ints: one by one
        counts = [_int_id(c) for c in counts]
        if any(c is None for c in counts):
            raise AnnotationError(src, f"{where}: RLE counts must be non-negative integers")
        arr = np.asarray(counts, dtype=object)
    if arr.ndim != 1 or (arr.size and arr.min() < 0):
        raise AnnotationError(src, f"{where}: RLE counts must be non-negative integers")
    total = int(sum(arr.tolist()))  # exact, no int64 overflow
    if total != h * w:
        raise AnnotationError(src, f"{where}: RLE counts add up to {total}, not {h}x{w} = {h * w}")
    return {"counts": counts, "size": [h, w]}


def _check_polygons(src: Path, where: str, seg: list, width: int | None,
                    height: int | None) -> tuple[tuple[float, ...], ...]:
    polys = []
    for p in seg:
        vals = [_finite(v) for v in p] if isinstance(p, list) else [None]
        if len(vals) < 6 or len(vals) % 2 or any(v is None for v in vals):
            raise AnnotationError(src, f"{where}: a polygon must be a list of >= 3 (x, y) number "
                                       "pairs")
        polys.append(tuple(vals))
    pts = np.asarray([v for p in polys for v in p]).reshape(-1, 2)
    _check_inside(src, where, "polygon", pts.min(axis=0), pts.max(axis=0), width, height)
    return tuple(polys)


def _check_bbox(src: Path, where: str, box: object, width: int | None,
                height: int | None) -> tuple[int, int, int, int]:
    vals = [_finite(v) for v in box] if isinstance(box, list) else [None]
    if len(vals) != 4 or any(v is None for v in vals) or vals[2] < 0 or vals[3] < 0:
        raise AnnotationError(src, f"{where}: bbox must be [x, y, w, h] numbers with w, h >= 0, "
                                   f"got {box!r}")
    x, y, w, h = vals
    _check_inside(src, where, "bbox", (x, y), (x + w, y + h), width, height)
    x0, y0 = math.floor(x), math.floor(y)
    return (x0, y0, math.ceil(x + w) - x0, math.ceil(y + h) - y0)


def _check_inside(src: Path, where: str, what: str, lo, hi, width: int | None,
                  height: int | None, tol: float = 1.0) -> None:
    """Refuse geometry outside the image (1 px of rounding tolerance)."""
    if lo[0] < -tol or lo[1] < -tol or (width is not None and hi[0] > width + tol) or (
            height is not None and hi[1] > height + tol):
        raise AnnotationError(src, f"{where}: {what} spans x {lo[0]:g}..{hi[0]:g}, y {lo[1]:g}.."
                                   f"{hi[1]:g}, outside the {width}x{height} image")


# ----------------------------------------------------------------------------- CSV manifest

CSV_REQUIRED: tuple[str, ...] = ("image", "x", "y", "label")
CSV_OPTIONAL: tuple[str, ...] = ("diameter_mm", "mm_per_px", "width", "height", "subtype",
                                 "borderline")


class _RowError(ValueError):
    """A bad CSV row; strict loads raise it as AnnotationError, lenient ones record a warning."""


def load_csv_manifest(csv_path: str | os.PathLike, root: str | os.PathLike | None = None,
                      strict: bool = True, check_files: bool = True) -> LabelledSet:
    """Read a CSV manifest: one row per spot, columns image,x,y,diameter_mm,label.

    Optional columns: mm_per_px, width, height, subtype, borderline. A row with x, y and label
    empty lists an image without spots. `strict=False` skips bad rows and lists them in
    `LabelledSet.warnings` instead of raising.
    """
    src = Path(csv_path)
    base = Path(root) if root is not None else src.parent
    rows = _csv_rows(src)
    header = next(rows, None)
    if header is None:
        raise AnnotationError(src, "empty file: expected a header line "
                                   f"({','.join(CSV_REQUIRED + ('diameter_mm',))})")
    cols = [h.strip().lower().lstrip("\ufeff") for h in header[1]]
    missing = [c for c in CSV_REQUIRED if c not in cols]
    if missing:
        raise AnnotationError(src, f"line {header[0]}: missing column(s) {', '.join(missing)} "
                                   f"in header {cols}")
    images: dict[Path, dict] = {}
    paths: dict[str, Path | str] = {}
    warnings: list[str] = []
    for line, values in rows:
        try:
            _csv_row(src, base, cols, values, images, check_files, paths)
        except _RowError as e:
            if strict:
                raise AnnotationError(src, f"line {line}: {e}") from None
            warnings.append(f"{src}:{line}: {e}")
    out = tuple(LabelledImage(path=p, width=d["width"], height=d["height"],
                              mm_per_px=d["mm_per_px"], meta={}, spots=tuple(d["spots"]))
                for p, d in images.items())
    labels = tuple(dict.fromkeys(s.label for im in out for s in im.spots))
    return LabelledSet(root=base, images=out, categories=labels, source=str(src),
                       warnings=tuple(warnings))


def _csv_rows(src: Path) -> Iterable[tuple[int, list[str]]]:
    """(line number, cells) of each non-blank row; the delimiter is , ; or tab, from the header."""
    raw = _read_source(src)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise AnnotationError(src, f"not UTF-8 text (byte {e.start})") from None
    first = text.split("\n", 1)[0]
    delim = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)

    def gen():
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise AnnotationError(src, f"line {reader.line_num}: bad CSV: {e}") from None
            if any(c.strip() for c in cells):
                yield reader.line_num, cells
    return gen()


def _csv_image_path(src: Path, root: Path, name: str, check_files: bool,
                    cache: dict[str, Path | str]) -> Path:
    """The checked path of a row's image; resolved once per distinct name (rows repeat names)."""
    if name not in cache:
        try:
            path = _safe_path(root, name, src, "image")
            missing = check_files and not path.is_file()
            cache[name] = f"image file {name!r} not found under {root}" if missing else path
        except AnnotationError as e:
            cache[name] = e.cause.removeprefix("image: ")
    if isinstance(cache[name], str):
        raise _RowError(cache[name])
    return cache[name]


def _csv_row(src: Path, root: Path, cols: list[str], values: list[str],
             images: dict[Path, dict], check_files: bool, paths: dict[str, Path | str]) -> None:
    """Validate one row and add its spot (or bare image) to `images`."""
    if len(values) != len(cols):
        raise _RowError(f"has {len(values)} fields, the header has {len(cols)}")
    row = {c: v.strip() for c, v in zip(cols, values)}
    path = _csv_image_path(src, root, row["image"], check_files, paths)
    width, height = _cell_num(row, "width", int), _cell_num(row, "height", int)
    mm = _cell_num(row, "mm_per_px", float)
    old = images.get(path) or {"width": None, "height": None, "mm_per_px": None, "spots": []}
    entry = dict(old)  # committed only once the whole row is valid
    for key, v in (("width", width), ("height", height), ("mm_per_px", mm)):
        if v is not None and entry[key] is not None and entry[key] != v:
            raise _RowError(f"{key} {v:g} contradicts {entry[key]:g} given earlier for this image")
        entry[key] = entry[key] if v is None else v
    if not (row["x"] or row["y"] or row["label"]):
        images[path] = entry  # an image without spots
        return
    x, y = _cell_num(row, "x", float, required=True), _cell_num(row, "y", float, required=True)
    if x < 0 or y < 0 or (entry["width"] and x > entry["width"]) or (
            entry["height"] and y > entry["height"]):
        raise _RowError(f"point ({x:g}, {y:g}) is outside the image")
    norm = normalize_label(row["label"])
    if norm is None:
        raise _RowError(f"unknown label {row['label']!r} (known: {', '.join(FINAL_LABELS)})")
    diameter = _cell_num(row, "diameter_mm", float)
    border = row.get("borderline", "").lower()
    if border not in ("", "0", "1", "true", "false", "yes", "no"):
        raise _RowError(f"borderline must be true/false, got {row['borderline']!r}")
    entry["spots"].append(LabelledSpot(
        image=path, x=x, y=y, label=norm[0], diameter_mm=diameter,
        subtype=row.get("subtype") or norm[1],
        borderline=border in ("1", "true", "yes") or norm[0] == "borderline"))
    images[path] = entry


def _cell_num(row: dict, key: str, kind: type, required: bool = False):
    """A numeric cell: None when empty (unless required); > 0 for sizes, finite always."""
    text = row.get(key, "")
    if not text:
        if required:
            raise _RowError(f"{key} is empty")
        return None
    try:
        v = float(text)
    except ValueError:
        raise _RowError(f"{key} {text!r} is not a number") from None
    if not math.isfinite(v):
        raise _RowError(f"{key} {text!r} is not a finite number")
    if key in ("x", "y"):
        return v
    if v <= 0:
        raise _RowError(f"{key} must be > 0, got {text}")
    if kind is int:
        if not v.is_integer():
            raise _RowError(f"{key} must be a whole number, got {text}")
        return int(v)
    return v


# ----------------------------------------------------------------------------- crop folders

def load_crop_folder(root: str | os.PathLike) -> list[tuple[Path, str]]:
    """(crop path, label) for root/<label>/**/<image>, torchvision ImageFolder style, sorted.

    Folder names are labels in any case or known synonyms; hidden entries are ignored.
    """
    base = Path(root)
    if not base.is_dir():
        raise AnnotationError(base, "not a directory" if base.exists() else "no such directory")
    out: list[tuple[Path, str]] = []
    for sub in sorted(base.iterdir()):
        if sub.name.startswith(".") or sub.name in CROP_FOLDER_IGNORED or not sub.is_dir():
            continue
        norm = normalize_label(sub.name)
        if norm is None:
            raise AnnotationError(base, f"folder {sub.name!r} is not a known label "
                                        f"(known: {', '.join(FINAL_LABELS)})")
        for dirpath, dirnames, files in os.walk(sub):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(files):
                if name.startswith(".") or Path(name).suffix.lower() not in PHOTO_SUFFIXES:
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), base)
                out.append((_safe_path(base, rel, base, f"crop {rel!r}"), norm[0]))
    if not out:
        raise AnnotationError(base, "no image files found in class sub-folders")
    return sorted(out, key=lambda t: (t[1], str(t[0])))


# ----------------------------------------------------------------------------- auto-detect

COCO_NAMES = ("annotations.json", "instances.json", "coco.json")
CSV_NAMES = ("manifest.csv", "labels.csv", "annotations.csv")


def load_labelled(path: str | os.PathLike) -> LabelledSet | list[tuple[Path, str]]:
    """Load whatever labelled data `path` is: a COCO .json, a CSV manifest, or a folder.

    A folder holding annotations.json (or instances.json, coco.json) is COCO; one holding
    manifest.csv (labels.csv, annotations.csv) is a manifest; otherwise class sub-folders.
    """
    p = Path(path)
    if p.is_file():
        if p.suffix.lower() == ".json":
            return load_coco(p)
        if p.suffix.lower() in (".csv", ".tsv", ".txt"):
            return load_csv_manifest(p)
        raise AnnotationError(p, "not a .json (COCO) or .csv (manifest) file")
    if not p.is_dir():
        raise AnnotationError(p, "no such file or directory")
    for name in COCO_NAMES:
        if (p / name).is_file():
            return load_coco(p / name)
    for name in CSV_NAMES:
        if (p / name).is_file():
            return load_csv_manifest(p / name)
    return load_crop_folder(p)
