"""Drawing a result on its photo, and writing it as JSON.

The overlay is the photo with a header band on top (counts, scale, legend, disclaimer), each spot
outlined in the colour of its final label, numbered, with its size in mm; the reference outlined and
labelled with its source and mm/px. Line widths and fonts scale with the image, so it reads on a
640 x 480 photo as on a 12 MP one. `max_side_px` draws on a downscaled copy (for very large photos).
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from spotscale.data.types import DISCLAIMER, FINAL_LABELS, PhotoResult, Scale

# RGB colours of the final labels (chosen to stand out on skin tones of every depth)
LABEL_COLOURS: dict[str, tuple[int, int, int]] = {
    "petechia": (0, 230, 255),
    "purpura": (255, 40, 255),
    "ecchymosis": (40, 90, 255),
    "borderline": (255, 235, 0),
    "other": (190, 190, 190),
}
REFERENCE_COLOUR = (0, 255, 80)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclasses.dataclass(frozen=True)
class _Pen:
    """Line width and font size for an image of a given size."""

    line: int
    font: float
    text: int

    @staticmethod
    def for_size(w: int, h: int) -> "_Pen":
        side = max(w, h)
        return _Pen(line=max(1, round(side / 900)), font=max(0.5, side / 1800), text=max(1, round(side / 1100)))


def _text(img: np.ndarray, s: str, org: tuple[int, int], colour: tuple[int, int, int], pen: _Pen,
          scale: float = 1.0) -> None:
    """Text with a dark outline, readable on any background."""
    fs = pen.font * scale
    cv2.putText(img, s, org, _FONT, fs, (0, 0, 0), pen.text + 2, cv2.LINE_AA)
    cv2.putText(img, s, org, _FONT, fs, colour, pen.text, cv2.LINE_AA)


def _resized(image_rgb: np.ndarray, result: PhotoResult, max_side_px: int | None) -> tuple[np.ndarray, float]:
    """The image to draw on and the factor (drawn px per stored px)."""
    h, w = image_rgb.shape[:2]
    f = 1.0
    if result.width and w != result.width:  # the caller passed a reduced decode
        f = w / result.width
    if max_side_px and max(h, w) > max_side_px:
        g = max_side_px / max(h, w)
        image_rgb = cv2.resize(image_rgb, (max(1, round(w * g)), max(1, round(h * g))), interpolation=cv2.INTER_AREA)
        f *= g
    return np.ascontiguousarray(image_rgb).copy(), f


def _poly(points: Any, f: float) -> np.ndarray:
    return np.round((np.asarray(points, dtype=np.float64) + 0.5) * f - 0.5).astype(np.int32).reshape(-1, 1, 2)


class _Placer:
    """Greedy label placement: a label goes where it covers no spot and no earlier label."""

    def __init__(self, h: int, w: int) -> None:
        self.taken = np.zeros((h, w), bool)
        self.h, self.w = h, w

    def block(self, x0: int, y0: int, x1: int, y1: int) -> None:
        self.taken[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = True

    def free(self, x0: int, y0: int, x1: int, y1: int) -> bool:
        if x0 < 0 or y0 < 0 or x1 > self.w or y1 > self.h:
            return False
        return not self.taken[y0:y1, x0:x1].any()

    def place(self, box: tuple[int, int, int, int], tw: int, th: int, gap: int) -> tuple[int, int] | None:
        """Top-left of a tw x th label near box (x0, y0, x1, y1), nearest first; None if crowded."""
        x0, y0, x1, y1 = box
        cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
        for step in (0, 1, 2, 4, 7):
            d = gap + step * th
            for lx, ly in ((x1 + d, cy - th // 2), (x0 - d - tw, cy - th // 2), (cx - tw // 2, y0 - d - th),
                           (cx - tw // 2, y1 + d), (x1 + d, y0 - d - th), (x1 + d, y1 + d),
                           (x0 - d - tw, y0 - d - th), (x0 - d - tw, y1 + d)):
                if self.free(lx, ly, lx + tw, ly + th):
                    self.block(lx, ly, lx + tw, ly + th)
                    return lx, ly
        return None


def _label(img: np.ndarray, placer: _Placer, box: tuple[int, int, int, int], texts: tuple[str, ...],
           colour: tuple[int, int, int], pen: _Pen, scale: float) -> bool:
    """Draw the first of `texts` that fits near box (with a leader line if it sits apart)."""
    for t in texts:
        (tw, th), base = cv2.getTextSize(t, _FONT, pen.font * scale, pen.text + 2)
        at = placer.place(box, tw, th + base, 2 * pen.line + 1)
        if at is None:
            continue
        lx, ly = at
        _text(img, t, (lx, ly + th), colour, pen, scale)
        bx = min(max(lx, box[0]), box[2])
        by = min(max(ly + th // 2, box[1]), box[3])
        tx = lx if lx >= box[2] else (lx + tw if lx + tw <= box[0] else bx)
        ty = ly + th // 2 if (lx >= box[2] or lx + tw <= box[0]) else (ly + th + base if ly < box[1] else ly)
        if abs(tx - bx) + abs(ty - by) > 4 * pen.line + 4:
            cv2.line(img, (bx, by), (tx, ty), colour, max(1, pen.line // 2), cv2.LINE_AA)
        return True
    return False


def draw_reference(img: np.ndarray, scale: Scale, f: float = 1.0, pen: _Pen | None = None,
                   placer: _Placer | None = None) -> np.ndarray:
    """Outline the scale reference in place and label it with its source and mm/px."""
    pen = pen or _Pen.for_size(img.shape[1], img.shape[0])
    if not scale.outline:
        return img
    poly = _poly(scale.outline, f)
    cv2.polylines(img, [poly], True, REFERENCE_COLOUR, pen.line + 1, cv2.LINE_AA)
    box = (int(poly[:, 0, 0].min()), int(poly[:, 0, 1].min()), int(poly[:, 0, 0].max()), int(poly[:, 0, 1].max()))
    label = f"{scale.source}"
    if scale.mm_per_px:
        label += f" {scale.mm_per_px:.4f} mm/px"
    placer = placer or _Placer(*img.shape[:2])
    placer.block(*box)
    if not _label(img, placer, box, (label,), REFERENCE_COLOUR, pen, 1.0):
        _text(img, label, (max(0, box[0]), max(int(30 * pen.font), box[1])), REFERENCE_COLOUR, pen)
    return img


def _spot_box(s, f: float, pad: int) -> tuple[int, int, int, int]:
    x0, y0, bw, bh = s.bbox
    return (int(x0 * f) - pad, int(y0 * f) - pad, int(np.ceil((x0 + bw) * f)) + pad, int(np.ceil((y0 + bh) * f)) + pad)


def _draw_spots(img: np.ndarray, result: PhotoResult, f: float, pen: _Pen, placer: _Placer) -> int:
    """Outline, number and size every spot; returns how many labels did not fit (crowded)."""
    min_r = 3 * pen.line + 2  # a spot drawn smaller than this gets a visible ring instead
    for s in result.spots:
        placer.block(*_spot_box(s, f, pen.line))
    hidden = 0
    for s in sorted(result.spots, key=lambda s: -s.area_px):
        colour = LABEL_COLOURS.get(s.label or "other", LABEL_COLOURS["other"])
        r_px = s.diameter_px * f / 2
        if len(s.contour) >= 3 and r_px >= min_r:
            cv2.polylines(img, [_poly(s.contour, f)], True, colour, pen.line, cv2.LINE_AA)
        else:
            c = (int(round((s.x + 0.5) * f - 0.5)), int(round((s.y + 0.5) * f - 0.5)))
            cv2.circle(img, c, int(max(min_r, r_px + pen.line)), colour, pen.line, cv2.LINE_AA)
        size = f" {s.diameter_mm:.1f}mm" if s.diameter_mm is not None else ""
        texts = (f"{s.spot_id}{size}", f"{s.spot_id}") if size else (f"{s.spot_id}",)
        if not _label(img, placer, _spot_box(s, f, pen.line + min_r), texts, colour, pen, 0.8):
            hidden += 1
    return hidden


def _header(result: PhotoResult, width: int, pen: _Pen, note: str) -> np.ndarray:
    """A dark band with counts, scale, legend and the disclaimer, as wide as the image."""
    counts = result.summary.get("counts") or {
        lab: sum(1 for s in result.spots if s.label == lab) for lab in FINAL_LABELS}
    sc = result.scale
    scale_txt = (f"scale: {sc.source} {sc.mm_per_px:.4f} mm/px" if sc.found
                 else f"no scale ({sc.reason or 'no reference found'}): no sizes")
    lines = [f"{len(result.spots)} spots | {scale_txt}" + (f" | {note}" if note else "")]
    line_h = int(34 * pen.font) + 4
    band = np.full((line_h * 3 + 8, width, 3), 30, np.uint8)
    _text(band, lines[0], (6, line_h), (255, 255, 255), pen)
    x = 6
    for lab in FINAL_LABELS:
        item = f"{lab} {counts.get(lab, 0)}"
        size = cv2.getTextSize(item, _FONT, pen.font, pen.text)[0][0]
        cv2.rectangle(band, (x, 2 * line_h - int(18 * pen.font)), (x + int(18 * pen.font), 2 * line_h),
                      LABEL_COLOURS[lab], -1)
        _text(band, item, (x + int(24 * pen.font), 2 * line_h), LABEL_COLOURS[lab], pen)
        x += size + int(50 * pen.font)
    _text(band, DISCLAIMER, (6, 3 * line_h), (230, 230, 230), pen, 0.7)
    return band


def draw_overlay(image_rgb: np.ndarray, result: PhotoResult, max_side_px: int | None = None) -> np.ndarray:
    """The photo with spots outlined, numbered, coloured by label with mm sizes; reference; header.

    `image_rgb` may be a reduced decode of the photo (coordinates are scaled to it); with
    `max_side_px` the overlay is drawn on a copy downscaled to that long side (and says so).
    """
    img, f = _resized(image_rgb, result, max_side_px)
    h, w = img.shape[:2]
    pen = _Pen.for_size(w, h)
    placer = _Placer(h, w)
    draw_reference(img, result.scale, f, pen, placer)
    hidden = _draw_spots(img, result, f, pen, placer)
    notes = [f"drawn at {f:.2f}x"] if f < 0.999 else []
    if hidden:
        notes.append(f"{hidden} labels hidden (crowded; see spots.csv)")
    note = "; ".join(notes)
    return np.vstack([_header(result, w, pen, note), img])


# ----------------------------------------------------------------------------------- JSON


def _plain(v: Any) -> Any:
    """JSON-safe copy: numpy scalars/arrays, tuples, dataclasses, paths, NaN -> None."""
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return _plain(v.tolist())
    if isinstance(v, np.generic):
        return _plain(v.item())
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if isinstance(v, Path):
        return str(v)
    return v


def software_versions() -> dict:
    """Versions of spotscale and the libraries that shaped the result (torch only if loaded)."""
    from importlib.metadata import PackageNotFoundError, version
    out = {"python": platform.python_version(), "numpy": np.__version__, "opencv": cv2.__version__}
    try:
        out["spotscale"] = version("spotscale")
    except PackageNotFoundError:
        out["spotscale"] = "unknown"
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].__version__
    return out


def result_dict(result: PhotoResult) -> dict:
    """Everything in a PhotoResult plus scheme, model, software versions and the notes."""
    d = _plain(result)
    d["scale"]["found"] = result.scale.found
    summ = result.summary or {}
    d["scheme"] = {"name": summ.get("scheme"), "source": summ.get("scheme_source"),
                   "bands": summ.get("scheme_bands"), "note": summ.get("scheme_note")}
    d["model"] = _plain(summ.get("model"))
    d["software"] = software_versions()
    d["disclaimer"] = DISCLAIMER
    return d


def write_result_json(result: PhotoResult, path: str | Path) -> Path:
    """Write result.json atomically (temporary file, then rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result_dict(result), indent=1, allow_nan=False)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


__all__ = ["LABEL_COLOURS", "draw_overlay", "draw_reference", "result_dict", "write_result_json",
           "software_versions"]
