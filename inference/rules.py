"""The rule layer: size classes from published thresholds, the CNN/size combination, per-photo figures.

Threshold schemes (diameter = max Feret on the skin plane, mm). Every band states its inclusivity;
a size that falls outside every band of a scheme (a gap in its definitions) is `borderline`,
never silently forced into a neighbouring class.

- `default`: petechia d < 2.0; borderline 2.0 <= d < 4.0; purpura 4.0 <= d <= 10.0;
  ecchymosis d > 10.0. Source: the default scheme of the spotscale brief (the common teaching
  split petechiae < 2 mm / ecchymoses > 1 cm; not verified against one primary reference, hence
  cited as the brief's).
- `medlineplus`: petechia d < 4.0; purpura 4.0 <= d <= 10.0; ecchymosis d > 10.0. Source: MedlinePlus
  Medical Encyclopedia, "Purpura" (purpura spots 4-10 mm; < 4 mm petechiae; > 1 cm ecchymoses),
  see also "Bleeding into the skin".
- `itp-bat`: petechia 0.5 <= d <= 3.0; ecchymosis d > 3.0; d < 0.5 borderline. Source: ISTH ITP
  Bleeding Assessment Tool (Rodeghiero et al., Blood 2013;121:2596) for the petechia range
  0.5-3 mm. ITP-BAT has no purpura class and grades ecchymoses (bruises) by number and by
  palm-sized area, not by a minimum diameter; reading "larger than a petechia" as d > 3 mm is
  spotscale's mapping (stated in the output), so this scheme never yields `purpura`. Spots under
  0.5 mm are outside its petechia definition and are `borderline`.
- a user's own scheme from a TOML or JSON file: `name`, `source` and a list `bands` of
  {label, min_mm (inclusive), max_mm (exclusive), optional max_inclusive = true}.
"""
from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spotscale.data.errors import ConfigError
from spotscale.data.types import CNN_CLASSES, DISCLAIMER, FINAL_LABELS, Scale, Spot

SIZE_LABELS: tuple[str, ...] = ("petechia", "purpura", "ecchymosis", "borderline")
TOURNIQUET_AREA_CM2 = 6.25  # 2.5 cm x 2.5 cm, the tourniquet (Rumpel-Leede) test area
TOURNIQUET_SIDE_MM = 25.0
LARGE_BRUISE_MM = 30.0  # "bruises > 3 cm" of the ITP bleeding grades
# Spots narrower than RESOLVED_PX are found and sized less reliably: bench_measure's held-out photos
# (20261125.., at 224e424) found 49 % of those under 3 px, 86 % at 3-6 px, 95 % at 6-12 px and
# 98.7 % above; its mean size error under 4 mm was 1.6 mm under 3 px and 0.05 mm from 12 px.
RESOLVED_PX = 6.0
RESOLUTION_NOTE_FROM_MM = 1.0  # a photo is noted as coarse when spots this size are narrower than that
RESOLUTION_NOTE = ("Resolution: {mm_per_px:.2f} mm per px, so spots under {limit_mm:.1f} mm are under {px:.0f} px "
                   "across. Spots that narrow are missed more often (in benchmark photos 1 in 7 of those 3-6 px "
                   "across, half of those under 3 px) and sized to a pixel or two: counts of small petechiae "
                   "from this photo are a lower bound. Photograph closer ({fine:.2f} mm per px or finer) to "
                   "count petechiae of {size:g} mm.")
NO_SKIN_NOTE = ("No skin found: no part of the photo has the hue and saturation of skin, so no spots were "
                "looked for. Zero spots here is not a finding.")


@dataclass(frozen=True)
class Band:
    """One size band: label for min_mm <= d < max_mm (inclusivity of each end stated)."""

    label: str
    min_mm: float
    max_mm: float
    min_inclusive: bool = True
    max_inclusive: bool = False

    def contains(self, d_mm: float) -> bool:
        """Whether a diameter falls in this band."""
        above = d_mm >= self.min_mm if self.min_inclusive else d_mm > self.min_mm
        below = d_mm <= self.max_mm if self.max_inclusive else d_mm < self.max_mm
        return above and below

    def describe(self) -> str:
        """The band as a formula, e.g. '4 <= d <= 10 mm: purpura'."""
        lo = "" if self.min_mm <= 0 else f"{self.min_mm:g} {'<=' if self.min_inclusive else '<'} "
        hi = "" if math.isinf(self.max_mm) else f" {'<=' if self.max_inclusive else '<'} {self.max_mm:g}"
        return f"{lo}d{hi} mm: {self.label}"


