"""The table formats of spotscale's outputs: one row per spot, one row per image.

These column lists are a public contract (spots.csv / images.csv of `analyze` and `score`);
`evaluate` reads them back.
"""
from __future__ import annotations

from spotscale.data.types import FINAL_LABELS, PhotoResult, Spot

SPOT_COLUMNS: tuple[str, ...] = (
    "image", "spot_id", "x", "y", "diameter_mm", "eq_diameter_mm", "area_mm2", "minor_mm",
    "diameter_uncertainty_mm", "diameter_px", "area_px", "L", "a", "b", "skin_L", "skin_a", "skin_b",
    "cnn_label", "cnn_prob", "size_class", "label", "flags",
)
IMAGE_COLUMNS: tuple[str, ...] = (
    "image", "status", "error", "width", "height", "mm_per_px", "mm_per_px_uncertainty",
    "scale_source", "n_spots", *(f"n_{label}" for label in FINAL_LABELS), "skin_area_cm2", "skin_fraction",
    "petechiae_per_6_25cm2", "max_petechiae_6_25cm2", "seconds",
)


def _num(v: float | None, digits: int = 4) -> float | str:
    return "" if v is None else round(float(v), digits)


def spot_row(image: str, s: Spot) -> dict:
    """One spots.csv row; absent values (no scale, no model) are empty cells."""
    return {
        "image": image, "spot_id": s.spot_id, "x": _num(s.x, 2), "y": _num(s.y, 2),
        "diameter_mm": _num(s.diameter_mm), "eq_diameter_mm": _num(s.eq_diameter_mm),
        "area_mm2": _num(s.area_mm2), "minor_mm": _num(s.minor_mm),
        "diameter_uncertainty_mm": _num(s.diameter_uncertainty_mm),
        "diameter_px": _num(s.diameter_px, 2), "area_px": _num(s.area_px, 1),
        "L": _num(s.lab[0], 2), "a": _num(s.lab[1], 2), "b": _num(s.lab[2], 2),
        "skin_L": _num(s.skin_lab[0], 2), "skin_a": _num(s.skin_lab[1], 2),
        "skin_b": _num(s.skin_lab[2], 2),
        "cnn_label": s.cnn_label or "", "cnn_prob": _num(s.cnn_prob),
        "size_class": s.size_class or "", "label": s.label or "", "flags": ";".join(s.flags),
    }


def spot_rows(image: str, result: PhotoResult) -> list[dict]:
    """All spots.csv rows of one photo."""
    return [spot_row(image, s) for s in result.spots]


def image_row(image: str, result: PhotoResult, seconds: float) -> dict:
    """The images.csv row of a photo that was analysed."""
    counts = {f"n_{label}": 0 for label in FINAL_LABELS}
    for s in result.spots:
        if s.label in FINAL_LABELS:
            counts[f"n_{s.label}"] += 1
    sc = result.scale
    return {
        "image": image, "status": "ok", "error": "", "width": result.width, "height": result.height,
        "mm_per_px": _num(sc.mm_per_px, 6), "mm_per_px_uncertainty": _num(sc.mm_per_px_uncertainty, 6),
        "scale_source": sc.source, "n_spots": len(result.spots), **counts,
        "skin_area_cm2": _num(result.skin_area_cm2, 3),
        # share of the photo analysed as skin, with or without a scale: 0 means no spot was looked for
        "skin_fraction": _num(result.skin_area_px / (result.width * result.height), 4)
        if result.width * result.height else "",
        "petechiae_per_6_25cm2": _num(result.summary.get("petechiae_per_6_25cm2"), 3),
        "max_petechiae_6_25cm2": _num(result.summary.get("max_petechiae_6_25cm2"), 3),
        "seconds": round(seconds, 3),
    }


def error_row(image: str, error: str, seconds: float = 0.0) -> dict:
    """The images.csv row of a file that could not be analysed; the batch goes on."""
    row = {c: "" for c in IMAGE_COLUMNS}
    row.update(image=image, status="error", error=error.replace("\n", " "), seconds=round(seconds, 3))
    return row
