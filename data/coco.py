"""COCO instance-format helpers: RLE encode/decode and writing a dataset JSON (polygons are read in loaders.py).

Masks are bool arrays indexed [row, col] = [y, x]. COCO RLE runs over the image in column-major
(Fortran) order and starts with a run of zeros (possibly of length 0). Uncompressed RLE stores
`counts` as a list of ints; the compressed (pycocotools string) form is decoded too.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from spotscale.data.errors import AnnotationError
from spotscale.data.types import COCO_CATEGORIES


def _runs_to_counts(starts: np.ndarray, ends: np.ndarray, total: int) -> list[int]:
    """Turn sorted, non-overlapping [start, end) runs of ones into alternating zero/one counts."""
    if len(starts) == 0:
        return [total]
    # merge runs that touch (end of one == start of the next)
    keep = np.ones(len(starts), bool)
    keep[1:] = starts[1:] != ends[:-1]
    s = starts[keep]
    e = np.append(ends[np.flatnonzero(keep)[1:] - 1], ends[-1])
    counts = np.empty(2 * len(s) + 1, np.int64)
    counts[0] = s[0]
    counts[1:-1:2] = e - s
    counts[2:-1:2] = s[1:] - e[:-1]
    counts[-1] = total - e[-1]
    out = counts.tolist()
    if out[-1] == 0:
        out.pop()
    return out


def rle_encode_crop(crop: np.ndarray, bbox: tuple[int, int, int, int], h: int, w: int) -> dict:
    """Uncompressed COCO RLE of a full (h, w) mask given only its bbox crop (x0, y0, w, h)."""
    x0, y0, cw, ch = bbox
    if crop.shape != (ch, cw):
        raise ValueError(f"crop shape {crop.shape} does not match bbox {bbox}")
    if x0 < 0 or y0 < 0 or x0 + cw > w or y0 + ch > h:
        raise ValueError(f"bbox {bbox} outside image {w}x{h}")
    c = np.asarray(crop, bool).T.astype(np.int8)  # (cw, ch): one row per image column
    padded = np.zeros((cw, ch + 2), np.int8)
    padded[:, 1:-1] = c
    d = np.diff(padded, axis=1)
    col_s, row_s = np.nonzero(d == 1)
    col_e, row_e = np.nonzero(d == -1)
    starts = (x0 + col_s) * h + y0 + row_s
    ends = (x0 + col_e) * h + y0 + row_e
    return {"counts": _runs_to_counts(starts, ends, h * w), "size": [int(h), int(w)]}


def rle_encode(mask: np.ndarray) -> dict:
    """Uncompressed COCO RLE ({"counts": [...], "size": [h, w]}) of a full bool mask."""
    h, w = mask.shape
    return rle_encode_crop(np.asarray(mask, bool), (0, 0, w, h), h, w)


def _decode_compressed_counts(s: str) -> list[int]:
    """Decode pycocotools' compressed counts string (LEB128-like, 5 bits per char, delta-coded)."""
    counts: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def counts_to_string(counts: list[int]) -> str:
    """pycocotools' compressed counts string of uncompressed RLE counts (the inverse of its decoder)."""
    out = []
    for i, x in enumerate(int(c) for c in counts):
        if i > 2:
            x -= int(counts[i - 2])
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def rle_decode(rle: dict, h: int | None = None, w: int | None = None) -> np.ndarray:
    """Bool (h, w) mask from a COCO RLE dict (uncompressed list or compressed string counts)."""
    size = rle.get("size")
    if h is None or w is None:
        if not size:
            raise ValueError("RLE without size and no h, w given")
        h, w = int(size[0]), int(size[1])
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if isinstance(counts, str):
        counts = _decode_compressed_counts(counts)
    counts = np.asarray(counts, np.int64)
    if counts.size and (counts < 0).any():
        raise ValueError("negative run length in RLE")
    if counts.sum() > h * w:
        raise ValueError(f"RLE covers {int(counts.sum())} pixels, image has {h * w}")
    values = np.zeros(len(counts), np.uint8)
    values[1::2] = 1
    flat = np.repeat(values, counts)
    flat = np.pad(flat, (0, h * w - flat.size))
    return flat.reshape(w, h).T.astype(bool)


def coco_categories() -> list[dict]:
    """The project's COCO category list: petechia=1, purpura=2, ecchymosis=3, other=4."""
    return [{"id": i + 1, "name": n, "supercategory": "spot"} for i, n in enumerate(COCO_CATEGORIES)]


def category_id(name: str) -> int:
    """COCO category id of a category name."""
    try:
        return COCO_CATEGORIES.index(name) + 1
    except ValueError:
        raise ValueError(f"unknown category {name!r}; expected one of {COCO_CATEGORIES}") from None


def write_coco(path: Path | str, images: list[dict], annotations: list[dict], info: dict | None = None) -> Path:
    """Write a COCO instance JSON (images, annotations, categories) and return its path."""
    path = Path(path)
    doc = {
        "info": info or {"description": "spotscale"},
        "images": images,
        "annotations": annotations,
        "categories": coco_categories(),
    }
    ids = [a["id"] for a in annotations]
    if len(ids) != len(set(ids)):
        raise AnnotationError(path, "duplicate annotation ids")
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, separators=(",", ":")))
    tmp.replace(path)
    return path