@dataclass(frozen=True)
class Scheme:
    """A named threshold scheme with its source; sizes outside every band are borderline."""

    name: str
    source: str
    bands: tuple[Band, ...]
    note: str = ""

    def thresholds_mm(self) -> tuple[float, ...]:
        """The finite band edges (where a size label may change), sorted."""
        edges = {b.min_mm for b in self.bands if b.min_mm > 0} | {
            b.max_mm for b in self.bands if math.isfinite(b.max_mm)}
        return tuple(sorted(edges))

    def describe(self) -> dict:
        """Name, source, bands as formulas and the note, for result.json and summaries."""
        return {"name": self.name, "source": self.source,
                "bands": [b.describe() for b in self.bands], "note": self.note}


INF = math.inf
SCHEMES: dict[str, Scheme] = {
    "default": Scheme(
        "default",
        "common clinical teaching: petechiae < 2 mm, purpura 4-10 mm, ecchymoses > 1 cm, 2-4 mm left "
        "undefined; not verified against one primary reference",
        (Band("petechia", 0.0, 2.0), Band("borderline", 2.0, 4.0),
         Band("purpura", 4.0, 10.0, max_inclusive=True),
         Band("ecchymosis", 10.0, INF, min_inclusive=False)),
        "2-4 mm is borderline between petechia and purpura."),
    "medlineplus": Scheme(
        "medlineplus",
        "MedlinePlus Medical Encyclopedia, 'Purpura' (4-10 mm purpura, < 4 mm petechiae, "
        "> 1 cm ecchymoses); see also 'Bleeding into the skin'",
        (Band("petechia", 0.0, 4.0), Band("purpura", 4.0, 10.0, max_inclusive=True),
         Band("ecchymosis", 10.0, INF, min_inclusive=False)),
        ""),
    "itp-bat": Scheme(
        "itp-bat",
        "ISTH ITP Bleeding Assessment Tool, Rodeghiero et al., Blood 2013;121(14):2596-2606 "
        "(petechiae 0.5-3 mm); ecchymosis > 3 mm is spotscale's reading of 'larger than a petechia'",
        (Band("borderline", 0.0, 0.5), Band("petechia", 0.5, 3.0, max_inclusive=True),
         Band("ecchymosis", 3.0, INF, min_inclusive=False)),
        "ITP-BAT has no purpura class and no minimum ecchymosis diameter: every spot larger than "
        "3 mm is labelled ecchymosis here; spots under 0.5 mm are outside its petechia definition "
        "and labelled borderline."),
}


def scheme_names() -> tuple[str, ...]:
    """The built-in scheme names."""
    return tuple(SCHEMES)


def get_scheme(scheme: str | Scheme | None = None, scheme_file: str | Path | None = None) -> Scheme:
    """A Scheme from a name, a file (TOML/JSON) or a Scheme; the file wins over the name."""
    if scheme_file is not None:
        return load_scheme_file(scheme_file)
    if isinstance(scheme, Scheme):
        return scheme
    name = scheme or "default"
    if name not in SCHEMES:
        raise ConfigError(f"unknown threshold scheme {name!r}; choose one of {', '.join(SCHEMES)} "
                          "or give --scheme-file")
    return SCHEMES[name]


