"""What things ARE: the small frozen records that flow through spotscale.

Coordinates everywhere are (x, y) in pixels of the image as stored on disk after its EXIF
orientation is applied: x grows to the right (column), y grows downwards (row).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Label vocabularies (exact strings; they appear in CSV, JSON and the CNN's metadata).
CNN_CLASSES: tuple[str, ...] = ("petechia", "purpura", "other")
FINAL_LABELS: tuple[str, ...] = ("petechia", "purpura", "ecchymosis", "borderline", "other")
# Categories of the generator's COCO files (and of user COCO files).
COCO_CATEGORIES: tuple[str, ...] = ("petechia", "purpura", "ecchymosis", "other")
HEMORRHAGIC: frozenset[str] = frozenset({"petechia", "purpura", "ecchymosis", "borderline"})

DISCLAIMER = (
    "Research and documentation aid, not a diagnosis. Blanching (whether a spot fades when "
    "pressed) cannot be assessed from a single photo."
)


@dataclass(frozen=True)
class Scale:
    """How image pixels turn into millimetres on the skin plane.

    `homography` (3x3, row-major nested tuples) maps image pixels (x, y, 1) to skin-plane
    millimetres; it is None when only an isotropic `mm_per_px` is known (ruler, sticker, manual).
    `mm_per_px` is the scale at the reference (for a homography: sqrt of its Jacobian there).
    `mm_per_px` None means no scale was found; `reason` then says why.
    """

    mm_per_px: float | None
    mm_per_px_uncertainty: float | None = None  # absolute, same unit as mm_per_px (1 sigma)
    source: str = "none"  # "aruco" | "ruler" | "sticker" | "manual" | "none"
    outline: tuple[tuple[float, float], ...] = ()  # reference outline polygon, (x, y) px
    homography: tuple[tuple[float, ...], ...] | None = None
    reason: str = ""
    n_references: int = 0  # how many references of this kind were seen (e.g. several markers)
    blur_px: float | None = None  # gaussian sigma (px) of the photo's blur at the reference beyond the
    #                               pixel's own, measured on an ArUco marker's edges, a sticker's rim or a
    #                               ruler's long sides; None if not measured
    reference_points: tuple[tuple[float, float], ...] = ()  # (x, y) px the homography was fitted to (an
    #                               ArUco marker's corners), each off by about mm_per_px_uncertainty /
    #                               mm_per_px x their spread: how uncertain the scale is far from them

    @property
    def found(self) -> bool:
        return self.mm_per_px is not None


@dataclass(frozen=True)
class Candidate:
    """One segmented spot before measurement: its outline and a full-resolution mask crop.

    `mask` is a bool array of the bbox region (x0, y0, w, h) in full-resolution pixels.
    """

    bbox: tuple[int, int, int, int]
    mask: np.ndarray = field(repr=False, compare=False)
    contrast: float = 0.0  # blood-index contrast of the spot against its local skin
    texture_snr: float | None = None  # contrast over the skin's own texture at the spot's scale (None: not judged)


@dataclass(frozen=True)
class Spot:
    """One measured (and later labelled) spot. Sizes in mm are None when no scale was found."""

    spot_id: int
    x: float  # centroid, px of the image as stored (EXIF orientation applied)
    y: float
    bbox: tuple[int, int, int, int]  # x0, y0, w, h in px
    area_px: float
    diameter_px: float  # max Feret in image pixels
    diameter_mm: float | None = None  # max Feret on the skin plane
    eq_diameter_mm: float | None = None
    area_mm2: float | None = None
    minor_mm: float | None = None  # min Feret on the skin plane
    diameter_uncertainty_mm: float | None = None
    lab: tuple[float, float, float] = (0.0, 0.0, 0.0)  # mean CIELAB of the spot (L 0-100)
    skin_lab: tuple[float, float, float] = (0.0, 0.0, 0.0)  # mean CIELAB of surrounding skin
    contour: tuple[tuple[float, float], ...] = field(default=(), repr=False)
    cnn_label: str | None = None
    cnn_prob: float | None = None
    cnn_probs: tuple[float, ...] | None = None
    size_class: str | None = None
    label: str | None = None
    flags: tuple[str, ...] = ()
    texture_snr: float | None = None  # Candidate.texture_snr
    # max Feret as the spot looks, without the photo's own blur undone (only the segmenter's smoothing):
    # what a spot too small to be one is judged by where no scale gives a smallest size (None: as diameter_px)
    seen_diameter_px: float | None = None


@dataclass(frozen=True)
class PhotoResult:
    """Everything spotscale found in one photo."""

    path: str
    width: int
    height: int
    scale: Scale
    spots: tuple[Spot, ...]
    skin_area_cm2: float | None = None
    skin_area_px: float = 0.0
    summary: dict = field(default_factory=dict)  # per-photo rule results (counts, densities...)
    timings: dict = field(default_factory=dict)  # seconds per stage
    notes: tuple[str, ...] = (DISCLAIMER,)