def load_scheme_file(path: str | Path) -> Scheme:
    """A user's scheme from TOML or JSON: name, source, bands [{label, min_mm, max_mm}]."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        data = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read scheme file ({e.__class__.__name__}: {e})") from None
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{p}: not valid {'JSON' if p.suffix.lower() == '.json' else 'TOML'}: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("bands"), list) or not data["bands"]:
        raise ConfigError(f"{p}: a scheme needs a non-empty list 'bands'")
    bands = _exclusive_after_inclusive(tuple(_band_from(p, i, b) for i, b in enumerate(data["bands"])))
    _check_overlap(p, bands)
    source = str(data.get("source") or "").strip()
    if not source:
        raise ConfigError(f"{p}: a scheme must cite its 'source'")
    return Scheme(str(data.get("name") or p.stem), source, bands, str(data.get("note", "")))


def _band_from(p: Path, i: int, b: object) -> Band:
    if not isinstance(b, dict):
        raise ConfigError(f"{p}: band {i + 1} is not a table/object")
    label = b.get("label")
    if label not in SIZE_LABELS:
        raise ConfigError(f"{p}: band {i + 1} label {label!r} is not one of {', '.join(SIZE_LABELS)}")
    try:
        lo = float(b.get("min_mm", 0.0))
        hi = float(b.get("max_mm", INF))
    except (TypeError, ValueError):
        raise ConfigError(f"{p}: band {i + 1} min_mm/max_mm must be numbers") from None
    if not (math.isfinite(lo) and lo >= 0 and hi > lo):
        raise ConfigError(f"{p}: band {i + 1} needs 0 <= min_mm < max_mm (got {lo}, {hi})")
    return Band(label, lo, hi, True, bool(b.get("max_inclusive", False)))


def _exclusive_after_inclusive(bands: tuple[Band, ...]) -> tuple[Band, ...]:
    """A band starting where an upper-inclusive band ends starts exclusively (no double claim)."""
    closed = {b.max_mm for b in bands if b.max_inclusive}
    return tuple(dataclasses.replace(b, min_inclusive=False) if b.min_mm in closed else b for b in bands)


def _check_overlap(p: Path, bands: tuple[Band, ...]) -> None:
    ordered = sorted(bands, key=lambda b: b.min_mm)
    for a, b in zip(ordered, ordered[1:]):
        if b.min_mm < a.max_mm or (b.min_mm == a.max_mm and a.max_inclusive and b.min_inclusive):
            raise ConfigError(f"{p}: bands {a.describe()!r} and {b.describe()!r} overlap")


def size_class(d_mm: float, scheme: str | Scheme = "default") -> str:
    """The size label of a diameter (mm) under a scheme; outside every band -> borderline."""
    s = get_scheme(scheme)
    if d_mm is None or not math.isfinite(d_mm) or d_mm < 0:
        raise ConfigError(f"size_class: diameter {d_mm!r} mm is not a non-negative number")
    for band in s.bands:
        if band.contains(d_mm):
            return band.label
    return "borderline"


def _near_thresholds(d_mm: float, u_mm: float | None, scheme: Scheme) -> list[str]:
    """near_threshold flags for every edge inside [d - u, d + u] where the label really changes."""
    if not u_mm or u_mm <= 0:
        return []
    here = size_class(d_mm, scheme)
    flags = []
    for t in scheme.thresholds_mm():
        if d_mm - u_mm <= t <= d_mm + u_mm:
            lo, hi = max(d_mm - u_mm, 0.0), d_mm + u_mm
            if size_class(lo, scheme) != here or size_class(hi, scheme) != here:
                flags.append(f"near_threshold:{t:g}mm")
    return flags


def _disagrees(cnn: str, size: str) -> bool:
    """CNN petechia vs a larger size class, or CNN purpura vs a petechia-sized spot."""
    return (cnn == "petechia" and size in ("purpura", "ecchymosis")) or (
        cnn == "purpura" and size == "petechia")


# A spot whose colour moves from its skin's towards yellow-brown (CIELAB hue of (da*, db*) above this)
# looks like melanin (a freckle, a naevus) or old haemosiderin, not fresh blood (red-purple: -40..+20
# deg). When the CNN was far from sure (below MELANIN_OTHER_BELOW_PROB) it is labelled other; when it
# was fairly sure it keeps its label (old brown petechiae exist) and is flagged for review.
# Measured with the relabel at 0.7: on the independent renderer's 48 photos it took 36 spots, all
# freckles, moles or nothing (haemorrhagic precision 0.943 -> 0.969, label accuracy 0.942 -> 0.959);
# on bench_rules' 40 photos (seeds 71000..) about half of those it takes are real, our generator's
# brown haemosiderin petechiae (precision 96.4 -> 96.7 %, label accuracy 92.4 % both).
MELANIN_HUE_DEG = 45.0
MELANIN_FLAG_BELOW_PROB = 0.9
MELANIN_OTHER_BELOW_PROB = 0.7

# Without a scale the CNN judges a spot by its look in a field a few times its own size, so a
# petechia's size does not show, and in close-ups it called the larger petechiae of a cluster purpura
# (dev photos read without a scale: 76 of 504 petechiae of the independent renderer, 47 of 366 of
# the clinic renderer). The photo's own petechiae are then the size reference: where the CNN calls
# RELATIVE_MIN_PETECHIAE or more spots petechiae, and no fewer than it calls purpura, a spot it
# calls purpura that is at most RELATIVE_MAX_X times their median diameter (px) is a petechia.
RELATIVE_MIN_PETECHIAE = 5
RELATIVE_MAX_X = 2.0


def colour_shift_hue_deg(spot: Spot) -> float | None:
    """CIELAB hue angle (deg, -180..180) of the spot's colour minus its surrounding skin's; None if unknown."""
    if spot.lab is None or spot.skin_lab is None:
        return None
    da, db = spot.lab[1] - spot.skin_lab[1], spot.lab[2] - spot.skin_lab[2]
    if da == 0 and db == 0:
        return None
    return math.degrees(math.atan2(db, da))


def label_spot(spot: Spot, scheme: Scheme, has_scale: bool, other_confidence: float = 0.6,
               petechia_px: float | None = None) -> Spot:
    """One spot's size class, final label and flags (see apply_rules).

    `petechia_px`: without a scale, the median diameter (px) of the photo's CNN petechiae when they
    can serve as its size reference (_petechia_reference), else None."""
    flags = list(spot.flags)
    d = spot.diameter_mm if has_scale else None
    size = size_class(d, scheme) if d is not None else None
    cnn, prob = spot.cnn_label, spot.cnn_prob
    if cnn is not None and cnn not in CNN_CLASSES:
        raise ConfigError(f"spot {spot.spot_id}: CNN label {cnn!r} is not one of {CNN_CLASSES}")
    if cnn == "other" and prob is not None and prob >= other_confidence:
        label = "other"
    elif size is not None:
        label = size
        if cnn is None:
            flags.append("no_model:label_from_size")
        elif cnn == "other":
            flags.append("cnn_uncertain_other")
        elif _disagrees(cnn, size):
            flags.append(f"cnn_size_disagree:cnn={cnn},size={size}")
    elif cnn is not None:
        label = cnn
        flags.append("no_scale:label_from_cnn")
        if cnn == "purpura" and petechia_px and spot.diameter_px <= RELATIVE_MAX_X * petechia_px:
            label = "petechia"
            flags.append(f"no_scale:petechia_by_relative_size:{spot.diameter_px / petechia_px:.1f}x_median")
        if cnn == "other":
            flags.append("cnn_uncertain_other")
    else:
        label = "borderline"
        flags.append("no_scale_no_model:unlabelled")
    if label != "other" and (prob is None or prob < MELANIN_FLAG_BELOW_PROB):
        hue = colour_shift_hue_deg(spot)
        if hue is not None and hue > MELANIN_HUE_DEG:
            flags.append(f"colour_like_melanin:hue={hue:.0f}deg")
            if cnn is not None and prob is not None and prob < MELANIN_OTHER_BELOW_PROB:
                flags.append(f"melanin_colour_and_cnn_unsure:was={label}")
                label = "other"
    if d is not None and label != "other":
        flags.extend(_near_thresholds(d, spot.diameter_uncertainty_mm, scheme))
    assert label in FINAL_LABELS
    return dataclasses.replace(spot, size_class=size, label=label, flags=tuple(dict.fromkeys(flags)))


def apply_rules(spots: list[Spot] | tuple[Spot, ...], scheme: str | Scheme = "default",
                has_scale: bool = True, other_confidence: float = 0.6) -> list[Spot]:
    """Final labels: confident CNN `other` stays other; else the size class decides, flagged.

    Flags: `cnn_size_disagree:cnn=..,size=..`, `near_threshold:<t>mm` (the size +/- its
    uncertainty straddles a threshold), `cnn_uncertain_other` (CNN said other below
    `other_confidence`), `no_scale:label_from_cnn` (no scale: the CNN decides),
    `no_model:label_from_size` (no CNN: the size alone decides), `colour_like_melanin:hue=..deg`
    (brown-yellow rather than red-purple against its skin, and the CNN below 0.9 sure: check it),
    `melanin_colour_and_cnn_unsure:was=..` (that, and the CNN below 0.7 sure: labelled other),
    `no_scale:petechia_by_relative_size:..x_median` (no scale: called purpura by the CNN, but no
    larger than RELATIVE_MAX_X x the median of the photo's CNN petechiae, RELATIVE_MIN_PETECHIAE or more).
    """
    s = get_scheme(scheme)
    if not 0.0 <= other_confidence <= 1.0:
        raise ConfigError(f"other_confidence {other_confidence} must be within 0..1")
    ref = None if has_scale else _petechia_reference(spots)
    return [label_spot(sp, s, has_scale, other_confidence, ref) for sp in spots]


def _petechia_reference(spots: list[Spot] | tuple[Spot, ...]) -> float | None:
    """Median diameter (px) of the spots the CNN calls petechiae, when there are RELATIVE_MIN_PETECHIAE
    or more of them and no fewer than it calls purpura; else None."""
    pet = [sp.diameter_px for sp in spots if sp.cnn_label == "petechia" and sp.diameter_px > 0]
    n_pur = sum(sp.cnn_label == "purpura" for sp in spots)
    if len(pet) < RELATIVE_MIN_PETECHIAE or len(pet) < n_pur:
        return None
    return float(np.median(pet))


# ----------------------------------------------------------------------------- per photo


def _plane_transform(scale: Scale) -> np.ndarray:
    """3x3 matrix from image px (x, y, 1) to skin-plane mm."""
    if scale.homography is not None:
        return np.asarray(scale.homography, dtype=np.float64).reshape(3, 3)
    m = float(scale.mm_per_px)
    return np.diag([m, m, 1.0])


def _to_plane(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    q = np.c_[pts, np.ones(len(pts))] @ h.T
    return q[:, :2] / q[:, 2:3]


def densest_window(points_px: np.ndarray, scale: Scale, skin_mask: np.ndarray | None = None,
                   mask_scale: float = 1.0, side_mm: float = TOURNIQUET_SIDE_MM,
                   min_skin_fraction: float = 0.5) -> dict:
    """Most points in any side_mm x side_mm square of the skin plane (axis-aligned, ~1 mm steps).

    `skin_mask` (bool, mask px = image px * mask_scale) restricts windows to those at least
    `min_skin_fraction` on skin (if none qualifies, any window touching skin). Returns count,
    window centre in image px and its skin fraction.
    """
    empty = {"count": 0, "center_px": None, "skin_fraction": None}
    if not scale.found:
        return empty
    h = _plane_transform(scale)
    corners = None
    if skin_mask is not None:
        mh, mw = skin_mask.shape[:2]
        corners = np.array([[0, 0], [mw, 0], [mw, mh], [0, mh]], float) / mask_scale
    elif len(points_px):
        corners = np.asarray(points_px, float)
    if corners is None:
        return empty
    plane = _to_plane(h, corners)
    lo = plane.min(0) - side_mm
    extent = plane.max(0) + side_mm - lo
    cell = max(side_mm / 25.0, float(extent.max()) / 3000.0)  # <= 3000 cells a side
    gw, gh = (np.ceil(extent / cell).astype(int) + 1)
    to_grid = np.array([[1 / cell, 0, -lo[0] / cell], [0, 1 / cell, -lo[1] / cell], [0, 0, 1]]) @ h
    k = max(1, int(round(side_mm / cell)))
    counts = np.zeros((gh, gw), np.float64)
    if len(points_px):
        g = np.floor(_to_plane(to_grid, np.asarray(points_px, float))).astype(int)
        ok = (g[:, 0] >= 0) & (g[:, 0] < gw) & (g[:, 1] >= 0) & (g[:, 1] < gh)
        np.add.at(counts, (g[ok, 1], g[ok, 0]), 1.0)
    sums = _window_sums(counts, k)
    frac = None
    if skin_mask is not None:
        import cv2
        m_to_grid = to_grid @ np.diag([1 / mask_scale, 1 / mask_scale, 1.0])
        # pixel centres: mask px (i + 0.5) covers image (i + 0.5) / mask_scale
        warped = cv2.warpPerspective(skin_mask.astype(np.uint8), m_to_grid, (int(gw), int(gh)),
                                     flags=cv2.INTER_NEAREST)
        frac = _window_sums(warped.astype(np.float64), k) / float(k * k)
        valid = frac >= min_skin_fraction
        if not valid.any():
            valid = frac > 0
        if not valid.any():
            return empty
        sums = np.where(valid, sums, -1.0)
    score = sums if frac is None else sums + 1e-3 * frac  # ties: the window most on skin
    j, i = np.unravel_index(int(np.argmax(score)), score.shape)
    centre_grid = np.array([[i + k / 2.0, j + k / 2.0]])
    centre_px = _to_plane(np.linalg.inv(to_grid), centre_grid)[0]
    return {"count": int(max(sums[j, i], 0)), "center_px": (round(float(centre_px[0]), 1),
            round(float(centre_px[1]), 1)),
            "skin_fraction": None if frac is None else round(float(frac[j, i]), 3)}


def _window_sums(grid: np.ndarray, k: int) -> np.ndarray:
    """Sum of every k x k window (top-left at each valid cell) via an integral image."""
    ii = np.zeros((grid.shape[0] + 1, grid.shape[1] + 1))
    ii[1:, 1:] = grid.cumsum(0).cumsum(1)
    k = min(k, grid.shape[0], grid.shape[1])
    return ii[k:, k:] - ii[:-k, k:] - ii[k:, :-k] + ii[:-k, :-k]


def photo_summary(spots: list[Spot] | tuple[Spot, ...], scale: Scale, skin_area_cm2: float | None = None,
                  skin_mask: np.ndarray | None = None, mask_scale: float = 1.0,
                  scheme: str | Scheme = "default") -> dict:
    """Per-photo figures: counts per final label, petechiae per 6.25 cm2, densest window, big bruises,
    and the size from which spots are RESOLVED_PX px across or more (noted when the photo is coarse)."""
    s = get_scheme(scheme)
    counts = {label: 0 for label in FINAL_LABELS}
    for sp in spots:
        if sp.label in counts:
            counts[sp.label] += 1
    pet = [sp for sp in spots if sp.label == "petechia"]
    per = None
    if scale.found and skin_area_cm2 and skin_area_cm2 > 0:
        per = len(pet) * TOURNIQUET_AREA_CM2 / skin_area_cm2
    dense = densest_window(np.array([[sp.x, sp.y] for sp in pet], float).reshape(-1, 2), scale,
                           skin_mask, mask_scale)
    big = [{"spot_id": sp.spot_id, "diameter_mm": round(float(sp.diameter_mm), 2)}
           for sp in spots if sp.label in ("ecchymosis", "purpura", "borderline")
           and sp.diameter_mm is not None and sp.diameter_mm > LARGE_BRUISE_MM]
    notes = [DISCLAIMER]
    if skin_mask is not None and not skin_mask.any():
        notes.append(NO_SKIN_NOTE)
    if not scale.found:
        notes.append("No scale: sizes, densities and size classes are not available; labels come from "
                     f"the CNN, and a spot it calls purpura that is no larger than {RELATIVE_MAX_X:g} x the median "
                     f"of the photo's petechiae ({RELATIVE_MIN_PETECHIAE} or more) is labelled petechia.")
    resolved_mm = RESOLVED_PX * scale.mm_per_px if scale.found else None
    if resolved_mm is not None and resolved_mm > RESOLUTION_NOTE_FROM_MM:
        notes.append(RESOLUTION_NOTE.format(mm_per_px=scale.mm_per_px, limit_mm=resolved_mm, px=RESOLVED_PX,
                                            fine=RESOLUTION_NOTE_FROM_MM / RESOLVED_PX, size=RESOLUTION_NOTE_FROM_MM))
    return {
        "counts": counts,
        "n_spots": len(spots),
        "petechiae_per_6_25cm2": None if per is None else round(per, 3),
        "max_petechiae_6_25cm2": dense["count"] if scale.found else None,
        "densest_window_center_px": dense["center_px"],
        "densest_window_skin_fraction": dense["skin_fraction"],
        "skin_area_cm2": None if skin_area_cm2 is None else round(float(skin_area_cm2), 3),
        "bruises_over_3cm": len(big),
        "bruises_over_3cm_list": big,
        "scheme": s.name,
        "scheme_source": s.source,
        "scheme_bands": [b.describe() for b in s.bands],
        "scheme_note": s.note,
        "n_flagged": sum(1 for sp in spots if sp.flags),
        "resolved_from_mm": None if resolved_mm is None else round(resolved_mm, 3),
        "notes": notes,
    }
