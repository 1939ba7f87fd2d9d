"""Spot segmentation: skin mask, blood-contrast candidates on a reduced image, sub-pixel outlines at full res.

Coordinates are (x, y) pixels of the image as stored (EXIF orientation applied). Candidates are found
on a working image of about `work_max_side` pixels (cheap), in a blood index (log R/G) minus its own
local skin background, divided by the local noise, so the threshold is in signal-to-noise units and
neither lighting nor skin tone decides what is found. Each candidate is then re-segmented on a
full-resolution crop against its OWN contrast (half-way between its core and its surrounding skin),
on an upsampled crop, which gives its outline to a fraction of a pixel.
"""
from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from scipy.spatial import cKDTree

from spotscale.data.types import Candidate
from spotscale.data.synth_skin import linear_to_srgb
from spotscale.inference.colour import OD_EPS, optical_density, pigment_index, purple_index, to_lab
from spotscale.inference.captions import text_lines
from spotscale.inference.split import (contrast_peaks, deep_valley, flood, group_by_valleys, path_minima, spot_blobs,
                                       union_along_paths)


@dataclass
class SegmentConfig:
    """Knobs of the segmentation; defaults are meant to work on any ordinary skin photo."""

    work_max_side: int = 1000  # candidates are found on a reduced image of about this size
    min_diameter_mm: float = 0.3  # smaller spots are dropped (when the scale is known)
    min_work_px_per_min_spot: float = 1.2  # the work image is kept fine enough for min_diameter_mm
    max_work_side: int = 2000  # ...but never larger than this (speed)
    nominal_field_mm: float = 150.0  # without a scale, the photo's long side is taken to span this many mm
    #                                  for the size priors (split limits, bruise size, hair gaps; 0: px
    #                                  fallbacks); no size is measured with it
    high_snr: float = 7.0  # hysteresis: a candidate must reach this signal-to-noise somewhere (the noise is
    #                        a mean absolute deviation, but grain and skin texture are heavier-tailed: at 6
    #                        noise specks of small web JPEGs passed; 6 -> 7 on dev photos, see benchmarks/known_limits.md)
    low_snr: float = 3.0  # ...and extends over pixels above this
    min_contrast: float = 0.05  # minimum pigment-index contrast (optical density) of a spot's core
    noise_floor: float = 0.01  # lower bound of the local noise (optical density): flat images
    max_elongation: float = 4.0  # longer-than-wide components (hair, creases, scratches) are rejected
    max_lobe_elongation: float = 2.0  # ...but their strong cores this round are kept (spots on a flushed strip)
    core_bridge_px: int = 2  # ...also when a hair cuts a core in two: pieces this close (working px) are one
    max_thinness: float = 4.0  # ...and outlines longer than this x their widest inscribed circle
    max_bright_rim: float = 0.2  # ...and those with more of their rim on a bright overlay (text; _bright_rim)
    pale_snr: float = 6.0  # ...on which the SNR is below minus this (far less red than the skin)
    clear_spot_snr: float = 48.0  # ...but half of it for a spot this clear (peak SNR): a petechia beside a letter
    clear_spot_contrast: float = 0.5  # ...or this contrasted (blood index over the skin, optical density)
    wide_spot_px: float = 16.0  # ...or half as clear and this wide (inscribed, working px): a purpura under a word;
    #                             between the two, SNR x width at least as at that corner (a clearer, narrower piece)
    overlay_green_od: float = 0.2  # pixels whose green is this much lighter (optical density) than the skin
    #                                round them are a coloured overlay, never blood (_overlay; 0: not looked for)
    find_text: bool = False  # rows of dark red letters drawn over the photo are an overlay too (captions.text_lines);
    #                          off by default: on held-out photos it also took a scribbled scratch and pen arcs
    #                          for words (bench_rules one spot fewer, bench_pen 14 of 1003 fewer)
    background_sigma_frac: float = 0.04  # local skin background: gaussian sigma, fraction of the long side
    narrow_background_mm: float = 1.2  # second, narrow background for small spots (sigma, mm)
    peak_percentile: float = 50.0  # a spot's maximum contrast: this percentile of its smoothed core
    core_climb: float = 1.25  # a core whose region above 0.75 x its peak climbs to this x that peak lay on
    #                           a flank: the spot is outlined from its top instead (_climbed_core; 0: never)
    camera_blur_px: float = 0.0  # gaussian sigma of the photo's own blur (full px), e.g. measured at the
    #                              marker (Scale.blur_px): the outlines of spots a few sigma wide are deblurred by it
    small_spot_px: float = 12.0  # ...but the core's maximum for spots narrower than this (full px): a
    #                              core of a few px is mostly shoulder, and its median drew the outline wide
    half_level: float = 0.5  # outline at this fraction between skin background and spot core
    split_dip_frac: float = 0.25  # spots of a cluster: split where the contrast dips this x the lower peak
    split_noise_k: float = 2.5  # ...and by this many noise sigmas
    flood_level: float = 0.2  # the region split among a cluster's spots: above this x the spot's peak
    max_valley_split_mm: float = 3.0  # ...only into spots up to this size (larger: one blotchy spot)
    min_peak_frac: float = 0.35  # a neighbour's peak must reach this x the candidate's peak to be split off
    blob_min_response: float = 0.4  # ...and spots merged without a valley are split at their own blobs
    #                                 (split.spot_blobs; 0: never), whose response reaches this x their contrast
    blob_noise_k: float = 1.25  # ...and this many noise sigmas
    blob_peak_min_response: float = 0.3  # ...or this x their contrast at a contrast peak (a petechia in a
    #                                      darker neighbour's -LoG ring; split.spot_blobs; 0: as elsewhere)
    blob_dip_frac: float = 0.08  # ...where the contrast dips by this x the paler blob between them (or from
    #                              a peak without a blob to every blob's peak: a spot between others)
    shoulder_max_level: float = 0.8  # ...a blob without a peak (a pale spot on a dark one's flank) when at
    #                                  most this x its neighbour's peak
    rescue_frac: float = 0.5  # an SNR maximum of a seed that no outline covers is refined on its own seed
    #                           (its px above this x its SNR): a pale spot that shared a darker one's seed
    rescue_max_elongation: float = 1.6  # ...and kept when round: at most this elongated (_rescue; 0: never)
    rescue_min_solidity: float = 0.8  # ...and at least this solid
    swallow_contrast: float = 1.5  # a pale spot's outline holding a spot this x as contrasted keeps only its
    #                                own part: it was drawn at a level the dark one's flank reaches (0: never)
    merge_cover: float = 0.75  # an outline holding smaller spots outlined apart elsewhere, which fill this x
    #                            its area, is their merge (_unmerge; 0: never)
    dot_contrast: float = 1.5  # a seed inside a spot 16x its size is a dot on it (a petechia on a bruise) when
    #                            its own contrast is this x the spot's (_dot_on decides too; 0: never looked at)
    appendage_frac: float = 0.35  # parts of a spot thinner than ~2x this x its inscribed radius are cut off
    strip_frac: float = 0.8  # ...and, from a spot reaching its crop's edge, those thinner than ~2x this x (0: never)
    strip_keep: float = 0.3  # ...when what is left no longer reaches it and is at least this x the spot
    split_neck_ratio: float = 0.7  # touching spots split where the neck is narrower than this x radius
    max_split_radius_mm: float = 2.5  # only petechia-sized lobes are split apart
    min_bruise_mm: float = 5.0  # purple-blue (bruise) regions, not red enough for the blood index, from this size
    od_from_px: float = 16.0  # spots larger than this (full px) move to optical-density contrast
    reduce_above_px: float = 64.0  # spots k x this many full px wide are outlined on a crop reduced k x
    smooth_frac: float = 0.02  # outline smoothing (gaussian sigma) as a fraction of the spot size
    outline_min_wavelength_px: float = 4.0  # outline wiggles shorter than this (full px) are noise: smoothed
    min_green_excess: float = 0.07  # blood and melanin absorb green more than red; inks need not
    green_excess_full_px: float = 16.0  # ...asked in full of seeds this wide (full px), half of those half as wide
    min_darkening: float = 0.3  # ...and darken: luminance OD lost per unit of green excess (chroma halos do not)
    crop_upsample_px: int = 48  # a spot's crop is upsampled until it is about this many px across
    max_upsample: int = 8
    max_regrow: int = 4  # a lone seed's spot reaching its crop's edge is outlined again from that
    #                      outline while it grows, up to this many times (_regrown; 0: never)
    hair_width_mm: float = 0.15  # pieces of one spot a hair's width apart are joined across it (_join_across_hairs)
    hair_rim_px: float = 3.0  # ...plus the pieces' rims lost beside it (full px)
    hair_gap_px: tuple[int, int] = (4, 12)  # ...that gap in full px, clipped to this range (5 px without a scale)
    hair_contrast: float = 0.3  # ...when the gap is darker than the pieces, or lighter than the skin, by this x their contrast
    hair_double_gap: bool = True  # ...and across twice that gap when such a hair is seen going on past them (two
    #                               hairs crossing in a shallow X, the sliver between them dropped)
    fill_hairs: bool = True  # dark hairs across a spot are filled in its contrast map from the spot around them
    # (_hairs_filled), so a purpura under several hairs is outlined whole, not in hair-bounded pieces
    hair_fill_support: float = 0.7  # ...where at least this share of the pixels round the hair is spot
    # (along half the stretch of hair on the spot at least)
    min_joined_solidity: float = 0.8  # ...and the pieces with the gap fill this much of their convex hull
    max_joined_aspect: float = 2.0  # ...which is at most this much longer than wide
    min_piece_contrast_ratio: float = 0.5  # ...and the paler piece darkens the skin by this x the darker one at least
    min_piece_area_ratio: float = 0.1  # ...and the smaller piece has this x the larger one's area at least
    min_piece_gaps: float = 1.5  # ...and is this many times as wide (equal-area diameter) as the gap between
    min_piece_gap_px: float = 3.0  # ...the pieces, taken as this at least (full px; a hair under a px wide halved a 10 px spot)
    min_cut_elongation: float = 1.2  # ...and one piece is this elongated at least (_elongation: a disc 1, a half disc 1.9)
    min_clear_cut_elongation: float = 1.5  # ...a thin hair greyed in the gap: only a clear half or cap
    max_cut_union_elongation: float = 1.4  # ...that with the other piece and the gap makes a round spot


@dataclass(frozen=True)
class RefinedCandidate(Candidate):
    """A Candidate with its sub-pixel outline and the edge softness found while segmenting it."""

    contour: tuple[tuple[float, float], ...] = field(default=(), repr=False, compare=False)
    area_px: float = 0.0  # area inside the sub-pixel outline, full-res px
    edge_width_px: float = 0.0  # width of the 25 %-75 % contrast transition, full-res px
    size_gain: float = 1.0  # px the diameter moves per px of its half-maximum width: over 1 where a
    #                         small spot's blur is undone (_deblur_gain), so its error is that much larger
    seen_area_px: float = 0.0  # area_px without the photo's own blur undone (only ours), full-res px


@dataclass(frozen=True)
class Segmentation:
    """What segment() found in one photo."""

    candidates: tuple[Candidate, ...]  # full-resolution px (bbox + bool mask crop)
    skin_mask: np.ndarray = field(repr=False)  # bool, at the reduced working size
    skin_area_px: float = 0.0  # in full-res px (exclusions removed)
    work_scale: float = 1.0  # full-res px per working px
    debug: dict = field(default_factory=dict, repr=False)  # name -> image, only with debug_dir


def segment(image_rgb: np.ndarray, exclude: np.ndarray | None = None, mm_per_px: float | None = None,
            config: SegmentConfig | None = None, reduced: np.ndarray | None = None,
            debug_dir: str | Path | None = None, white_from: np.ndarray | None = None) -> Segmentation:
    """Find the candidate spots of an RGB uint8 photo.

    `exclude`: bool mask (full-res or working-size) of regions that are never spots (the reference).
    `reduced`: the same photo decoded at a reduced size (e.g. libjpeg 1/4), used as the working image.
    `white_from`: bool mask (full-res or working-size) of where a white reference lies (an ArUco
    marker's paper), from which a colour cast that hides the skin is undone for the skin search.
    """
    cfg = config or SegmentConfig()
    h, w = image_rgb.shape[:2]
    work = _working_image(image_rgb, reduced, mm_per_px, cfg)
    work_scale = w / work.shape[1]
    ex_work = _resize_mask(exclude, work.shape[:2]) if exclude is not None else None
    white_work = ex_work if white_from is exclude else white_from  # the pipeline passes the reference itself
    skin_px, skin = _skin_masks(work, white_work, ignore=ex_work)
    if ex_work is not None:
        skin &= ~ex_work
        skin_px &= ~ex_work
    prior = _prior_mm_per_px(mm_per_px, (h, w), cfg)
    snr, resid, bruise, res_blood = _snr_map(work, skin_px, prior * work_scale if prior else None, cfg, region=skin)
    overlay = _overlay(work, skin_px, skin, snr, cfg) if cfg.overlay_green_od > 0 else None
    if cfg.find_text:  # lines of letters drawn over the photo (red ones pass every colour test)
        text = text_lines(snr, skin, cfg.low_snr, cv2.cvtColor(work, cv2.COLOR_RGB2GRAY), 2.0 * cfg.high_snr)
        overlay = text if overlay is None else overlay | text
    if overlay is not None and overlay.any():
        snr = np.where(overlay, np.minimum(snr, np.float32(0)), snr)
    else:
        overlay = None
    comps = _candidate_components(snr, resid, skin, ex_work, cfg, work, bruise, overlay)
    # per component, its largest lobe first: a spot is outlined from its main seed, its other lobes skipped
    comps = sorted(comps, key=lambda c: (c[4], -int(c[1].sum())))
    by_comp = [list(g) for _, g in itertools.groupby(comps, key=lambda c: c[4])]
    ring_ex = _RingExclusion(exclude if exclude is not None and exclude.shape[:2] == (h, w) else None,
                             ~skin if skin.mean() > 0.05 else None, work_scale, overlay)
    found = [co for lobes in by_comp for co in _refine_component(image_rgb, lobes, work_scale, prior, ring_ex, cfg)]
    found += _rescue(snr, comps, found, image_rgb, work_scale, prior, ring_ex, cfg)
    cands = _join_across_hairs(_one_per_spot(found, prior, cfg), image_rgb, prior, cfg)
    cands = _with_dark_centres(cands, image_rgb, _min_bruise_px(prior, (h, w), cfg), ring_ex)
    if mm_per_px:  # judged without the photo's blur undone: a spot deblurred below the limit is kept
        min_area = math.pi * (0.5 * cfg.min_diameter_mm / mm_per_px) ** 2 * 0.5
        cands = [c for c in cands if max(_area(c), getattr(c, "seen_area_px", 0.0)) >= min_area]
    cands = _with_texture_snr(cands, res_blood, work, skin_px, bruise, work_scale, cfg)
    debug: dict = {}
    if debug_dir is not None:
        debug = _debug_images(work, skin, snr, comps, debug_dir)
    skin_area = float(skin.sum()) * work_scale * (h / work.shape[0])
    return Segmentation(tuple(cands), skin, skin_area, work_scale, debug)


def _prior_mm_per_px(mm_per_px: float | None, shape: tuple[int, int], cfg: SegmentConfig) -> float | None:
    """The mm per px the size priors use: the photo's own, else the nominal field's (None: neither).

    Without it, a large blotchy bruise was cut at every mottle into dozens of "petechiae": how large a
    spot may be split apart has to be said in mm. A photo of skin spans a hand's width or so (67-400 mm
    on the long side in the generator's and both independent renderers' photos), so a nominal 150 mm
    puts these limits within about a factor of two of their place.
    """
    if mm_per_px:
        return mm_per_px
    return cfg.nominal_field_mm / max(shape) if cfg.nominal_field_mm > 0 else None


def _refine_component(image_rgb: np.ndarray, lobes: list, work_scale: float, mm_per_px: float | None,
                      exclude: _RingExclusion | None, cfg: SegmentConfig) -> list[tuple[Candidate, bool]]:
    """The spots (with whether each holds its seed's own peak) of one working-image component's lobes."""
    found: list[tuple[Candidate, bool]] = []
    own: list[Candidate] = []
    whole_empty = False  # the component's whole crop gave no spot
    whole: _Crop | None = None  # that crop, made once
    whole_seen = False  # ...and refined
    split_px = _max_split_area(mm_per_px, cfg)
    for box, mask, cbox, cmask, _cid, width, c_width in lobes:
        cx, cy = _seed_centre(box, mask, work_scale)
        holder = next((k for k in own if _inside(k, cx, cy)), None)
        if (holder is not None and cfg.dot_contrast > 0 and _area(holder) >= 16.0 * float(mask.sum()) * work_scale ** 2
                and _rough_contrast(image_rgb, box, work_scale) > 0.8 * cfg.dot_contrast * holder.contrast):
            # a seed of its own, small, inside a large spot outlined from another seed: a petechia on
            # a bruise when it stands out of the bruise more than the bruise does of the skin (first
            # judged roughly, as refining every mottle of a large spot costs)
            res, _, _ = _refine(image_rgb, box, mask, width, work_scale, mm_per_px, exclude, cfg)
            found.extend((c, True) for c, is_own in res if is_own and c.contrast > cfg.dot_contrast * holder.contrast)
            continue
        if holder is not None:
            if whole_seen or cbox == box or cfg.blob_min_response <= 0 or _area(holder) > split_px:
                continue  # a lobe of a spot already outlined from another seed of its component
            # a seed of its own inside a spot outlined on another seed's small crop: two touching
            # spots whose shared flank that crop cut off, so it could not tell them apart. The
            # component's crop holds them whole: its spots replace these when it finds more
            whole = whole or _crop(image_rgb, cbox, c_width, work_scale, exclude, cfg)
            res, _, _ = _refine(image_rgb, cbox, cmask, c_width, work_scale, mm_per_px, exclude, cfg, whole)
            whole_seen = True
            if len(res) > len(found):
                found, own = list(res), [c for c, is_own in res if is_own]
            continue
        # a lobe's own small crop first (cheap); the component's crop when the spot reaches its edge
        res, clipped, cut_only = _refine(image_rgb, box, mask, width, work_scale, mm_per_px, exclude, cfg)
        if clipped and cbox == box and cfg.max_regrow > 0:
            res = _regrown(image_rgb, res, box, work_scale, mm_per_px, exclude, cfg)
        elif clipped and cbox != box:
            if cut_only and (whole_empty or max(cbox[2], cbox[3]) > 2 * cfg.max_thinness * c_width):
                continue  # pieces of a line (a drawn pen line's lobes), or of a shape its whole crop rejects
            whole = whole or _crop(image_rgb, cbox, c_width, work_scale, exclude, cfg)
            res, _, _ = _refine(image_rgb, cbox, cmask, c_width, work_scale, mm_per_px, exclude, cfg, whole)
            whole_empty |= not res
            whole_seen = True
        found.extend(res)
        own.extend(c for c, is_own in res if is_own)
    return found


def _regrown(image_rgb: np.ndarray, res: list[tuple[Candidate, bool]], box: tuple[int, int, int, int], ws: float,
             mm_per_px: float | None, exclude: _RingExclusion | None, cfg: SegmentConfig) -> list[tuple[Candidate, bool]]:
    """A seed's spots outlined again from the spot it found, until that spot stops growing.

    A seed far smaller than its spot (its SNR blob cut short by a dark neighbour's noise) is refined
    on a crop too small for the spot, with its skin ring partly on the spot: the outline came out
    as a corner of it, reaching the crop's edge. The outline found, taken to the working grid, is
    the next seed, whose crop and ring fit the spot better; again while the outline grows by more
    than a fifth, up to max_regrow times.
    """
    for _ in range(cfg.max_regrow):
        own = next((c for c, is_own in res if is_own), None)
        if own is None:
            return res
        nbox, nmask = _working_seed(own, ws)
        if nbox[2] * nbox[3] <= box[2] * box[3]:
            return res
        again, _, _ = _refine(image_rgb, nbox, nmask, _width(nmask), ws, mm_per_px, exclude, cfg)
        grown = next((c for c, is_own in again if is_own), None)
        if grown is None:
            return res
        res, box = again, nbox
        if _area(grown) < 1.2 * _area(own):
            break
    return res


def _working_seed(c: Candidate, ws: float) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """A full-res candidate's mask on the working grid: (box, bool mask), every working px it touches."""
    x0, y0, bw, bh = c.bbox
    X0, Y0 = int(x0 // ws), int(y0 // ws)
    X1, Y1 = max(X0 + 1, math.ceil((x0 + bw) / ws)), max(Y0 + 1, math.ceil((y0 + bh) / ws))
    small = cv2.resize(c.mask.view(np.uint8), (X1 - X0, Y1 - Y0), interpolation=cv2.INTER_AREA) > 0
    return (X0, Y0, X1 - X0, Y1 - Y0), small


def _rescue(snr: np.ndarray, comps: list, found: list[tuple[Candidate, bool]], image_rgb: np.ndarray, ws: float,
            mm_per_px: float | None, exclude: _RingExclusion | None, cfg: SegmentConfig) -> list[tuple[Candidate, bool]]:
    """Spots that shared a seed with a darker one: the seeds' SNR maxima that no outline covers,
    refined as seeds of their own.

    A seed is outlined from its core, the pixels near its highest contrast: a pale petechia whose SNR
    blob joined a darker neighbour's into one seed had no core of its own and was lost (the brown of
    an old petechia beside a fresh red one). Each local SNR maximum (3 x 3, at least high_snr; a
    plateau is one) of a seed that was partly outlined, lying more than a working px outside every
    outline found, is refined on its own seed: the seed's pixels above rescue_frac of its SNR that
    no outline covers. Only spots holding that seed's peak and round (_elongation at most
    rescue_max_elongation, _solidity at least rescue_min_solidity) are kept: the others were mostly
    flanks of large spots, hairs and letters.
    """
    if cfg.rescue_max_elongation <= 0 or not comps:
        return []
    covered = cv2.dilate(_covered(found, snr.shape, ws), np.ones((3, 3), np.uint8)) > 0
    out: list[tuple[Candidate, bool]] = []
    seen: set[tuple[int, int]] = set()
    for (x, y, bw, bh), mask, *_ in comps:
        cov = covered[y:y + bh, x:x + bw]
        free = mask & ~cov
        if not (mask & cov).any() or not free.any():
            continue  # nothing of this seed outlined (a hair, a flat field: no darker spot beside), or all of it
        s = np.where(mask, snr[y:y + bh, x:x + bw], 0).astype(np.float32)
        peaks = (s >= cv2.dilate(s, np.ones((3, 3), np.uint8))) & (s >= cfg.high_snr) & free
        _, plateaus = cv2.connectedComponents(peaks.view(np.uint8), connectivity=8)
        at = np.flatnonzero(plateaus)
        _, first = np.unique(plateaus.ravel()[at], return_index=True)
        for py, px in zip(*np.unravel_index(at[first], plateaus.shape)):  # one per maximum, a plateau too
            if (y + py, x + px) in seen:
                continue
            seen.add((y + py, x + px))
            _, lab = cv2.connectedComponents((free & (s >= cfg.rescue_frac * s[py, px])).view(np.uint8), connectivity=8)
            box, sub = _tight(x, y, lab == lab[py, px])
            res, _, _ = _refine(image_rgb, box, sub, _width(sub), ws, mm_per_px, exclude, cfg)
            out.extend((c, True) for c, own in res if own and _elongation(c.mask) <= cfg.rescue_max_elongation
                       and _solidity(c.mask) >= cfg.rescue_min_solidity)
    return out


def _covered(found: list[tuple[Candidate, bool]], shape: tuple[int, int], ws: float) -> np.ndarray:
    """Working-image px (uint8 0/1) that the outlines found cover at all."""
    covered = np.zeros(shape, np.uint8)
    for c, _ in found:
        (x, y, _, _), small = _working_seed(c, ws)
        _paste(covered, small.view(np.uint8), x, y)
    return covered


def _rough_contrast(image_rgb: np.ndarray, box: tuple[int, int, int, int], ws: float) -> float:
    """A seed's pigment-index contrast over its surroundings, roughly: the maximum in its full-res box
    less the median of a rim half the box wide round it (as _refine measures it, without the crop)."""
    H, W = image_rgb.shape[:2]
    x, y, bw, bh = (int(round(v * ws)) for v in box)
    g = max(3, max(bw, bh) // 2)
    x0, y0, x1, y1 = max(0, x - g), max(0, y - g), min(W, x + bw + g), min(H, y + bh + g)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return 0.0
    bi = cv2.GaussianBlur(pigment_index(image_rgb[y0:y1, x0:x1]), (0, 0), 0.7)
    rim = np.ones(bi.shape, bool)
    rim[y - y0:y - y0 + bh, x - x0:x - x0 + bw] = False
    if not rim.any() or rim.all():
        return 0.0
    return float(bi[~rim].max()) - float(_median(bi[rim]))


def _area(c: Candidate) -> float:
    return c.area_px if isinstance(c, RefinedCandidate) else float(c.mask.sum())


def _max_split_area(mm_per_px: float | None, cfg: SegmentConfig) -> float:
    """Area (full px) of a disc max_valley_split_mm across: spots split apart are at most this large
    (infinite without a scale)."""
    return math.pi * (0.5 * cfg.max_valley_split_mm / mm_per_px) ** 2 if mm_per_px else math.inf


# ----------------------------------------------------------------------------------------------
# working image and skin


def _working_image(image_rgb: np.ndarray, reduced: np.ndarray | None, mm_per_px: float | None,
                   cfg: SegmentConfig) -> np.ndarray:
    """The reduced image candidates are found on: `reduced` if given and fine enough, else an area-resize.

    With a known scale the working image keeps the smallest spot (min_diameter_mm) at least
    min_work_px_per_min_spot px across: a supplied coarser `reduced` (the 1/4 decode of a photo
    taken from afar) would merge a petechial cluster into one seed and lose its small spots.
    Without a scale it is at least work_max_side px (or the photo), whether or not `reduced` is given.
    """
    h, w = image_rgb.shape[:2]
    side = max(h, w)
    # without a scale nothing says how small a spot may be: work_max_side, as for a photo given alone
    need = side * mm_per_px * cfg.min_work_px_per_min_spot / cfg.min_diameter_mm if mm_per_px else cfg.work_max_side
    target = min(side, cfg.work_max_side)
    if reduced is not None and reduced.shape[0] > 0:
        if max(reduced.shape[:2]) >= min(side, cfg.max_work_side, need):
            return reduced
        target = 0  # only as fine as the smallest spot needs (the caller chose a coarse image: speed)
    # keep the smallest spot at least ~1.2 working px across
    target = min(side, max(target, min(cfg.max_work_side, int(need))))
    if target >= side:
        return image_rgb
    f = target / side
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA)


def _resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    m = np.asarray(mask, dtype=bool)
    if m.shape == shape:
        return m.copy()
    x, y, bw, bh = cv2.boundingRect(m.view(np.uint8))
    if m.shape[0] > shape[0] and 0 < bw * bh < 0.5 * m.size:  # only the set part: a reference is small
        fy, fx = shape[0] / m.shape[0], shape[1] / m.shape[1]
        X0, Y0 = int(x * fx), int(y * fy)
        X1, Y1 = min(shape[1], int(math.ceil((x + bw) * fx))), min(shape[0], int(math.ceil((y + bh) * fy)))
        out = np.zeros(shape, bool)
        sub = m[int(Y0 / fy):int(math.ceil(Y1 / fy)), int(X0 / fx):int(math.ceil(X1 / fx))]
        out[Y0:Y1, X0:X1] = cv2.resize(sub.view(np.uint8), (X1 - X0, Y1 - Y0), interpolation=cv2.INTER_AREA) > 0
        return out
    r = cv2.resize(m.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_AREA if
                   m.shape[0] > shape[0] else cv2.INTER_NEAREST)
    return r > 0


RED_SKIN_EXTRA_DEG = 20.0  # reddened skin: this much further towards red than the skin's hue tolerance
RED_SKIN_MIN_HUE_DEG = 22.0  # ...but still orange-red (melanin keeps b* up); pink and mauve cloth lie below
SKIN_HUE_RANGE_DEG = (-15.0, 105.0)  # CIELAB hues skin can take (pink to yellow-brown, any tone)
SKIN_HUE_CORE_DEG = 12.0  # the skin's core pixels: this close to its hue mode
SKIN_HUE_TOL_DEG = 14.0  # the least tolerance of skin hue round the mode (more where the skin's hue spreads)


def skin_mask(work_rgb: np.ndarray, white_from: np.ndarray | None = None,
              ignore: np.ndarray | None = None) -> np.ndarray:
    """Bool mask of the skin region (spots and hairs inside it included), same size as the image.

    `ignore`: bool mask of what is known not to be skin (the reference), left out of the estimate of
    the skin's colour."""
    return _skin_masks(work_rgb, white_from, ignore)[1]


# Without a white reference, a photo in which under this share is found to be skin is searched again
# balanced on its own brightest pixels, when they show a cast that hides the skin (_skin_masks)
CAST_RETRY_SKIN_FRAC = 0.02
# A white reference (a marker's paper) whose colour moves this far (CIELAB chroma) from grey, towards a
# hue outside skin's (SKIN_HUE_RANGE_DEG), shows a cast that hides the skin: see _skin_masks
CAST_MIN_CHROMA = 5.0


def _skin_masks(work_rgb: np.ndarray, white_from: np.ndarray | None = None,
                ignore: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(skin-coloured pixels, skin region), found on a white-balanced copy where a cast hides the skin.

    Skin is looked for by hue (_skin_masks_as_seen). A cool or green cast moves it out of skin's
    range while a cloth's red or brown moves in: the bundled example with blue gained 1.3x and red
    0.8x (shade, a cool LED) has its skin at hue -82 deg, with green 1.25x (fluorescent light) at 126
    deg, and in both the red cloth beside the leg was taken for the skin and no spot was found. A
    warm cast (tungsten) keeps skin in range and needs nothing. `white_from` (bool, any size) is
    where a white reference lies, an ArUco marker's paper: when its brightest
    pixels (_white_of) show such a cast, the skin is looked for on a copy balanced to make them grey.
    The spots' own maps need no balance: the pigment index and the colour tests compare a spot with
    the skin round it in log (optical density) units, where a channel's gain cancels. `ignore` (bool,
    any size): the reference, never skin, left out of the skin's colour estimate.
    """
    white = _white_of(work_rgb, white_from) if white_from is not None else None
    if white is not None and _cast_hides_skin(white):
        return _skin_masks_as_seen(_balanced(work_rgb, white), ignore)
    pix, region = _skin_masks_as_seen(work_rgb, ignore)
    if white is not None or region.mean() >= CAST_RETRY_SKIN_FRAC:
        return pix, region
    # no white reference, and hardly any skin: the photo's brightest pixels may show the cast
    white = _white_of(work_rgb, np.ones(work_rgb.shape[:2], bool))
    if white is None or not _cast_hides_skin(white):
        return pix, region
    pix_b, region_b = _skin_masks_as_seen(_balanced(work_rgb, white), ignore)
    return (pix_b, region_b) if region_b.sum() > region.sum() else (pix, region)


def _balanced(rgb: np.ndarray, white: np.ndarray) -> np.ndarray:
    """`rgb` with each channel scaled so that `white` (RGB) comes out grey at its brightest channel."""
    gains = white.max() / np.maximum(white, 1.0)
    return np.clip(rgb.astype(np.float32) * gains, 0, 255).astype(np.uint8)


def _white_of(rgb: np.ndarray, where: np.ndarray) -> np.ndarray | None:
    """RGB of a white reference: the per-channel median of the brightest 2 % (by luma) of the pixels
    `where` (bool, any size), clipped ones (any channel 250+) left out as their colour is lost; None
    when fewer than 50 px are left or they are too dark (luma under 80) to be a white."""
    if where.shape != rgb.shape[:2]:
        where = _resize_mask(where, rgb.shape[:2])
    px = rgb[where].astype(np.float32)
    px = px[px.max(axis=1) < 250]
    if len(px) < 50:
        return None
    weights = np.array([0.299, 0.587, 0.114], np.float32)  # luma
    luma = px @ weights
    white = np.median(px[luma >= np.percentile(luma, 98)], axis=0)
    return white if float(white @ weights) >= 80 else None


def _cast_hides_skin(white: np.ndarray) -> bool:
    """Does a white reference of this RGB show a cast (CAST_MIN_CHROMA) towards a hue outside skin's?"""
    lab = to_lab(white.reshape(1, 1, 3).astype(np.uint8)).reshape(3)
    chroma, hue = math.hypot(lab[1], lab[2]), math.degrees(math.atan2(lab[2], lab[1]))
    return chroma >= CAST_MIN_CHROMA and not SKIN_HUE_RANGE_DEG[0] < hue < SKIN_HUE_RANGE_DEG[1]


def _skin_masks_as_seen(work_rgb: np.ndarray, ignore: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(skin-coloured pixels, skin region): pixels whose hue and saturation match the photo's dominant skin cluster.

    Skin colour is estimated from the image itself (hue mode among skin-plausible pixels, weighted
    to the centre), so dark and light skin are both kept while cloth, sheets or walls of other
    hues or much higher or lower saturation are not. Spots inside the skin are holes, and filled.
    `ignore` is left out of that estimate: in an underexposed photo (independent renderer dev 932009
    at 0.4x) a yellow ruler across the centre is no more saturated than skin, and was taken for it.
    """
    h, w = work_rgb.shape[:2]
    small, f = _small(work_rgb, 320)
    lab = to_lab(small)
    L, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    chroma = np.hypot(a, b)
    hue = np.degrees(np.arctan2(b, a))
    sat = chroma / np.maximum(L, 5.0)
    lo, hi = SKIN_HUE_RANGE_DEG
    plaus = (L > 4) & (L < 99) & (chroma > 2.5) & (hue > lo) & (hue < hi)
    if ignore is not None and ignore.any():
        plaus &= ~_resize_mask(ignore, L.shape)
    if plaus.sum() < 0.02 * plaus.size:  # no skin-coloured pixels at all (a sheet, a wall, a grey image)
        return np.zeros((h, w), bool), np.zeros((h, w), bool)
    yy, xx = np.mgrid[0:L.shape[0], 0:L.shape[1]]
    cw = np.exp(-(((xx / L.shape[1] - 0.5) / 0.35) ** 2 + ((yy / L.shape[0] - 0.5) / 0.35) ** 2))
    # skin's chroma C*ab stays under ~40 whatever the tone; a yellow ruler or an orange towel is far
    # more saturated, and must not become the skin cluster when it fills much of the frame
    prior = np.clip(1.0 - (chroma - 40.0) / 20.0, 0.0, 1.0)
    hist, edges = np.histogram(hue[plaus], bins=60, range=(lo, hi), weights=(cw * prior)[plaus])
    hist = np.convolve(hist, [1, 2, 3, 2, 1], mode="same")
    if not hist.max() > 0:  # every skin-hued pixel far too saturated for skin (a red towel filling the frame)
        return np.zeros((h, w), bool), np.zeros((h, w), bool)
    mode = 0.5 * (edges[np.argmax(hist)] + edges[np.argmax(hist) + 1])
    mode = _central_mode(hist, edges, mode, hue, plaus & (chroma > 8.0) & (prior > 0.5))
    core = plaus & (np.abs(hue - mode) < SKIN_HUE_CORE_DEG)
    if not core.any():
        return np.zeros((h, w), bool), np.zeros((h, w), bool)
    s_med = float(np.median(sat[core]))
    h_mad = float(np.median(np.abs(hue[core] - mode))) * 1.48
    L_med = float(np.median(L[core]))
    tol_h = max(SKIN_HUE_TOL_DEG, 3.5 * h_mad)
    band = (sat > 0.35 * s_med) & (sat < 2.2 * s_med + 0.05) & (L > min(8.0, 0.3 * L_med))
    m = (np.abs(hue - mode) < tol_h) & band
    # reddened skin (a flush, erythema round a bruise) turns the hue further towards red: kept where
    # it joins the skin, so a patch of it and the spots in it are not cut out as background
    flushed = (hue < mode) & (hue > max(mode - tol_h - RED_SKIN_EXTRA_DEG, RED_SKIN_MIN_HUE_DEG)) & band
    region = _clean_skin(m)
    pix = m & region
    if flushed.any():
        n, lab = cv2.connectedComponents((m | flushed).astype(np.uint8), connectivity=8)
        touches = np.zeros(n, bool)
        touches[np.unique(lab[m])] = True
        ext = touches[lab] & (lab > 0)
        wider = _clean_skin(ext)
        # inside the skin the reddened pixels stay out of the background (bruises, halos); beyond it
        # the flushed patch is the skin there
        pix = (m & wider) | (ext & wider & ~region)
        region = wider

    region = _with_bruise_bays(region, small)

    def up(x: np.ndarray) -> np.ndarray:
        return cv2.resize(x.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0

    return up(pix), up(region)


def _central_mode(hist: np.ndarray, edges: np.ndarray, mode: float, hue: np.ndarray, coloured: np.ndarray) -> float:
    """The skin hue when two surfaces of skin-like hue fill the frame (an arm on a wooden table, a
    beige wall): the histogram peak the photo's centre lies on, if it holds half the highest one.

    The subject is framed in the middle; the background's peak can still be the higher one where it
    fills most of the frame. `coloured`: the pixels of skin-like colour and chroma; a centre mostly
    without them (a white ruler or paper on the skin), on a bruise or red cloth (hue under
    RED_SKIN_MIN_HUE_DEG + 10), or on a patch of that peak's hue that stays off the frame's edge (a
    flush or bruise within the skin; a limb runs out of the frame) does not move the mode."""
    h, w = hue.shape
    win = (slice(int(0.35 * h), int(0.65 * h) + 1), slice(int(0.35 * w), int(0.65 * w) + 1))
    inner = coloured[win]
    if inner.sum() < 0.5 * inner.size:
        return mode
    hc = float(np.median(hue[win][inner]))
    centres = 0.5 * (edges[:-1] + edges[1:])
    near = np.abs(centres - hc) <= 8.0
    if not near.any():
        return mode
    k = int(np.argmax(np.where(near, hist, -1.0)))
    peak = 0 < k < len(hist) - 1 and hist[k] >= hist[k - 1] and hist[k] >= hist[k + 1]
    if not (peak and abs(centres[k] - mode) > SKIN_HUE_TOL_DEG and hist[k] >= 0.5 * hist.max()
            and centres[k] >= RED_SKIN_MIN_HUE_DEG + 10.0):
        return mode
    # a limb leaves the frame; a flush or bruise in the middle of the skin does not
    near_peak = (coloured & (np.abs(hue - centres[k]) < SKIN_HUE_CORE_DEG)).view(np.uint8)
    near_peak = cv2.morphologyEx(near_peak, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    _, lab = cv2.connectedComponents(near_peak, connectivity=8)
    ids = np.bincount(lab[win].ravel())
    ids[0] = 0
    if ids.max() == 0:
        return mode
    return float(centres[k]) if _touches_frame(lab == int(np.argmax(ids))) else mode


def _touches_frame(mask: np.ndarray) -> bool:
    """Does a mask reach the first or last row or column?"""
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def _with_bruise_bays(region: np.ndarray, small_rgb: np.ndarray) -> np.ndarray:
    """The skin region with the bruises on its border: cut by the image's edge or on the limb's outline.

    Inside the skin a bruise is a hole, filled; cut by the frame it is a bay open to the edge, and
    was left out with the background. Taken in: a non-skin region on the frame, under 5 % of the
    image, that touches the frame along under 40 % of its outline (a background strip along an edge
    or in a corner touches it along half or more, the rest bordering skin) and that differs from the
    skin around it as blood does (_blood_against_skin). Likewise the part of a bruise on the limb's
    own outline that lies within that outline.
    """
    inv = (~region).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    if n <= 1 or not region.any():
        return region
    frame = np.zeros(region.shape, bool)
    frame[0], frame[-1], frame[:, 0], frame[:, -1] = True, True, True, True
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    next_to_skin = cv2.dilate(region.astype(np.uint8), cross) > 0
    od = optical_density(small_rgb)
    out = region.copy()
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] > 0.05 * region.size:
            continue
        comp = lab == i
        contact = int((comp & frame).sum())
        rim = int((comp & next_to_skin).sum())
        if contact == 0 or contact > 0.4 * (contact + rim):
            continue
        if _blood_against_skin(comp, region, od):
            out |= comp
    return _with_outline_bays(out, region, od)


def _with_outline_bays(out: np.ndarray, region: np.ndarray, od: np.ndarray) -> np.ndarray:
    """The skin region with the bruises on the limb's own outline: bays open to the background.

    Within the limb's closed outline (a closing by a square a third of the image across: separable,
    fast) a bay's blood-coloured pixels are taken in, unless the background just beyond the outline
    looks the same (a purple cloth in the limb's curve); slivers along a ragged outline and bays on
    the frame (_with_bruise_bays) are not looked at.
    """
    h, w = out.shape
    k = max(3, min(h, w) // 3) | 1
    q = cv2.copyMakeBorder(out.view(np.uint8), k, k, k, k, cv2.BORDER_CONSTANT, value=0)  # no skin beyond the frame
    closed = cv2.morphologyEx(q, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))[k:-k, k:-k] > 0
    n, lab, stats, _ = cv2.connectedComponentsWithStats((closed & ~out).view(np.uint8), connectivity=4)
    added = False
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        if not 0.002 * region.size <= area <= 0.05 * region.size or x == 0 or y == 0 or x + bw == w or y + bh == h:
            continue
        win = (slice(max(0, y - 12), y + bh + 12), slice(max(0, x - 12), x + bw + 12))
        comp = lab[win] == i
        beyond = (cv2.dilate(comp.view(np.uint8), np.ones((21, 21), np.uint8)) > 0) & ~out[win] & ~(
            cv2.dilate(closed[win].view(np.uint8), np.ones((7, 7), np.uint8)) > 0)
        if beyond.sum() >= 8 and np.abs(np.median(od[win][comp], axis=0) - np.median(od[win][beyond], axis=0)).max() < 0.15:
            continue
        blood = _blood_against_skin(comp, region[win], od[win], per_pixel=True)
        if blood is not None:
            out[win] |= cv2.morphologyEx(blood.view(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)) > 0
            added = True
    return _holes_filled(out.view(np.uint8)) > 0 if added else out  # the bruise's paler mottles inside it


def _blood_against_skin(comp: np.ndarray, region: np.ndarray, od: np.ndarray, per_pixel: bool = False):
    """Does a region differ from the skin round it as blood does: green absorbed more than red and
    than blue, and darker? A purple or blue sheet absorbs red as much as green; a shadow, red most.

    `per_pixel`: its pixels that do (None when the region as a whole does not) instead of a bool."""
    ring = (cv2.dilate(comp.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0) & region & ~comp
    if ring.sum() < 8:
        return None if per_pixel else False
    skin = np.median(od[ring], axis=0)
    whole = bool(_blood_like(np.median(od[comp], axis=0) - skin))
    if not per_pixel:
        return whole
    return comp & _blood_like(od - skin) if whole else None


def _blood_like(d_od: np.ndarray) -> np.ndarray | bool:
    """Is a change of the (R, G, B) optical densities (or of each pixel's) blood's: green absorbed
    more than red and than blue, and darker?"""
    return (d_od[..., 1] > d_od[..., 0] + 0.02) & (d_od[..., 1] > d_od[..., 2] + 0.02) & (_darkening(d_od) > 0.05)


def _small(img: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    h, w = img.shape[:2]
    f = min(1.0, side / max(h, w))
    if f >= 1.0:
        return img, 1.0
    return cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA), f


def _clean_skin(m: np.ndarray) -> np.ndarray:
    """Morphological cleanup: close small gaps, fill holes (spots), keep the large components."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    # small holes first: the opening cut a spot near the limb's outline off from the skin along with
    # the thin strip between them (a 7 mm purpura 25 px from the edge of a 4000 px photo: 2 px here),
    # and a bay open to the background is no hole to fill. Larger ones are _with_outline_bays' to take in
    u = _holes_filled(m.astype(np.uint8), max_hole_px=SKIN_PRE_FILL_FRAC * m.size)
    u = cv2.morphologyEx(u, cv2.MORPH_OPEN, k)
    u = cv2.morphologyEx(u, cv2.MORPH_CLOSE, k)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(u, connectivity=8)
    if n <= 1:
        return m
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(n, bool)
    keep[1:] = (areas >= 0.1 * areas.max()) & (areas >= 0.01 * m.size)
    u = keep[lab].astype(np.uint8)
    return _holes_filled(u) > 0


def _holes_filled(fg: np.ndarray, max_frac: float = math.inf, max_piece_px: float = math.inf,
                  max_hole_px: float = math.inf) -> np.ndarray:
    """A uint8 mask with its holes filled: each up to `max_frac` of its piece (holes included) in a
    piece of at most `max_piece_px` px, or all; only holes of at most `max_hole_px` px.

    A hole in a spot's outline is part of the spot: a flash's highlight on a raised spot (palpable
    purpura, an angioma, a bite) lightens its dome below the outline's level, as a short hair lying
    on it does. Left open, the hole was taken from the spot's area and, where it pinched the spot,
    cut it in two (painted discs of 25 and 40 px with an off-centre highlight: two pieces, 15 %
    short of the area): spots are outlined with max_frac HOLE_MAX_FRAC, as a larger hole is skin
    inside a ring (an annular lesion), and only up to RAISED_MAX_MM across. Raised spots are that
    small; a bruise is flat, its holes are paler skin, and filled they grew flushed or shaded skin
    into one large outline (a clinic-renderer dev bruise of 24.5 mm outlined at 60 mm).
    """
    n, lab, stats, _ = cv2.connectedComponentsWithStats((fg == 0).view(np.uint8), connectivity=4)
    edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    holes = np.setdiff1d(np.arange(1, n), edge)
    holes = holes[stats[holes, cv2.CC_STAT_AREA] <= max_hole_px]
    if not holes.size:
        return fg
    filled = (fg > 0) | np.isin(lab, holes)
    if max_frac == math.inf and max_piece_px == math.inf:
        return filled.view(np.uint8)
    _, pieces, piece_stats, _ = cv2.connectedComponentsWithStats(filled.view(np.uint8), connectivity=8)
    out = fg.copy()
    for i in holes:
        at = lab == i
        piece = piece_stats[pieces[at][0], cv2.CC_STAT_AREA]
        if stats[i, cv2.CC_STAT_AREA] <= max_frac * piece and piece <= max_piece_px:
            out[at] = 1
    return out


SKIN_PRE_FILL_FRAC = 0.002  # holes in the skin-coloured pixels filled before the cleanup's opening, up to
#                             this share of the image (_clean_skin): as large as _with_outline_bays' least bay
HOLE_MAX_FRAC = 0.3  # the largest hole of a spot's outline filled, as a fraction of its piece (holes included)
RAISED_MAX_MM = 10.0  # ...in spots up to this size (a disc's area; no limit without a scale or size prior)


# ----------------------------------------------------------------------------------------------
# contrast and candidates on the working image


def _snr_map(work: np.ndarray, skin: np.ndarray, work_mm_per_px: float | None,
             cfg: SegmentConfig, region: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Blood-index contrast against the local skin background, in local-noise units; the contrast;
    where the SNR is a bruise's (bool, see below); and the blood-index contrast against the wide
    background alone (for _with_texture_snr).

    Two background scales: a wide one for large spots and a narrow one (about a millimetre) for
    small ones, where blotchy skin redness at intermediate scales would otherwise hide them. At the
    wide scale, bruise-sized purple-blue regions (_purple_snr) count too: deep, deoxygenated blood
    can absorb red as much as the skin does, and then barely moves the blood index.
    """
    bi = cv2.GaussianBlur(pigment_index(work), (0, 0), 0.8)
    wgt = skin.astype(np.float32)
    if wgt.sum() < 16:
        wgt = np.ones_like(wgt)
    wide = cfg.background_sigma_frac * max(work.shape[:2])
    narrow = 4.0 if not work_mm_per_px else float(np.clip(cfg.narrow_background_mm / work_mm_per_px, 2.5, 12.0))
    snr_w, res_w = _snr_at(bi, wgt, wide, wide, cfg)
    res_blood = res_w
    min_bruise = _min_bruise_px(work_mm_per_px, work.shape, cfg)
    snr_p, res_p = _purple_snr(work, skin, min_bruise, wide, cfg, region)
    # only bruises the blood index does not see (but for specks): next to its spots, the purple index
    # would grow them into their halo (red-purple spots of 6-40 mm measured 5-8 % larger) or cut them
    # into lobes; and never over a negative SNR (a bright overlay's letters)
    pick = _apart(snr_p > cfg.low_snr, snr_w >= cfg.low_snr, SEEN_BY_BLOOD_SHARE * math.pi / 4 * min_bruise ** 2,
                  snr_p, snr_w, BLOOD_PEAK_SHARE)
    snr_w, res_w = np.where(pick, snr_p, snr_w), np.where(pick, res_p, res_w)
    snr_n, res_n = _snr_at(bi, wgt, narrow, wide, cfg)
    pick_n = snr_n > snr_w
    return np.where(pick_n, snr_n, snr_w), np.where(pick_n, res_n, res_w), pick & ~pick_n, res_blood


def _overlay(work: np.ndarray, skin: np.ndarray, region: np.ndarray, snr: np.ndarray, cfg: SegmentConfig) -> np.ndarray:
    """Where a yellow, orange or red overlay lies over the skin (bool, working image): pixels of the skin
    region redder than the skin in the pigment index (SNR above low_snr) whose green is lighter than
    the skin's round them by overlay_green_od or more (optical density) while their blue is darker,
    with the antialiased rim that joins them (a third as much lighter), grown by a px (a red one by two).

    A pigment only absorbs: blood, its breakdown products and melanin take green light away. Yellow
    or orange text (a watermark, a camera's date stamp) blended over the skin takes blue away and
    lightens red and green, so the pigment index reads it as "redder than the skin"; its letters
    became candidates that joined the spots they crossed into one long shape, and both were
    dropped (bench_measure dev 3100022 and 3100028: spots of 0.5-1.8 mm under "medphoto"; with
    this, recall at 4000x3000 0.968 -> 0.973). A pink glow (a sticker's light on the skin, clinic dev
    957011) lightens blue too, and is not this: asked of green alone, it cost two spots there.
    A red or pink overlay (a circle or an arrow drawn on the photo, red text) is lighter in red while
    darker in green: blood takes some red light away too. Drawn round a cluster of petechiae, such a
    circle joined the spots it touched into one thin ring, all dropped (11 of 51 petechiae on clinic
    dev 957011 with a circle and an arrow drawn over it).
    `skin`: the skin-coloured pixels, whose colour is the reference (wide background, as _snr_map's);
    `region`: the skin region.
    """
    pos = (snr > cfg.low_snr) & region
    if not pos.any():
        return pos
    wgt = skin.astype(np.float32)
    if wgt.sum() < 16:
        wgt = np.ones_like(wgt)
    wide = cfg.background_sigma_frac * max(work.shape[:2])
    d_r, d_g, d_b = (od - _norm_blur(od, wgt, wide) for od in (
        cv2.GaussianBlur(optical_density(np.ascontiguousarray(work[..., c])), (0, 0), 0.8) for c in (0, 1, 2)))
    tol = np.float32(cfg.overlay_green_od)
    out = np.zeros(pos.shape, bool)
    for light, dark, red in ((d_g, d_b, False), (d_r, d_g, True)):  # yellow / orange; red / pink
        lighter = pos & (light < -tol) & (dark > tol)
        if not lighter.any():
            continue
        rim = (pos & (light < -tol / 3) & (dark > tol / 3)).view(np.uint8)
        n, lab = cv2.connectedComponents(rim | lighter.view(np.uint8), connectivity=8)
        hit = np.zeros(n, bool)
        hit[lab[lighter]] = True
        hit[0] = False
        if red:  # only strokes: a glint on a red spot is lighter in red too
            hit &= _strokes(lab, n)
        # a red stroke's antialiased, JPEG-ringed fringe is a faint red line beside it: grown by 2 px
        grow = 5 if red else 3
        out |= cv2.dilate(hit[lab].view(np.uint8), np.ones((grow, grow), np.uint8)) > 0
    return out


def _strokes(lab: np.ndarray, n: int) -> np.ndarray:
    """Which of the n labels of `lab` (0: none) are drawn strokes: long for their area (a line, a ring,
    an arrow), not compact blobs.

    A raised red spot's glint, blurred into its red (lighter in red, darker in green), looks as a red
    overlay does; it is a compact blob, a circle or arrow drawn on the photo is a long thin line (on
    independent-renderer dev photos 932000.., 24, the glints of angiomas were taken for overlays and
    each angioma came out in two or three pieces). Length: the longer side of the smallest rectangle
    round the component; a disc's is 1.13 times the root of its area, a line's the root of its length
    over its width times that.
    """
    ys, xs = np.nonzero(lab)
    ids = lab[ys, xs]
    order = np.argsort(ids, kind="stable")
    ys, xs, ids = ys[order], xs[order], ids[order]
    starts = np.searchsorted(ids, np.arange(n + 1))
    out = np.zeros(n, bool)
    for i in range(1, n):
        a, b = starts[i], starts[i + 1]
        if b - a < 3:
            continue
        (_, _), (w, h), _ = cv2.minAreaRect(np.c_[xs[a:b], ys[a:b]].astype(np.float32))
        length = max(w, h)
        out[i] = length >= STROKE_MIN_LENGTH_PX and length >= STROKE_MIN_ELONGATION * math.sqrt(b - a)
    return out


STROKE_MIN_LENGTH_PX = 12.0  # working px: a circle or arrow drawn round spots spans several of them
STROKE_MIN_ELONGATION = 3.0  # length over the root of the area: a line at least 9 times as long as wide


def _with_texture_snr(cands: list[Candidate], resid: np.ndarray, work: np.ndarray, skin: np.ndarray,
                      bruise: np.ndarray, work_scale: float, cfg: SegmentConfig) -> list[Candidate]:
    """The candidates with their texture_snr: contrast over the skin's own texture at their own scale.

    The SNR of segmentation is per pixel: against fine noise. A JPEG smooths that noise away while
    skin mottling of a few px stays, so a blotch of it can pass. Here a contrast map (working image)
    is band-passed at 0.3 x the candidate's equal-area diameter (a gaussian less the skin within 4x
    that scale: a matched filter that lifts a spot over fine noise) and divided by the local spread
    of the same band-passed map: a spot stands out of the skin at its own scale, mottling is that
    spread. Read as the maximum within a quarter diameter of the centre. Two contrasts: the wide
    blood-index one (`resid`), and, for a candidate under TEXTURE_BOTH_BELOW on it, the darkening
    (luminance optical density) at half weight, the larger counting: a deep purple spot (a 7.7 mm
    purpura of the independent renderer) barely moves the blood index, yet stands far out of any
    mottling; at full weight the darkening let a third of the dropped blotches back in. Not judged
    (None): candidates found as bruises (blood index blind to them), and those wider (equal-area
    diameter) than TEXTURE_MAX_WIDE x the wide background's sigma, whose contrast map and noise
    window are then mostly the spot itself: a clear disc on plain noise measured 10.6 at 1.5 x that
    sigma, 3.5 at 2.25 x; a clinic-renderer ecchymosis a third of the photo across, a* 22 over the
    skin, measured 2.3 and was dropped as skin texture.
    """
    f = math.ceil(max(resid.shape[:2]) / TEXTURE_MAX_SIDE)
    if f > 1 and min(resid.shape[:2]) >= 8 * f:  # a copy of at most TEXTURE_MAX_SIDE px: its cost
        size = (resid.shape[1] // f, resid.shape[0] // f)
        resid = cv2.resize(resid, size, interpolation=cv2.INTER_AREA)
        work = cv2.resize(work, size, interpolation=cv2.INTER_AREA)
        skin = cv2.resize(skin.astype(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
        bruise = cv2.resize(bruise.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        work_scale *= f
    wide = cfg.background_sigma_frac * max(resid.shape[:2])
    wgt = skin.astype(np.float32)
    if wgt.sum() < 16:
        wgt = np.ones_like(wgt)
    maps: dict[tuple[str, int], tuple[np.ndarray, int]] = {}
    contrasts = {"blood": resid}
    out = []
    h, w = resid.shape[:2]
    for c in cands:
        x0, y0 = c.bbox[:2]
        ys, xs = np.nonzero(c.mask)
        if xs.size == 0:
            out.append(c)
            continue
        cx = min(w - 1, max(0, int((x0 + xs.mean() + 0.5) / work_scale)))
        cy = min(h - 1, max(0, int((y0 + ys.mean() + 0.5) / work_scale)))
        d = 2.0 * math.sqrt(xs.size / math.pi) / work_scale
        if bruise[cy, cx] or d > TEXTURE_MAX_WIDE * wide:
            out.append(c)
            continue
        j = max(0, int(round(math.log(max(TEXTURE_MIN_SIGMA, 0.3 * d) / TEXTURE_MIN_SIGMA, TEXTURE_STEP))))
        v = -math.inf
        for name in ("blood", "dark"):
            if name == "dark":
                if v >= TEXTURE_BOTH_BELOW:
                    break
                if name not in contrasts:
                    dark = cv2.GaussianBlur(optical_density(work) @ LUMA, (0, 0), 0.8)
                    contrasts[name] = _snr_at(dark, wgt, wide, wide, cfg)[1]
            if (name, j) not in maps:
                maps[name, j] = _smoothed_snr(contrasts[name], wgt, TEXTURE_MIN_SIGMA * TEXTURE_STEP ** j, wide, cfg)
            m, k = maps[name, j]
            r = max(1, int(d / 4 / k))
            x, y = min(cx // k, m.shape[1] - 1), min(cy // k, m.shape[0] - 1)
            val = float(m[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1].max())
            v = max(v, val / (TEXTURE_DARK_WEIGHT if name == "dark" else 1.0))
        out.append(replace(c, texture_snr=v))
    return out


LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # luminance weights of linear RGB (Rec. 709)
TEXTURE_BOTH_BELOW = 10.0  # _with_texture_snr: the darkening is looked at only under this blood-index value
TEXTURE_DARK_WEIGHT = 2.0  # ...and counts at 1/this: mottling darkens too, a deep purple spot far more
TEXTURE_MAX_WIDE = 2.0  # _with_texture_snr judges no candidate wider than this x the wide background's sigma
TEXTURE_MAX_SIDE = 640  # px; _with_texture_snr works on a copy of the working image reduced to this
TEXTURE_MIN_SIGMA = 0.7  # its px; the smoothing scales of _with_texture_snr step from it
TEXTURE_STEP = 2.0  # ...by this factor
TEXTURE_SURROUND = 4.0  # ...each judged against the skin within this many times its scale


def _smoothed_snr(resid: np.ndarray, wgt: np.ndarray, sigma: float, noise_sigma: float,
                  cfg: SegmentConfig) -> tuple[np.ndarray, int]:
    """`resid` band-passed at sigma (a gaussian of sigma, less the skin around it: a gaussian of
    TEXTURE_SURROUND x sigma), over its own local noise (spots left out of it); and the factor k the
    map is reduced by (working px per map px: sigma / 1.4, so the gaussian still spans 1.4 px).

    The noise is taken from every other map px of each axis: a local mean over tens of px loses
    nothing by it, and it is most of the cost.
    """
    k = max(1, int(sigma / 1.4))
    h, w = resid.shape[:2]
    if k > 1 and min(h, w) >= 4 * k:
        resid = cv2.resize(resid, (w // k, h // k), interpolation=cv2.INTER_AREA)
        wgt = cv2.resize(wgt, (w // k, h // k), interpolation=cv2.INTER_AREA)
        sigma, noise_sigma = sigma / k, noise_sigma / k
    else:
        k = 1
    rs = cv2.GaussianBlur(resid, (0, 0), sigma) - _norm_blur(resid, wgt, TEXTURE_SURROUND * sigma)
    step = 2 if min(rs.shape[:2]) >= 32 else 1
    sub, wsub = np.ascontiguousarray(rs[::step, ::step]), np.ascontiguousarray(wgt[::step, ::step])
    noise = _noise(sub, wsub, noise_sigma / step, cfg)
    noise = _noise(sub, cv2.multiply(wsub, (np.abs(sub) < 2.5 * noise).astype(np.float32)), noise_sigma / step, cfg)
    if step > 1:
        noise = cv2.resize(noise, (rs.shape[1], rs.shape[0]), interpolation=cv2.INTER_LINEAR)
    return rs / noise, k


def _min_bruise_px(mm_per_px: float | None, shape: tuple[int, ...], cfg: SegmentConfig) -> float:
    """The smallest bruise the purple index looks for, in px of an image of `shape` at `mm_per_px`
    (without a scale: 2 % of the image's long side)."""
    return cfg.min_bruise_mm / mm_per_px if mm_per_px else 0.02 * max(shape[:2])


# _apart: blood-index blobs smaller than this share of the smallest bruise's area do not claim a bruise
SEEN_BY_BLOOD_SHARE = 0.25
BLOOD_PEAK_SHARE = 0.25  # ...nor those whose peak SNR is under this share of the purple index's there


def _apart(mask: np.ndarray, other: np.ndarray, min_other_px: float, mask_snr: np.ndarray,
           other_snr: np.ndarray, share: float) -> np.ndarray:
    """The components of `mask` (8-connected) that neither overlap nor touch a component of `other` of
    `min_other_px` px or more whose peak of `other_snr` is `share` of the component's `mask_snr` peak.

    A blue-purple bruise touched by a few px of the blood index's SNR (noise on its rim) was dropped
    whole when any px of it touched them: 8 mm discs of deep purple were not found on light, medium
    or dark skin. Blobs of the blood index under a quarter of the smallest bruise's area (noise, a
    petechia) now leave it to the purple index; a bruise the blood index sees in part (its core) stays
    the blood index's, as its purple halo would swallow the spots beside it. Nor does a blob whose
    peak is under `share` of the peak of what it touches: a red-purple 8 mm disc on dark skin was seen
    by the blood index at SNR 6-7 in four blobs of up to 970 px (the purple index: 46) and came out as
    two pieces of a third of it each."""
    n, lab, mstats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros(mask.shape, bool)
    _, olab, stats, _ = cv2.connectedComponentsWithStats(other.astype(np.uint8), connectivity=8)
    k3 = np.ones((3, 3), np.uint8)
    touching = np.unique(olab[cv2.dilate((lab > 0).view(np.uint8), k3) > 0])
    bad = np.zeros(n, bool)
    bad[0] = True
    mpeak: dict[int, float] = {}
    for j in touching[touching > 0]:
        if stats[j, cv2.CC_STAT_AREA] < min_other_px:
            continue
        x, y, w, h = stats[j, :4]
        y0, x0, y1, x1 = max(0, y - 1), max(0, x - 1), y + h + 1, x + w + 1
        blob = olab[y0:y1, x0:x1] == j
        comps = np.unique(lab[y0:y1, x0:x1][cv2.dilate(blob.view(np.uint8), k3) > 0])
        top = float(other_snr[y0:y1, x0:x1][blob].max())
        for c in comps[comps > 0]:
            if c not in mpeak:
                cx, cy, cw, ch = mstats[c, :4]
                mpeak[c] = float(mask_snr[cy:cy + ch, cx:cx + cw][lab[cy:cy + ch, cx:cx + cw] == c].max())
            bad[c] |= top >= share * mpeak[c]
    return ~bad[lab]


def _purple_snr(work: np.ndarray, skin: np.ndarray, min_px: float, wide: float,
                cfg: SegmentConfig, region: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """SNR and contrast of the purple index (colour.purple_index) against the wide skin background,
    kept only on bruise-like regions; zero SNR elsewhere. Working-image size.

    Kept: blobs at least min_px across (working px), off the skin's edge (the skin region, when
    given, counts as skin there: a bruise cut by the frame is in it), of a bruise's colour
    change (green absorbed above blue by at least 2x min_contrast, and not below red, and darker). A
    neutral shadow, a vein (red absorbed most), melanin (blue absorbed most), a bright overlay's
    letters and the skin between them are not. Computed on a copy reduced so that min_px is about
    8 px (only large regions count here), which keeps its cost small.
    """
    h, w = work.shape[:2]
    if min_px > 0.5 * min(h, w):  # no bruise of that size fits (a dermatoscope's field, a thin strip)
        return np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
    f = max(1, int(min_px // 8))
    small = cv2.resize(work, (w // f, h // f), interpolation=cv2.INTER_AREA) if f > 1 else work
    skin_s = cv2.resize(skin.astype(np.uint8), (w // f, h // f), interpolation=cv2.INTER_NEAREST) if f > 1 else skin
    wgt = skin_s.astype(np.float32)
    if wgt.sum() < 16:
        wgt = np.ones_like(wgt)
    wide_s, min_s = wide / f, min_px / f
    od = cv2.GaussianBlur(optical_density(small), (0, 0), 0.8)
    snr, res = _snr_at(od[..., 1] - od[..., 2], wgt, wide_s, wide_s, cfg)
    gr = od[..., 1] - od[..., 0]
    dk = od @ np.array([0.35, 0.6, 0.05], np.float32)
    # green absorbed at least as much as red: deep, deoxygenated blood absorbs red as much (its OD
    # change (R, G, B) measured (0.83, 0.83, 0.63) on a purple bruise); a vein absorbs red most
    ok = (gr - _norm_blur(gr, wgt, wide_s) > 0) & (dk - _norm_blur(dk, wgt, wide_s) > 0)
    ok &= res > 2 * cfg.min_contrast
    k = max(3, int(round(min_s)) | 1)  # off the skin's edge: mixed edge pixels are less yellow than skin
    inner = _holes_filled(skin_s.astype(np.uint8))
    if region is not None:  # with a bruise cut by the frame, taken into the skin region (_with_bruise_bays)
        inner |= (cv2.resize(region.astype(np.uint8), (w // f, h // f), interpolation=cv2.INTER_NEAREST)
                  if f > 1 else region.astype(np.uint8))
    ok &= cv2.erode(inner, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
    snr = _large_only(np.where(ok, snr, np.float32(0)), cfg.low_snr, math.pi / 4 * min_s ** 2, 0.4 * min_s)
    if f > 1:
        snr = cv2.resize(snr, (w, h), interpolation=cv2.INTER_LINEAR)
        res = cv2.resize(res, (w, h), interpolation=cv2.INTER_LINEAR)
    return snr, res


def _large_only(snr: np.ndarray, low: float, min_area: float, open_px: float) -> np.ndarray:
    """The SNR map kept only on blobs (above `low`) that survive an opening by a disc of open_px and
    still cover min_area px: thin things (letters, pen lines, hair, the skin between letters) go."""
    k = max(3, int(round(open_px)) | 1)
    m = cv2.morphologyEx((snr > low).astype(np.uint8), cv2.MORPH_OPEN,
                         cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < min_area
    small[0] = True
    return np.where(small[lab], np.float32(0), snr)


def _snr_at(bi: np.ndarray, wgt: np.ndarray, sigma: float, noise_sigma: float,
            cfg: SegmentConfig) -> tuple[np.ndarray, np.ndarray]:
    """SNR and contrast of `bi` against its background at one scale (spots left out of the background)."""
    bg = _norm_blur(bi, wgt, sigma)
    resid = bi - bg
    noise = _noise(resid, wgt, noise_sigma, cfg)
    for _ in range(2):  # background again, without the spots (positive outliers)
        w2 = cv2.multiply(wgt, (np.abs(resid) < 2.5 * noise).astype(np.float32))
        bg = _norm_blur(bi, w2, sigma)
        resid = bi - bg
        noise = _noise(resid, w2, noise_sigma, cfg)
    return resid / noise, resid


def _noise(resid: np.ndarray, wgt: np.ndarray, sigma: float, cfg: SegmentConfig) -> np.ndarray:
    mad = _norm_blur(np.abs(resid), wgt, sigma * 1.5) * 1.25
    return np.maximum(mad, cfg.noise_floor)


def _norm_blur(x: np.ndarray, wgt: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised convolution: gaussian mean of x over the pixels where wgt > 0, done on a small copy.

    The copy is reduced by a whole factor k (1.25-2.5 small px per sigma: the gaussian leaves
    nothing finer), which OpenCV area-averages fast; the last < k rows and columns repeat the edge.
    """
    h, w = x.shape
    k = max(1, min(int(sigma / 1.25), h // 2, w // 2))
    hk, wk = h // k * k, w // k * k
    xw = cv2.multiply(x[:hk, :wk], wgt[:hk, :wk])
    wk_ = wgt[:hk, :wk]
    if k > 1:
        xw = cv2.resize(xw, (wk // k, hk // k), interpolation=cv2.INTER_AREA)
        wk_ = cv2.resize(wk_, (wk // k, hk // k), interpolation=cv2.INTER_AREA)
    s = sigma / k
    num = cv2.GaussianBlur(xw, (0, 0), s, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(wk_, (0, 0), s, borderType=cv2.BORDER_REFLECT)
    out = num / np.maximum(den, np.float32(1e-6))
    empty = den <= 1e-3
    if empty.any():  # far from any weight: the weighted mean of the whole image
        out[empty] = float(xw.sum() / max(float(wk_.sum()), 1e-6))  # the area-averaged copy keeps the mean
    if k > 1:  # pixel centres line up: small px i spans full px k*i .. k*i+k-1
        out = cv2.resize(out, (wk, hk), interpolation=cv2.INTER_LINEAR)
    if (hk, wk) != (h, w):
        full = np.empty((h, w), np.float32)
        full[:hk, :wk] = out
        full[:hk, wk:] = out[:, -1:]
        full[hk:] = full[hk - 1]
        out = full
    return out


def _candidate_components(snr: np.ndarray, resid: np.ndarray, skin: np.ndarray,
                          ex_work: np.ndarray | None, cfg: SegmentConfig, work: np.ndarray | None = None,
                          bruise: np.ndarray | None = None, overlay: np.ndarray | None = None):
    """Hysteresis components of the SNR map that look like spots: (bbox, mask crop) in working px.

    `work`: the working image (RGB), for the bright-overlay test (none without it). `bruise`: where
    the SNR is a bruise's (_snr_map); a component mostly of it is one spot, not split at its maxima.
    `overlay`: a coloured overlay's letters (_overlay); a weak component (peak SNR under 2.5 x
    high_snr) with a quarter of its rim on them is a shred of a letter's edge, not a spot (the shreds
    of a yellow date stamp measured 0.43-0.62 and SNR 6-8; spots touching it 0.21-0.38 and SNR 140
    or more; a spot in a letter's counter has more than half its rim on it).
    """
    low = (snr > cfg.low_snr).astype(np.uint8)
    if ex_work is not None and ex_work.any():
        # cut where the reference is, grown by 3 working px (its blurred edge), instead of dropping
        # every component that reaches it: hairs link spots to the reference, and to each other
        ex8 = ex_work.astype(np.uint8)
        low[cv2.dilate(ex8, np.ones((7, 7), np.uint8)) > 0] = 0
        _cut_edge_strips(low, ex8, cfg)
    n, lab, stats, cents = cv2.connectedComponentsWithStats(low, connectivity=8)
    if n <= 1:
        return []
    on = np.flatnonzero(low)  # per component maxima over its own pixels only (a few % of the image)
    ids = lab.ravel()[on]
    peak = np.zeros(n, np.float32)
    np.maximum.at(peak, ids, snr.ravel()[on])
    cpeak = np.zeros(n, np.float32)
    np.maximum.at(cpeak, ids, resid.ravel()[on])
    out = []
    keep = (peak >= cfg.high_snr) & (cpeak >= cfg.min_contrast)
    keep[0] = False
    for i in np.flatnonzero(keep):
        x, y, bw, bh, area = stats[i]
        cx, cy = cents[i]
        if not skin[min(int(round(cy)), skin.shape[0] - 1), min(int(round(cx)), skin.shape[1] - 1)]:
            continue
        mask = lab[y:y + bh, x:x + bw] == i
        if area >= 6 and _elongation(mask) > cfg.max_elongation:
            # a hair, a crease, or a flushed strip of skin with spots on it: its strong round cores stay
            for sx, sy, sub in _round_cores(mask, snr[y:y + bh, x:x + bw], float(peak[i]), cfg):
                box = (int(x + sx), int(y + sy), sub.shape[1], sub.shape[0])
                if not skin[box[1] + sub.shape[0] // 2, box[0] + sub.shape[1] // 2]:
                    continue  # as for a whole component: its centre must lie on skin
                width = _width(sub)
                out.append(_tight(box[0], box[1], sub) + (box, sub, n + len(out), width, width))
            continue
        # a clear spot beside a letter has part of its rim on it; skin framed by text is not that clear,
        # nor that wide: its components measured SNR 16 and 14 px at most (web copies with watermarks),
        # pieces of a red pen line in a letter's counter SNR 27-38 but 6-7 px, purpuras under a word 43, 33 px.
        # From half as clear, clearness and width trade off (SNR x width, as a matched filter's SNR grows
        # with a spot's width): the pieces of a petechia that two light hairs cut (SNR about 40, 10-12 px)
        # have much of their rim on the pale hairs, and were dropped as framed skin. A piece that dark-red is
        # blood whatever its SNR (clear_spot_contrast): pieces of a petechia under three light hairs, about 5 px
        # and SNR 25-36, measured about 1 in the blood index; the framed skin dropped on watermarked web
        # copies (932000.., 17 components) 0.28 at most
        c_width = _width(mask)
        clear = float(peak[i]) >= cfg.clear_spot_snr or float(cpeak[i]) >= cfg.clear_spot_contrast or (
            float(peak[i]) >= 0.5 * cfg.clear_spot_snr
            and float(peak[i]) * c_width >= 0.5 * cfg.clear_spot_snr * cfg.wide_spot_px)
        rim_limit = 0.5 if clear else cfg.max_bright_rim
        if work is not None and _bright_rim(lab, i, (x, y, bw, bh), snr, work, ex_work, skin, cfg) > rim_limit:
            continue
        if (overlay is not None and float(peak[i]) < 2.5 * cfg.high_snr
                and _on_overlay(lab, i, (x, y, bw, bh), overlay) > 0.25):
            continue
        one = bruise is not None and bruise[y:y + bh, x:x + bw][mask].mean() > 0.5
        subs = [mask] if one else _split_by_maxima(mask, snr[y:y + bh, x:x + bw], cfg.high_snr)
        for sub in subs:
            out.append(_tight(int(x), int(y), sub) + (((int(x), int(y), int(bw), int(bh)), sub, i,
                                                       c_width if len(subs) == 1 else _width(sub), c_width)))
    return out


def _cut_edge_strips(low: np.ndarray, ex8: np.ndarray, cfg: SegmentConfig) -> None:
    """Zero (in place) the long strips of `low` under 5 px wide within 7 px of the reference `ex8`.

    The rest of a reference's blurred or shaded edge runs along it as a thin strip; one joined a
    purpura at a ruler's corner into a long component, taken for a hair. Thin parts that are not
    long (petechiae beside the reference) stay.
    """
    near = cv2.dilate(ex8, np.ones((15, 15), np.uint8)) > 0
    thick = cv2.morphologyEx(low, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))) > 0
    thin = (near & ~thick & (low > 0)).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(thin, connectivity=8)
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area >= 6 and _elongation(lab[y:y + h, x:x + w] == i) > cfg.max_elongation:
            low[y:y + h, x:x + w][lab[y:y + h, x:x + w] == i] = 0


def _round_cores(mask: np.ndarray, snr: np.ndarray, peak: float, cfg: SegmentConfig) -> list:
    """The round high-SNR cores inside an elongated component: (x, y, bool mask) in its box.

    Hysteresis again at a level well above the strip's own: a third of its peak SNR, at least twice
    high_snr and three times its median (a spot stands out of the strip it lies on; the bumps along
    a hair or a shadowed skin edge do not). A core that is itself elongated is still a hair or a crease.

    A row of separate spots (petechiae along a cuff line or a scratch), joined only by their blurred
    rims, is most of its component, so its median SNR is theirs and that level finds nothing: then
    the pieces above a third, a half or 0.6 of the peak (closer spots part higher up) are the spots,
    if there are three or more, all round, and they fill 40 % of the component (a hair or a beaded
    line stays one long piece). Spots that bulge out of the strip are added whatever their SNR
    (_blob_cores)."""
    dist, strip = _strip_dist(mask)  # shared by both searches
    out = _strip_cores(mask, snr, peak, strip, cfg)
    return out + _blob_cores(mask, snr, out, dist, strip, cfg)


def _strip_cores(mask: np.ndarray, snr: np.ndarray, peak: float, strip: float, cfg: SegmentConfig) -> list:
    """_round_cores' search by SNR level: the cores that stand out of the strip's own SNR (`strip`:
    the strip's width, _strip_dist)."""
    level = max(2.0 * cfg.high_snr, peak / 3.0, 3.0 * float(np.median(snr[mask])))
    out, _ = _cores_above(mask, snr, level, cfg)
    if out:
        return out
    # a hair across a spot cuts its core into halves, each too long to pass: bridged across a cut a
    # few px wide they are one round core again (a hair's own bumps bridge into a long piece, still out).
    # Two hairs crossing on a spot cut it into caps thinner than halves, across a crossing wider than
    # one hair: bridged twice as far
    for bridge in (cfg.core_bridge_px, 2 * cfg.core_bridge_px):
        out, _ = _cores_above(mask, snr, level, cfg, bridge_px=bridge)
        if out:
            return out
    wide = _wide_cores(mask, snr, max(2.0 * cfg.high_snr, 0.5 * peak), strip, cfg)
    if wide:
        return wide
    for frac in (1 / 3, 0.5, 0.6):
        row_level = max(2.0 * cfg.high_snr, frac * peak)
        if row_level == level:
            continue  # searched just above, with no round piece
        row, pieces = _cores_above(mask, snr, row_level, cfg)
        if len(row) >= 3 and len(row) == pieces and sum(int(s.sum()) for *_, s in row) >= 0.4 * mask.sum():
            return row
    return []


# _wide_cores: a core is a spot on its strip when this many times as wide as the strip
WIDE_CORE_STRIPS = 3.0


def _wide_cores(mask: np.ndarray, snr: np.ndarray, level: float, strip: float, cfg: SegmentConfig) -> list:
    """Round pieces above `level` (half the peak) at least WIDE_CORE_STRIPS x as wide as the strip.

    A dark hair on light skin has nearly a spot's SNR: three times the strip's median SNR then lies
    above the spot's own peak, and a 48 px spot under a hair across the frame was not found at all.
    A hair's bumps are about as wide as the hair; the strip's width is twice the median of its
    distance transform along its ridge (`strip`, _strip_dist)."""
    if strip <= 0:
        return []
    pieces, _ = _cores_above(mask, snr, level, cfg)
    return [p for p in pieces if _width(p[2]) >= WIDE_CORE_STRIPS * strip]


def _strip_dist(mask: np.ndarray) -> tuple[np.ndarray, float]:
    """A component's distance transform and its strip's width: twice the median distance on its ridge."""
    dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    ridge = (dist >= cv2.dilate(dist, np.ones((3, 3), np.uint8))) & mask
    return dist, 2.0 * float(np.median(dist[ridge])) if ridge.any() else 0.0


# _blob_cores: a bulge of a strip is a spot when its inscribed circle is this many times the strip's width
BLOB_STRIPS = 2.0


def _blob_cores(mask: np.ndarray, snr: np.ndarray, found: list, dist: np.ndarray, strip: float,
                cfg: SegmentConfig) -> list:
    """Spots on a strip that bulge out of it, beside the cores found: round pieces above half their own peak.

    The level of _strip_cores is set by the strip's brightest spot and by its median: a 1.8 mm
    purpura on a red scratch that also ran through a darker petechia peaked at 44, under three times
    the scratch's median SNR (16), and was lost. A bulge at least BLOB_STRIPS x as wide as the strip
    (its inscribed circle, in the component's own outline) is a spot whatever its SNR; a hair's bumps
    and crossings are not that wide. Bulges on a core already found are that core.
    `dist`, `strip`: the component's distance transform and strip width (_strip_dist)."""
    if strip <= 0:
        return []
    taken = np.zeros(mask.shape, bool)
    for x, y, sub in found:
        taken[y:y + sub.shape[0], x:x + sub.shape[1]] |= sub
    n, lab, _, _ = cv2.connectedComponentsWithStats((dist >= 0.5 * BLOB_STRIPS * strip).view(np.uint8), connectivity=8)
    out = []
    for j in range(1, n):
        bulge = lab == j
        if (bulge & taken).any():
            continue
        at = np.unravel_index(int(np.argmax(np.where(bulge, snr, -np.inf))), snr.shape)
        top = float(snr[at])
        if top < 2.0 * cfg.high_snr:
            continue
        _, pl = cv2.connectedComponents(((snr > 0.5 * top) & mask & ~taken).view(np.uint8), connectivity=8)
        piece = pl == pl[at]
        if _elongation(piece) <= cfg.max_lobe_elongation:
            box, sub = _tight(0, 0, piece)
            out.append((box[0], box[1], sub))
            taken |= piece
    return out


def _cores_above(mask: np.ndarray, snr: np.ndarray, level: float, cfg: SegmentConfig,
                 bridge_px: int = 0) -> tuple[list, int]:
    """The round pieces (x, y, bool mask) of a component above an SNR level, and how many pieces there are.

    `bridge_px` > 0: pieces closer than that (working px) count as one (a morphological closing)."""
    above = ((snr > level) & mask).astype(np.uint8)
    if bridge_px > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * bridge_px + 1,) * 2)
        above = cv2.morphologyEx(above, cv2.MORPH_CLOSE, k) & mask.astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(above, connectivity=8)
    out = []
    for j in range(1, n):
        x, y, w, h, area = stats[j]
        sub = lab[y:y + h, x:x + w] == j
        if area >= 2 and _elongation(sub) <= cfg.max_lobe_elongation:
            out.append((int(x), int(y), sub))
    return out, n - 1


def _bright_rim(lab: np.ndarray, i: int, box: tuple[int, int, int, int], snr: np.ndarray, work: np.ndarray,
                ex_work: np.ndarray | None, skin: np.ndarray, cfg: SegmentConfig) -> float:
    """How much of component i lies against a bright overlay: far less red than skin (SNR below
    -pale_snr) and 10 % brighter than the plain skin near it. The larger of two fractions:

    - of its 2 px rim on such pixels. Skin framed by white or yellow text (a watermark, a label) looks
      redder than the local background the text pulls down, and its sharpening halo darkens it;
    - for a weak component (peak SNR under 2.5 x high_snr) with overlay pixels on the skin within
      6 px: of that 6 px ring, on skin, whose SNR is below -pale_snr. A JPEG's chroma bleeds a few
      px out of a letter (pale, at the skin's brightness) and rings redder beyond it.

    A spot's rim is skin (or hair, which is darker). The reference (already excluded) does not count,
    nor does the bright background beyond the skin (a sheet beside a spot near the skin's edge).
    """
    x, y, bw, bh = box
    own_box = lab[y:y + bh, x:x + bw] == i
    level = 1.1 * _plain_level(snr, work, box, cfg)
    weak = float(snr[y:y + bh, x:x + bw][own_box].max()) < 2.5 * cfg.high_snr
    out = 0.0
    for g, on_skin in ((2, False), (6, True)) if weak else ((2, False),):
        win = (slice(max(0, y - g), y + bh + g), slice(max(0, x - g), x + bw + g))
        own = lab[win] == i
        rim = cv2.dilate(own.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * g + 1,) * 2)) > 0
        rim &= ~own
        if ex_work is not None:
            rim &= ~(cv2.dilate(ex_work[win].view(np.uint8), np.ones((9, 9), np.uint8)) > 0)
        if on_skin:
            rim &= skin[win]
        if not rim.any():
            continue
        pale = snr[win] < -cfg.pale_snr
        bright = pale & (work[win].astype(np.float32).mean(axis=2) > level)
        if not on_skin:
            out = max(out, float(bright[rim].mean()))
        elif int((bright & rim).sum()) >= 3:
            out = max(out, float(pale[rim].mean()))
    return out


def _on_overlay(lab: np.ndarray, i: int, box: tuple[int, int, int, int], overlay: np.ndarray) -> float:
    """The share of component i's 1 px outer rim on a coloured overlay (_overlay)."""
    x, y, bw, bh = box
    win = (slice(max(0, y - 1), y + bh + 1), slice(max(0, x - 1), x + bw + 1))
    own = (lab[win] == i).view(np.uint8)
    rim = (cv2.dilate(own, np.ones((3, 3), np.uint8)) > 0) & (own == 0)
    return float(overlay[win][rim].mean()) if rim.any() else 0.0


def _plain_level(snr: np.ndarray, work: np.ndarray, box: tuple[int, int, int, int], cfg: SegmentConfig) -> float:
    """Median brightness of the plain skin (|SNR| < low_snr) within 8 px of a box: a spot in the hole
    of a letter has no plain skin on its own rim, so it is looked for in a wider window."""
    x, y, bw, bh = box
    win = (slice(max(0, y - 8), y + bh + 8), slice(max(0, x - 8), x + bw + 8))
    calm = np.abs(snr[win]) < cfg.low_snr
    lum = work[win].astype(np.float32).mean(axis=2)
    return float(_median(lum[calm] if calm.any() else lum.ravel()))


# _climbed_core: a seed's core is climbed from only when it is this many full-res px or more (a petechia's core
# of a few px beside a darker spot it touches climbed to it and was lost), the top lies within this fraction
# of the radius of the seed's own half-way region from its centre (a spot beside a darker one lies off it),
# and the top's region above 0.75 x its height is this share of the region above half of it or more
# (a mottle on a broad bruise is a small part of it; a gaussian's is 0.42)
CLIMB_MIN_CORE_PX = 16
CLIMB_MAX_OFF_CENTRE = 0.3
CLIMB_MIN_TOP_SHARE = 0.25
# ...and the top's colour (optical density over the skin's) is this near the core's in direction (cosine):
# the yellow-brown rim of an old bruise round its purple centre is another pigment, not its flank
CLIMB_MIN_HUE_COS = 0.97


def _climbed_core(bi: np.ndarray, core: np.ndarray, peak: float, climb: float, f: int = 1) -> np.ndarray | None:
    """The top of the soft spot whose flank a seed's core lies on, or None when the core is a top.

    The working image seeds a soft spot (pigment fading out like a gaussian) on its flanks too. A
    flank core's peak is lower than the spot's, and half of it outlines the spot far too wide; the
    widest outline then won _dedupe. On gaussian spots of 3-8 mm at 0.03-0.1 mm/px (bench_hair's
    soft spots) the area-equivalent diameter came out 1.2-1.7x the half-pigment diameter.
    The top is the map's maximum over what the core reaches above 0.75 x its peak (`f`: full-res px
    per crop px); it is climbed to when it is `climb` x the peak or more and the CLIMB_* limits hold.
    The new core is the top's region above 0.75 x its height, as a seed's core is."""
    if climb <= 0 or np.count_nonzero(core) * f * f < CLIMB_MIN_CORE_PX:
        return None
    _, lab = cv2.connectedComponents((bi > 0.75 * peak).astype(np.uint8), connectivity=8)
    ids = np.unique(lab[core & (lab > 0)])
    if ids.size == 0:
        return None
    at = np.unravel_index(int(np.argmax(np.where(np.isin(lab, ids), bi, -np.inf))), bi.shape)
    top = float(bi[at])
    if top < climb * peak:
        return None
    _, lab = cv2.connectedComponents((bi > 0.5 * peak).astype(np.uint8), connectivity=8)
    ys, xs = np.nonzero(np.isin(lab, np.unique(lab[core & (lab > 0)])))
    if not xs.size or math.hypot(xs.mean() - at[1], ys.mean() - at[0]) > \
            CLIMB_MAX_OFF_CENTRE * math.sqrt(xs.size / math.pi):
        return None
    _, lab = cv2.connectedComponents((bi > 0.5 * top).astype(np.uint8), connectivity=8)
    half = np.count_nonzero(lab == lab[at])
    _, lab = cv2.connectedComponents((bi > 0.75 * top).astype(np.uint8), connectivity=8)
    region = lab == lab[at]
    return region if np.count_nonzero(region) >= CLIMB_MIN_TOP_SHARE * half else None


def _width(mask: np.ndarray) -> float:
    """Twice the largest inscribed radius of a bool mask (px): the width of its thickest part."""
    return 2.0 * float(cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3).max())


def _seed_centre(box: tuple[int, int, int, int], mask: np.ndarray, ws: float) -> tuple[float, float]:
    """Centre of a working-image seed mask, full-res px."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return (box[0] + box[2] / 2) * ws, (box[1] + box[3] / 2) * ws
    return (box[0] + float(xs.mean()) + 0.5) * ws - 0.5, (box[1] + float(ys.mean()) + 0.5) * ws - 0.5


def _tight(x: int, y: int, sub: np.ndarray) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """(bbox, mask) of a sub-mask cut to its own extent (working px)."""
    ys, xs = np.nonzero(sub)
    if xs.size == 0:
        return (x, y, sub.shape[1], sub.shape[0]), sub
    a, b, c, d = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    return (x + a, y + c, b - a, d - c), sub[c:d, a:b]


def _split_by_maxima(mask: np.ndarray, snr: np.ndarray, high: float) -> list[np.ndarray]:
    """One sub-mask per SNR maximum of a component, so each spot of a cluster gets its own core."""
    if mask.sum() < 9:
        return [mask]
    s = np.where(mask, snr, 0).astype(np.float32)
    peaks = (s >= cv2.dilate(s, np.ones((5, 5), np.uint8))) & (s >= high) & mask
    n, lab, _, cents = cv2.connectedComponentsWithStats(peaks.astype(np.uint8), connectivity=8)
    if n <= 2:
        return [mask]
    ys, xs = np.nonzero(mask)
    owner = _nearest(xs, ys, cents[1:])
    subs = []
    at = np.argsort(owner, kind="stable")
    for sel in np.split(at, np.cumsum(np.bincount(owner, minlength=n - 1))[:-1]):
        sub = np.zeros_like(mask)
        sub[ys[sel], xs[sel]] = True
        subs.append(sub)
    return subs


def _nearest(xs: np.ndarray, ys: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (x, y) of each pixel, the lowest index on a tie.

    Many pixels of a large blotch and many maxima: a k-d tree finds the 8 nearest centres, and
    the exact distances decide among them where several are about equally near.
    """
    if len(centres) * xs.size <= 200_000:
        return np.argmin(np.stack([np.hypot(xs - cx, ys - cy) for cx, cy in centres]), axis=0)
    k = min(len(centres), 8)
    dist, idx = cKDTree(centres).query(np.c_[xs, ys], k=k)
    owner = idx[:, 0]
    tie = np.flatnonzero(dist[:, 1] - dist[:, 0] < 1e-6)
    if tie.size:  # np.hypot to each of the near-equal centres, the lowest index among the nearest
        i = idx[tie]
        d = np.hypot(xs[tie, None] - centres[i, 0], ys[tie, None] - centres[i, 1])
        d[dist[tie] - dist[tie, :1] >= 1e-6] = np.inf
        owner[tie] = np.where(d == d.min(axis=1, keepdims=True), i, len(centres)).min(axis=1)
    return owner


def _solidity(mask: np.ndarray) -> float:
    """Pixels of a mask over the pixel area of its convex hull (1 for a disc or an ellipse)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return 1.0
    hull = cv2.convexHull(np.concatenate(contours))
    # a hull through pixel centres misses half a pixel all round: half its perimeter, plus 1
    return float(np.count_nonzero(mask)) / (cv2.contourArea(hull) + 0.5 * cv2.arcLength(hull, True) + 1.0)


def _elongation(mask: np.ndarray) -> float:
    """sqrt of the ratio of the principal second moments of a mask (1 for a disc)."""
    m = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    if m["m00"] <= 0:
        return 1.0
    mu20, mu02, mu11 = m["mu20"] / m["m00"], m["mu02"] / m["m00"], m["mu11"] / m["m00"]
    d = math.sqrt(max(0.0, ((mu20 - mu02) / 2) ** 2 + mu11 ** 2))
    l1, l2 = (mu20 + mu02) / 2 + d, (mu20 + mu02) / 2 - d
    return math.sqrt((l1 + 1 / 12) / (l2 + 1 / 12))


# ----------------------------------------------------------------------------------------------
# full-resolution refinement


RING_OFF_SKIN_FRAC = 0.25  # a bruise-sized spot's ring this much off the skin keeps only its part on it


class _RingExclusion(NamedTuple):
    """Where a spot's skin ring may not lie: the reference (full-res bool, or None) and, for a
    bruise-sized spot whose ring lies RING_OFF_SKIN_FRAC or more off the skin (_refine), what is not
    skin (working image bool, or None when no skin was found).

    A large spot's crop reaching past the limb put its ring partly on the cloth beyond, whose low
    blood index made the whole limb's skin "the spot" (a 38 mm bruise outlined as 182 mm, clinic dev
    957014: 38 % of the ring off the skin). A small spot's ring keeps the limb's edge: on the skin
    alone, the shaded rim of the limb stood out of it as spots (clinic dev 957007: 9 more on
    nothing); so does a cluster's ring just touching it (8 % off: its split moved).
    """

    full: np.ndarray | None
    off_skin: np.ndarray | None
    ws: float  # full-res px per working px
    overlay: np.ndarray | None = None  # a coloured overlay's letters (working image bool, _overlay): never skin

    def reference(self, x0: int, y0: int, x1: int, y1: int, f: int) -> np.ndarray | None:
        """The reference over full-res box [x0, x1) x [y0, y1), area-reduced by f."""
        if self.full is None:
            return None
        ex = self.full[y0:y1, x0:x1]
        if f > 1:
            ex = cv2.resize(ex.astype(np.uint8), ((x1 - x0) // f, (y1 - y0) // f), interpolation=cv2.INTER_AREA) > 0
        return ex

    def not_skin(self, x0: int, y0: int, x1: int, y1: int, f: int) -> np.ndarray | None:
        """What is not skin over the same box, on its px (nearest working px)."""
        return self._at(self.off_skin, x0, y0, x1, y1, f)

    def overlaid(self, x0: int, y0: int, x1: int, y1: int, f: int) -> np.ndarray | None:
        """Where a coloured overlay lies over the same box, on its px (nearest working px)."""
        return self._at(self.overlay, x0, y0, x1, y1, f)

    def _at(self, work_mask: np.ndarray | None, x0: int, y0: int, x1: int, y1: int, f: int) -> np.ndarray | None:
        if work_mask is None:
            return None
        h, w = work_mask.shape
        xs = np.clip(((x0 + (np.arange((x1 - x0) // f) + 0.5) * f) / self.ws).astype(int), 0, w - 1)
        ys = np.clip(((y0 + (np.arange((y1 - y0) // f) + 0.5) * f) / self.ws).astype(int), 0, h - 1)
        return work_mask[np.ix_(ys, xs)]


class _Crop(NamedTuple):
    """A region's full-res crop, area-reduced by f, with its exclusion mask and blurred pigment index."""

    x0: int
    y0: int
    x1: int
    y1: int
    f: int
    margin: int
    rgb: np.ndarray
    exclude: np.ndarray | None
    bi: np.ndarray


def _crop(image: np.ndarray, box: tuple[int, int, int, int], width: float, ws: float, exclude: _RingExclusion | None,
          cfg: SegmentConfig) -> _Crop | None:
    """The crop a working-image region is refined on (None when too small); `width` decides its reduction."""
    H, W = image.shape[:2]
    x, y, bw, bh = box
    size = max(bw, bh) * ws
    margin = int(max(6, 0.6 * size, 1.5 * ws))
    x0, y0 = max(0, int(x * ws) - margin), max(0, int(y * ws) - margin)
    x1, y1 = min(W, int(math.ceil((x + bw) * ws)) + margin), min(H, int(math.ceil((y + bh) * ws)) + margin)
    # a thick spot is outlined on the crop area-reduced by f (its size error in % barely changes);
    # thin shapes (hairs, pen lines) keep full resolution, which tells them apart
    f = max(1, int(width * ws // cfg.reduce_above_px)) if cfg.reduce_above_px > 0 else 1
    x1, y1 = x0 + (x1 - x0) // f * f, y0 + (y1 - y0) // f * f
    if x1 - x0 < 3 * f or y1 - y0 < 3 * f:
        return None
    crop = image[y0:y1, x0:x1]
    if f > 1:
        crop = cv2.resize(crop, ((x1 - x0) // f, (y1 - y0) // f), interpolation=cv2.INTER_AREA)
    ex_crop = exclude.reference(x0, y0, x1, y1, f) if exclude is not None else None
    bi = cv2.GaussianBlur(pigment_index(crop), (0, 0), 0.7)
    return _Crop(x0, y0, x1, y1, f, margin, crop, ex_crop, bi)


def _refine(image: np.ndarray, box: tuple[int, int, int, int], wmask: np.ndarray, width: float, ws: float,
            mm_per_px: float | None, exclude: _RingExclusion | None, cfg: SegmentConfig,
            cut: _Crop | None = None) -> tuple[list[tuple[Candidate, bool]], bool, bool]:
    """Re-segment one working-image candidate on a full-res crop at its own half-maximum contrast.

    Returns the spots found with, for each, whether it holds this candidate's own peak (its outline
    was then drawn at its own contrast; others met here are better measured from their own seed),
    whether a spot met reaches an edge of the crop that is not the image's (it may be cut off), and
    whether every spot kept does (only pieces of something larger were seen).
    `width`: the working-image width (px) of the region refined, which decides the crop's reduction;
    `cut`: that crop when already made (the lobes of one component share their component's crop).
    """
    H, W = image.shape[:2]
    x, y, bw, bh = box
    size = max(bw, bh) * ws
    cut = cut or _crop(image, box, width, ws, exclude, cfg)
    if cut is None:
        return [], False, False
    x0, y0, x1, y1, f, margin, crop, ex_crop, bi = cut
    cs = ws / f  # crop px per working px
    size_c = size / f
    # the working candidate, in crop px, grown by one working px: where the spot's core is
    seed = np.zeros(bi.shape, np.uint8)
    sx0, sy0 = int(round((x * ws - x0) / f)), int(round((y * ws - y0) / f))
    sw, sh = max(1, int(round(bw * cs))), max(1, int(round(bh * cs)))
    up = cv2.resize(wmask.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST)
    _paste(seed, up, sx0, sy0)
    grow = max(1, int(round(cs)))
    away = cv2.distanceTransform((seed == 0).astype(np.uint8), cv2.DIST_L2, 3)  # px from the candidate
    seed = (away <= grow).astype(np.uint8)
    overlaid = exclude.overlaid(x0, y0, x1, y1, f) if exclude is not None else None
    if overlaid is not None and (seed.view(bool) & ~overlaid).any():
        seed[overlaid] = 0  # a letter beside the spot is "redder" in the pigment index: not its core
    if not seed.any():  # the seed fell outside its crop (a speck at the crop's rounding edge)
        return [], False, False
    ring = away > grow + (margin / f) // 2
    if ex_crop is not None:
        ring &= ~ex_crop
    if overlaid is not None and np.count_nonzero(ring & ~overlaid) >= 8:
        ring &= ~overlaid  # nor is its colour the skin's: the ring's median would lean to it
    off_skin = (exclude.not_skin(x0, y0, x1, y1, f)
                if exclude is not None and size >= _min_bruise_px(mm_per_px, image.shape, cfg) else None)
    if off_skin is not None and np.count_nonzero(ring & off_skin) >= RING_OFF_SKIN_FRAC * np.count_nonzero(ring):
        ring &= ~off_skin  # a bruise-sized spot's ring reaching well past the limb: its part on the skin only
    if ring.sum() < 8:
        ring = seed == 0
    if ring.sum() < 8:
        return [], False, False
    bg_bi = float(_median(_sample(bi[ring])))
    vmax = float(bi[seed > 0].max())
    if vmax - bg_bi < cfg.min_contrast:  # not red enough: a purple-blue bruise (seeded by the purple
        bi = cv2.GaussianBlur(purple_index(crop), (0, 0), 0.7)  # index, _snr_map), or no spot
        bg_bi = float(_median(_sample(bi[ring])))
        vmax = float(bi[seed > 0].max())
        if vmax - bg_bi < cfg.min_contrast:
            return [], False, False
        if size < _min_bruise_px(mm_per_px, image.shape, cfg):
            return [], True, True  # a lobe of a bruise, or nothing: its whole component decides
    core = (seed > 0) & (bi > bg_bi + 0.75 * (vmax - bg_bi))
    bi_contrast = vmax - bg_bi
    od_w = float(np.clip((size - cfg.od_from_px) / cfg.od_from_px, 0.0, 1.0))
    smooth = max(0.7, cfg.smooth_frac * size_c)
    bi, d_od, curve = colour_contrast(crop, ring, core, smooth, od_w)
    mm_c = mm_per_px * f if mm_per_px else None  # mm per crop px
    # nor is a spot outlined into the reference: a red sticker beside a purpura was taken into it
    not_spot = overlaid if ex_crop is None else (ex_crop if overlaid is None else overlaid | ex_crop)
    bi = _as_seen(bi, crop, mm_c, not_spot, cfg)
    # a few px wide, a spot's colour is greyed by JPEG's 2 x 2 chroma blocks and the blur: the ink test
    # asks for less green excess, down to half for a seed of half green_excess_full_px or less
    ge = cfg.min_green_excess * float(np.clip(size / cfg.green_excess_full_px, 0.5, 1.0))
    if d_od[1] - d_od[0] <= ge * float(np.abs(d_od).sum()):
        return [], False, False  # absorbs red as much as green: ink (tattoo, pen), not blood or melanin
    if _darkening(d_od) < cfg.min_darkening * float(d_od[1] - d_od[0]):
        return [], False, False  # a hue shift at the skin's brightness: a JPEG chroma halo, not a pigment
    bg = 0.0
    if not core.any():
        peak = float(bi[seed > 0].max())
    elif size_c < cfg.small_spot_px:  # the half-maximum deblur table (_HALF_MAX_PX) is for half the peak
        peak = float(bi[core].max())
    else:
        peak = _percentile(bi[core], cfg.peak_percentile)
    if peak <= 0:
        return [], False, False
    top = _climbed_core(bi, core, peak, cfg.core_climb, f) if size_c >= cfg.small_spot_px else None
    if top is not None:  # the seed lay on a soft spot's flank: outlined from its top, if of its colour
        climbed = colour_contrast(crop, ring, top, smooth, od_w)
        d2 = climbed[1]
        if float(d_od @ d2) >= CLIMB_MIN_HUE_COS * float(np.linalg.norm(d_od) * np.linalg.norm(d2)):
            core = top
            bi, d_od, curve = climbed
            bi = _as_seen(bi, crop, mm_c, not_spot, cfg)
            peak = _percentile(bi[core], cfg.peak_percentile)
            if peak <= 0:
                return [], False, False
    level = bg + cfg.half_level * (peak - bg)
    U = int(np.clip(round(cfg.crop_upsample_px / max(size_c, 1.0)), 2 if f > 1 else 1, cfg.max_upsample))
    big = bi if U == 1 else cv2.resize(bi, None, fx=U, fy=U, interpolation=cv2.INTER_LINEAR)
    py, px = np.unravel_index(int(np.argmax(np.where(core, bi, -np.inf))), bi.shape)
    own_at = (py * U + U // 2, px * U + U // 2)  # this candidate's peak, upsampled px
    inner = ((y0 > 0, slice(0, 1), slice(None)), (y1 < H, slice(-1, None), slice(None)),
             (x0 > 0, slice(None), slice(0, 1)), (x1 < W, slice(None), slice(-1, None)))
    basins = _valley_basins(bi, ring, core, peak, mm_c, cfg)
    raised_px = math.pi * (0.5 * RAISED_MAX_MM / mm_c * U) ** 2 if mm_c else math.inf  # upsampled px
    if basins is not None:
        parts = []
        for basin, b_peak in basins:
            basin_big = basin if U == 1 else cv2.resize(basin, None, fx=U, fy=U, interpolation=cv2.INTER_NEAREST)
            fg = ((big > cfg.half_level * b_peak) & (basin_big > 0)).astype(np.uint8)
            parts.append((_holes_filled(_largest(fg), HOLE_MAX_FRAC, raised_px), b_peak))
    else:
        fg = _holes_filled((big > level).astype(np.uint8), HOLE_MAX_FRAC, raised_px)
        n, lab, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        core_big = core.astype(np.uint8) if U == 1 else cv2.resize(core.astype(np.uint8), None, fx=U, fy=U,
                                                                   interpolation=cv2.INTER_NEAREST)
        hit = [i for i in np.unique(lab[(core_big > 0) & (fg > 0)]) if i > 0]
        parts = [((lab == i).astype(np.uint8), peak) for i in hit]
    out: list[tuple[Candidate, bool]] = []
    clipped, whole = False, False
    for comp, p_peak in parts:
        if not comp.any():
            continue
        clipped |= _reaches(comp, inner)
        comp, dist = _cut_appendages(comp, U, cfg.appendage_frac)
        comp, dist = _without_strip(comp, dist, U, inner, cfg)
        parts = _split(comp, dist, U, mm_c, cfg)
        limit = _piece_thinness_limit(comp, dist, parts, cfg)
        for part in parts:
            c = _candidate_from_mask(part, big, U, (x0, y0, f), bg, p_peak, bi_contrast, limit,
                                     dist if part is comp else None, cfg.outline_min_wavelength_px,
                                     cfg.camera_blur_px, _od_level(curve, p_peak, cfg.half_level), bi)
            if c is not None:
                out.append((c, bool(part[own_at])))
                whole |= not _reaches(part, inner)
    return out, clipped, clipped and not whole


def _as_seen(t: np.ndarray, crop: np.ndarray, mm_c: float | None, overlaid: np.ndarray | None,
             cfg: SegmentConfig) -> np.ndarray:
    """A crop's contrast map with dark hairs walled in by the spot filled (_hairs_filled) and zero or
    less on `overlaid` (a coloured overlay, the reference): a spot is outlined where it shows, not on a
    letter or a sticker."""
    if cfg.fill_hairs:
        t = _hairs_filled(crop, t, mm_c, cfg)
    if overlaid is not None:
        t[overlaid] = np.minimum(t[overlaid], 0.0)
    return t


def _hairs_filled(crop: np.ndarray, t: np.ndarray, mm_c: float | None, cfg: SegmentConfig) -> np.ndarray:
    """The contrast map `t` of a spot's crop with the dark hairs that cross the spot filled in.

    The map is drawn on the spot's hue, so a dark hair reads as skin, and several hairs across a
    purpura cut it into pieces, each outlined and counted as a petechia of its own (generator dev
    photo 2030: an 8 mm purpura under a hair net came out as 8 pieces). A hair is a thin dark line:
    a black-hat of the crop's brightness (a square about two cfg.hair_width_mm across) at least 3
    squares long. Light hairs on dark skin are not looked for.
    Its pixels take the map's morphological closing across a little more than its measured width,
    a stretch of it (where the closing is 0.5 or more) whole or not at all: when at least half of it
    is walled in by the spot (cfg.hair_fill_support of the pixels within that width again are the
    spot's, map >= 0.5). A hair beside a spot, or in the gap between two petechiae, stays as it is.
    `mm_c`: mm per crop px (None without a scale: hairs taken 1.5 px wide).
    """
    # a square about two cfg.hair_width_mm across (the thickest hairs): four, as before, was as wide
    # as a 1 mm petechia's crop was short at 0.03 mm/px, and no hair was looked for on it
    w = cfg.hair_width_mm / mm_c if mm_c else 1.5
    k = 2 * int(math.ceil(max(3.0, w))) + 1
    if max(t.shape) < 3 * k:
        return t
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    bh = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, np.ones((k, k), np.uint8)).astype(np.float32)
    some = _sample(bh.ravel())
    med = float(_median(some))
    sd = 1.4826 * float(_median(np.abs(some - med)))
    _, lab, stats, _ = cv2.connectedComponentsWithStats((bh > max(4.0, med + 4.0 * sd)).view(np.uint8),
                                                        connectivity=8)
    long = np.maximum(stats[:, 2], stats[:, 3]) >= 3 * k
    long[0] = False
    if not long.any():
        return t
    hair = long[lab]
    dt = cv2.distanceTransform(hair.view(np.uint8), cv2.DIST_L2, 3)
    kc = 2 * int(math.ceil(float(np.percentile(dt[hair], 90)))) + 3  # a little wider than the hair
    closed = cv2.morphologyEx(t, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kc, kc)))
    box = (2 * kc + 1, 2 * kc + 1)
    spot = cv2.blur(((t >= 0.5) & ~hair).astype(np.float32), box)
    other = cv2.blur((~hair).astype(np.float32), box)
    seed = hair & (spot >= cfg.hair_fill_support * np.maximum(other, 1e-3))
    if not seed.any():
        return t
    # a stretch of hair on the spot (where the closing holds it) is filled whole or not at all: filled
    # only in part, it left a thin bridge to the rim beyond the hair, which was then cut off as an appendage
    run = (hair & (closed >= 0.5)).view(np.uint8)
    n_run, lab_run = cv2.connectedComponents(run, connectivity=8)
    total = np.bincount(lab_run.ravel(), minlength=n_run)
    held = np.bincount(lab_run[seed], minlength=n_run)
    whole = held >= 0.5 * np.maximum(total, 1)
    whole[0] = False
    fill = whole[lab_run]
    return np.where(fill, closed, t).astype(np.float32)


def _cut_appendages(comp: np.ndarray, U: int, frac: float) -> tuple[np.ndarray, np.ndarray]:
    """Cut thin appendages (a hair or crease crossing the spot) off a spot's mask: a morphological
    opening with a disc of `frac` x the spot's largest inscribed radius keeps a round or oval
    spot whole and drops what is much thinner than it; the largest remaining piece is the spot.
    Returns the mask and its distance transform (L2, 5x5 mask)."""
    dist = cv2.distanceTransform(comp, cv2.DIST_L2, 5)
    r = int(frac * float(dist.max()))
    if frac <= 0 or r < 2 * U:
        return comp, dist
    # on a copy reduced to ~6 px per disc radius (a large elliptic kernel is slow), then the full mask
    # keeps its own pixels within one reduced px of the opened shape: the outline is not resampled
    f = min(1.0, 6.0 / r)
    h, w = comp.shape
    small = comp if f == 1.0 else (cv2.resize(comp.astype(np.float32), (max(1, round(w * f)), max(1, round(h * f))),
                                              interpolation=cv2.INTER_AREA) > 0.5).astype(np.uint8)
    rs = max(1, round(r * f))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rs + 1, 2 * rs + 1))
    opened = cv2.morphologyEx(small, cv2.MORPH_OPEN, k)
    if not opened.any():
        return comp, dist
    keep = cv2.dilate(_largest(opened), np.ones((3, 3), np.uint8))
    if f < 1.0:
        keep = cv2.resize(keep, (w, h), interpolation=cv2.INTER_NEAREST)
    comp = _largest(comp & keep)
    return comp, cv2.distanceTransform(comp, cv2.DIST_L2, 5)


def _reaches(mask: np.ndarray, inner: tuple) -> bool:
    """Does a crop's mask reach an edge of the crop that is not the image's? `inner`: _refine's
    (is that edge inner, rows, cols) for each of the four edges."""
    return any(mask[rows, cols].any() for is_inner, rows, cols in inner if is_inner)


def _without_strip(comp: np.ndarray, dist: np.ndarray, U: int, inner: tuple, cfg: SegmentConfig) -> tuple[np.ndarray, np.ndarray]:
    """A spot's mask without a broad strip that runs out of its crop (shaded or flushed skin along a
    limb's edge, beside the spot), when a stronger opening (strip_frac) leaves a spot inside the crop.

    _cut_appendages only drops what is much thinner than the spot; a strip of skin as wide as the
    spot's radius joined a 7.5 mm purpura into a 17 mm band along the limb's edge. A part that
    reaches an edge of its crop (not the image's) is opened again; the opened spot is taken when it
    no longer reaches one and keeps at least strip_keep of the part. A spot larger than its crop
    still reaches the edge after the opening, and is left as it was."""
    if cfg.strip_frac <= 0 or not _reaches(comp, inner):
        return comp, dist
    alt, alt_dist = _cut_appendages(comp, U, cfg.strip_frac)
    if _reaches(alt, inner) or alt.sum() < cfg.strip_keep * comp.sum():
        return comp, dist
    return alt, alt_dist


def _largest(fg: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a uint8 mask (the mask itself when it has one)."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 2:
        return fg
    return (lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)


def _valley_basins(t: np.ndarray, ring: np.ndarray, core: np.ndarray, peak: float, mm_per_px: float | None,
                   cfg: SegmentConfig) -> list[tuple[np.ndarray, float]] | None:
    """(basin mask, own peak contrast) per spot when the candidate's region holds several spots
    separated by contrast valleys (a petechial cluster); None when it is one spot.

    Splitting is for petechia-sized spots: when a part would be wider than max_valley_split_mm,
    the dips are the blotchy interior of one large spot (purpura, ecchymosis), not skin between spots.
    """
    tr = _sample(t[ring])
    noise = 1.48 * float(_median(np.abs(tr - _median(tr)))) if tr.size else 0.0
    low = max(cfg.flood_level * peak, cfg.split_noise_k * noise)
    region = t > low
    n, lab = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
    ids = np.unique(lab[core & region])
    ids = ids[ids > 0]
    if ids.size == 0:
        return None
    keep = np.zeros(n, bool)
    keep[ids] = True
    region = keep[lab]
    if _touches_frame(region):
        return None  # the spot may go on beyond the crop: judge it on its whole component's crop
    min_value = max(cfg.min_peak_frac * peak, 2 * low)
    peaks = contrast_peaks(t, region, min_value)
    if len(peaks) == 0:
        return None
    groups = group_by_valleys(peaks, t, cfg.split_dip_frac, cfg.split_noise_k * noise)
    # a pale spot has no peak, and may be paler than a peak must be: above the flood level by a noise sigma
    by_blobs, shoulders, alone = _blob_groups(t, region, peaks, groups, max(cfg.min_peak_frac * peak, low + noise),
                                              noise, mm_per_px, cfg)
    tries: list[tuple[np.ndarray, np.ndarray | None]] = [(by_blobs, None)]
    if alone.size:  # first with the blob-less peaks that dip to every spot as spots of their own, whose
        # basins (labels, as _basins numbers them) are walled in by those spots: not judged hemmed in
        apart = by_blobs.copy()
        apart[alone] = int(by_blobs.max()) + 1 + group_by_valleys(peaks[alone], t, cfg.blob_dip_frac,
                                                                  cfg.split_noise_k * noise)
        tries.insert(0, (apart, np.searchsorted(np.unique(apart), apart[alone]) + 1))
    for grouping, unjudged in tries:
        if len(shoulders) or len(np.unique(grouping)) > len(np.unique(groups)):
            basins, lab = _basins(t, region, peaks, grouping, shoulders, mm_per_px, cfg)
            # pieces of one spot mostly walled in by each other are a blotchy spot or a bruise that
            # hairs cross (their dips and the levels between them made blobs), not spots on skin
            if not _hemmed_in(lab, unjudged):
                return basins
    return _basins(t, region, peaks, groups, np.zeros((0, 4)), mm_per_px, cfg)[0]


def _basins(t: np.ndarray, region: np.ndarray, peaks: np.ndarray, groups: np.ndarray, shoulders: np.ndarray,
            mm_per_px: float | None,
            cfg: SegmentConfig) -> tuple[list[tuple[np.ndarray, float]] | None, np.ndarray | None]:
    """_valley_basins' split of `region` by flooding `t` from the peaks' groups and the shoulders,
    and the flood's labels (None when there is nothing to split)."""
    uniq = np.unique(groups)
    if uniq.size + len(shoulders) < 2:
        return None, None
    seeds = np.zeros(t.shape, np.int32)
    for (x, y, _), g in zip(peaks, groups):
        seeds[int(y), int(x)] = 1 + int(np.searchsorted(uniq, g))
    for k, (x, y, s, _) in enumerate(shoulders):  # a disc of the blob's own size: it starts level with its flank
        disc = np.zeros(t.shape, np.uint8)
        cv2.circle(disc, (int(x), int(y)), max(1, int(round(0.7 * s))), 1, -1)
        seeds[(disc > 0) & region & (seeds == 0)] = uniq.size + 1 + k
    lab = flood(t, seeds, region)
    max_area = _max_split_area(mm_per_px, cfg)
    out = []
    for k in range(1, uniq.size + len(shoulders) + 1):
        basin = lab == k
        vals = t[basin]
        if not vals.size:
            continue
        top = float(vals.max())
        b_peak = _percentile(vals[vals > 0.75 * top], cfg.peak_percentile)
        if float((vals > cfg.half_level * b_peak).sum()) > max_area:
            return None, lab
        out.append((basin.astype(np.uint8), b_peak))
    return out, lab


def _hemmed_in(lab: np.ndarray | None, unjudged: np.ndarray | None = None, limit: float = 0.6) -> bool:
    """Does a flooded basin (labels > 0, but those of `unjudged`) share over `limit` of its outline
    with the others? Touching spots meet at a neck; the pieces of one spot that hairs cut are walled
    in by each other."""
    if lab is None:
        return False
    k = np.ones((3, 3), np.uint8)
    x, y, w, h = cv2.boundingRect((lab > 0).view(np.uint8))
    lab = np.pad(lab[y:y + h, x:x + w], 1)
    ids = np.unique(lab[lab > 0])
    for i in ids if unjudged is None else np.setdiff1d(ids, unjudged):
        b = (lab == i).view(np.uint8)
        rim = (cv2.dilate(b, k) > 0) & (b == 0)  # the px just outside it
        if float((rim & (lab > 0)).sum()) > limit * float(rim.sum()):
            return True
    return False


BLOB_MAX_REGION_PX = 40_000  # _blob_groups: the largest region (crop px) searched for blobs (cost)


def _blob_groups(t: np.ndarray, region: np.ndarray, peaks: np.ndarray, groups: np.ndarray, min_value: float,
                 noise: float, mm_per_px: float | None, cfg: SegmentConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Valley groups of contrast peaks split by the spots' own blobs (split.spot_blobs), the blobs
    that hold no peak (pale spots on a darker one's flank), and the indices of the peaks without a
    blob that may be spots of their own (_peaks_alone), as (groups, shoulders, alone).

    A group's peaks inside two blobs are two spots when one blob is at most shoulder_max_level x as
    dark as the other (a level step) or the contrast dips by blob_dip_frac between them (touching
    spots' shared flank; an oval's ends are blobs too, with neither); its other peaks go with the
    nearest of them. A blob holding no peak is a spot where it is at most shoulder_max_level x its
    darker neighbour. Blob sizes are those of spots that are split at all (up to
    max_valley_split_mm across) and at most the region's own: a group holding a blob of the largest
    size tried is a spot at least that large, never split by its blobs. Looked at only where the
    half-maximum outline is not one round spot (most are, and blobs cost ~3 ms a crop).
    """
    none, nothing = np.zeros((0, 4)), np.zeros(0, np.int64)
    area = int(region.sum())
    if cfg.blob_min_response <= 0 or area > BLOB_MAX_REGION_PX:
        return groups, none, nothing  # (a region that large is no cluster of petechiae: a hair's net, a flush)
    tops = np.array([peaks[groups == g, 2].max() for g in groups])
    half = (t > 0.5 * float(tops.max())) & region
    if len(np.unique(groups)) == 1 and np.count_nonzero(half) > _max_split_area(mm_per_px, cfg):
        return groups, none, nothing  # one spot too large to split (a purpura, a bruise)
    if _elongation(half) <= 1.4 and _solidity(half) >= 0.85:
        return groups, none, nothing  # one round spot (most are): nothing to split, and blobs cost
    # sizes from the smallest up to the region's own (a blob's radius is 1.41 sigma)
    top = 0.5 * cfg.max_valley_split_mm / mm_per_px / math.sqrt(2) if mm_per_px else min(t.shape) / 6
    top = min(top, math.sqrt(area / math.pi))
    sigmas = [1.2 * math.sqrt(2) ** i for i in range(16) if 1.2 * math.sqrt(2) ** i <= max(1.2, top)]
    # the lower response at peaks only where the whole region is petechia-sized: the faint bumps of a
    # pale flush under two dots became blobs and cut it in two (test_petechiae_on_a_pale_flush_...)
    at_peaks = (cfg.blob_peak_min_response or None) if area <= _max_split_area(mm_per_px, cfg) else None
    blobs = spot_blobs(t.astype(np.float32), region, peaks, sigmas, min_response=cfg.blob_min_response,
                       min_strength=cfg.blob_noise_k * noise, min_value=min_value, tops=tops,
                       peak_min_response=at_peaks)
    if not len(blobs):
        return groups, none, nothing
    d = np.hypot(peaks[:, None, 0] - blobs[None, :, 0], peaks[:, None, 1] - blobs[None, :, 1])
    inside = d < 1.414 * blobs[None, :, 2]
    owner = np.where(inside.any(axis=1), np.argmin(np.where(inside, d, np.inf), axis=1), -1)
    level = t[blobs[:, 1].astype(int), blobs[:, 0].astype(int)]

    def apart(a: np.ndarray, b: np.ndarray, saddle: np.ndarray) -> np.ndarray:
        lo, hi = np.minimum(a[:, 2], b[:, 2]), np.maximum(a[:, 2], b[:, 2])
        return (lo <= cfg.shoulder_max_level * hi) | deep_valley(a, b, saddle, cfg.blob_dip_frac, -np.inf)

    spot = union_along_paths(np.c_[blobs[:, :2], level], t, 2, lambda a, b, sd: ~apart(a, b, sd))
    out = groups.astype(np.int64).copy()
    base = int(groups.max()) + 1
    alone: list[int] = []
    for g in np.unique(groups):
        mine = groups == g
        owned = mine & (owner >= 0)
        if len(np.unique(spot[owner[owned]])) < 2 or (blobs[owner[owned], 2] >= sigmas[-1]).any():
            continue
        for i in np.flatnonzero(mine):  # each peak to its blob's spot, or to the nearest peak's that has one
            j = i if owner[i] >= 0 else np.flatnonzero(owned)[np.argmin(np.hypot(*(peaks[owned, :2] - peaks[i, :2]).T))]
            out[i] = base + spot[owner[j]]
        alone.extend(_peaks_alone(t, peaks, mine & (owner < 0), owned, cfg.blob_dip_frac, cfg.split_noise_k * noise))
    empty = [b for b in range(len(blobs)) if not (owner == b).any()]
    near_top = [tops[np.argmin(d[:, b])] for b in empty]
    shoulders = [blobs[b] for b, nt in zip(empty, near_top)
                 if float(t[int(blobs[b, 1]), int(blobs[b, 0])]) <= cfg.shoulder_max_level * nt]
    return out, np.asarray(shoulders, np.float64).reshape(-1, 4), np.asarray(alone, np.int64)


def _peaks_alone(t: np.ndarray, peaks: np.ndarray, free: np.ndarray, owned: np.ndarray, dip_frac: float,
                 min_dip: float) -> list[int]:
    """_blob_groups' peaks without a blob (bool `free`) that the contrast dips from to every peak
    with one (`owned`), by dip_frac x the lower of the two and min_dip at least: the peak of a spot
    between others, whose -LoG response their negative rings took."""
    free = np.flatnonzero(free)
    if not free.size:
        return []
    a = peaks[np.repeat(free, int(owned.sum()))]
    b = np.tile(peaks[owned], (free.size, 1))
    dips = deep_valley(a, b, path_minima(t, a, b), dip_frac, min_dip)
    return free[dips.reshape(free.size, -1).all(axis=1)].tolist()


def colour_contrast(crop: np.ndarray, ring: np.ndarray, core: np.ndarray, smooth_px: float = 0.7,
                    od_weight: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Where each pixel lies between the surrounding skin (0) and the spot's core colour (1).

    The RGB difference to the skin is projected on the skin->core direction (its hue part, see
    _chromatic, so a hair or shadow crossing the spot does not join it): 0.5 is the half-way
    (half-maximum) edge in the photo's own values, whatever the skin tone. With `od_weight` > 0 it
    is mixed with the same in optical density, in which a spot's soft pigment edge is symmetric:
    camera blur (linear light, a few px) shapes the edges of small spots, pigment fall-off those of
    large ones. The skin level is a
    plane fitted on the ring, so a lighting gradient across a large spot does not shift its edge.
    Returns the contrast map, the core's optical density over the skin's (R, G, B), which says
    what absorbs (blood and melanin absorb green more than red; inks need not), and the map's value
    against the colour's absorbance along the skin->core line (2 x n, for _od_level; None when the
    spot does not absorb).
    """
    f = crop.astype(np.float32)
    pixels = f.reshape(-1, 3)  # rows picked by flat index: a 3-channel boolean gather is slow
    ring_at, core_at = np.flatnonzero(ring), np.flatnonzero(core)
    skin = _median(pixels[_sample(ring_at)])
    core_rgb = _median(pixels[_sample(core_at)]) if core_at.size else f[~ring].mean(0)
    skin_od, core_od = _colour_od(skin), _colour_od(core_rgb)
    d_od = core_od - skin_od
    d = _chromatic(core_rgb - skin, skin)
    nn = float(d @ d)
    if nn < 1e-6:
        return np.zeros(crop.shape[:2], np.float32), d_od, None
    t = _project(f, d / nn, skin)
    dc = _chromatic(d_od, np.ones(3, np.float32))
    curve = _absorbance_curve(skin, skin_od, core_od, d, dc, od_weight)
    if od_weight > 0 and float(dc @ dc) > 1e-6:  # absorbance: linear in the amount of pigment
        od = optical_density(crop)
        t_od = _project(od, dc / float(dc @ dc), skin_od)
        t = (1 - od_weight) * t + od_weight * t_od
    h, w = t.shape
    at = ring_at[::max(1, ring_at.size // 2000)]
    coef = _robust_plane(at % w, at // w, t.ravel()[at])
    t -= (np.float32(coef[0]) * np.arange(w, dtype=np.float32)[None, :]
          + np.float32(coef[1]) * np.arange(h, dtype=np.float32)[:, None] + np.float32(coef[2]))
    return cv2.GaussianBlur(t, (0, 0), smooth_px), d_od, curve


def _colour_od(rgb: np.ndarray) -> np.ndarray:
    """Optical density (R, G, B) of one colour given as floats in 0-255 (rounded as a pixel would be)."""
    return optical_density(np.clip(np.round(rgb), 0, 255).astype(np.uint8)[None, None]).reshape(3)


def _absorbance_curve(skin: np.ndarray, od_skin: np.ndarray, od_core: np.ndarray, d: np.ndarray, dc: np.ndarray,
                      od_weight: float) -> np.ndarray | None:
    """(map value, amount of pigment) from the skin (0) to twice the core's pigment (2), as
    colour_contrast maps the colours in between: the skin's linear light times exp(-amount x the
    core's optical density over the skin's) per channel (Beer-Lambert), back in the photo's values,
    projected on `d` (the map's colour direction) and, by `od_weight`, on `dc` in optical density.
    `od_skin`, `od_core`: the two colours' optical densities (_colour_od).
    Kept up to where the map stops growing (a deep red's hue part shrinks again towards black, past
    the core's own amount or not far beyond it); None when the core absorbs no more than the skin or
    the map does not grow up to the core."""
    amount = np.linspace(0.0, 2.0, 81)
    lin = np.exp(-(od_skin[None] + amount[:, None] * (od_core - od_skin)[None])) - OD_EPS
    cols = 255.0 * linear_to_srgb(lin)
    m = (cols - skin) @ (d / float(d @ d))
    nd = float(dc @ dc)
    if od_weight > 0 and nd > 1e-6:
        m = (1 - od_weight) * m + od_weight * amount * float((od_core - od_skin) @ dc) / nd
    bad = np.flatnonzero(np.diff(m) <= 0)
    n = int(bad[0]) + 1 if bad.size else len(m)
    if amount[n - 1] < 1.0 or m[n - 1] <= 1e-6:
        return None
    return np.stack([m[:n], amount[:n]])


def _od_level(curve: np.ndarray | None, peak: float, frac: float) -> float:
    """The contrast-map level where the pigment's absorbance is `frac` of what it is at the map's
    `peak`: a spot's edge in the amount of pigment (Beer-Lambert), whatever values the map is in.

    In a photo's own values a dark spot's half-way level lies where less than half of its pigment
    is (its values are nearer the skin's), so a spot whose pigment fades out is outlined too large
    there. The map itself stays in those values; only the level is read off the curve.
    `curve`: colour_contrast's."""
    if curve is None or peak <= 0:
        return frac * peak
    m, a = curve
    a_peak = float(np.interp(peak, m, a))
    if a_peak <= 1e-6 or peak > m[-1]:
        return frac * peak
    return float(np.interp(frac * a_peak, a, m))


def _plane_fit(xs: np.ndarray, ys: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Least-squares plane v ~ a x + b y + c through the points: (a, b, c), float64.

    Solved from the 3 x 3 normal equations on coordinates centred on their mean (well conditioned,
    and a tenth of the time of an SVD least-squares on a few hundred ring pixels)."""
    x, y, v = xs.astype(np.float64), ys.astype(np.float64), v.astype(np.float64)
    mx, my, mv = x.mean(), y.mean(), v.mean()
    x, y, v = x - mx, y - my, v - mv
    sxx, syy, sxy = x @ x, y @ y, x @ y
    sxv, syv = x @ v, y @ v
    det = sxx * syy - sxy * sxy
    if det <= 1e-9 * max(sxx * syy, 1e-12):  # the points lie on a line (never a ring): a flat level
        a = b = 0.0
    else:
        a = (sxv * syy - syv * sxy) / det
        b = (syv * sxx - sxv * sxy) / det
    return np.array([a, b, mv - a * mx - b * my])


def _robust_plane(xs: np.ndarray, ys: np.ndarray, v: np.ndarray) -> np.ndarray:
    """_plane_fit without the ring's pixels of another colour: cloth, a sheet or a pale overlay in a
    spot's ring tilted the skin level and let the outline leak along the skin's edge.

    `v` is the contrast map (skin 0, spot core 1). Dropped: values under -1 (further from the spot's
    colour than the skin is from it) that also lie 3 robust sigmas (of all the ring) below the plane
    through the values over -1. When a quarter of the ring or more lies under -1, the ring is noise
    (a faint candidate, a piece of a pen line), not skin beside a strip of cloth, and all of it counts
    as before (dropping it there made our generator's pen lines into candidates)."""
    near = v >= -1.0
    if near.all() or near.mean() < 0.75:
        return _plane_fit(xs, ys, v)
    coef = _plane_fit(xs[near], ys[near], v[near])
    r = v - (coef[0] * xs + coef[1] * ys + coef[2])
    med = float(_median(r))
    keep = near | (r - med >= -3 * 1.4826 * float(_median(np.abs(r - med))))
    return _plane_fit(xs[keep], ys[keep], v[keep])


def _darkening(d_od: np.ndarray) -> np.ndarray | float:
    """Luminance lost (optical density) for a change d_od of the (R, G, B) optical densities.

    The weights are Rec. 709 luminance weights times typical linear skin values (red-rich, whatever
    the tone), normalised: a JPEG 4:2:0 chroma halo shifts hue at constant luma (about 0 here), while
    blood and melanin darken as they absorb green.
    """
    return 0.35 * d_od[..., 0] + 0.6 * d_od[..., 1] + 0.05 * d_od[..., 2]  # per pixel of an (h, w, 3) image


def _project(img: np.ndarray, v: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """(img - origin) . v per pixel, float32 (H, W), in one OpenCV pass."""
    m = np.array([[v[0], v[1], v[2], -float(np.dot(origin, v))]], np.float32)
    return cv2.transform(img, m)


def _median(v: np.ndarray) -> np.ndarray:
    """np.median(v, axis=0) of a non-empty 1-D or (n, c) array, by one partition (np.median's own
    checks and mean cost more than the median of a few hundred values)."""
    n = len(v)
    k = n // 2
    if n % 2:
        m = np.partition(v, k, axis=0)[k]
        return m.astype(np.float64) if v.dtype.kind in "ui" else m
    p = np.partition(v, (k - 1, k), axis=0)
    if v.dtype.kind in "ui":
        return (p[k - 1].astype(np.float64) + p[k]) / 2
    return (p[k - 1] + p[k]) / v.dtype.type(2)


def _percentile(v: np.ndarray, q: float) -> float:
    """np.percentile(v, q) (its linear method) of a non-empty 1-D float array, by one partition."""
    n = v.size
    idx = (n - 1) * np.true_divide(q, v.dtype.type(100))  # computed as np.percentile does, in v's dtype
    lo = int(idx)
    if lo + 1 >= n:
        return float(np.partition(v, n - 1)[n - 1])
    p = np.partition(v, (lo, lo + 1))
    t = v.dtype.type(idx - lo)
    a, b = p[lo], p[lo + 1]
    d = b - a
    return float(b - d * (1 - t) if t >= 0.5 else a + d * t)


def _sample(values: np.ndarray, n: int = 1500) -> np.ndarray:
    """At most about n evenly spaced rows of values (medians of large regions stay cheap)."""
    return values[::max(1, len(values) // n)]


def _chromatic(d: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """The part of a colour difference that is not along `neutral` (the skin colour in RGB, equal
    optical density in OD): shading, shadows and dark hair only scale the skin's colour, so they
    drop out, while blood changes its hue. Kept whole when it is mostly a darkening."""
    u = neutral / max(float(np.linalg.norm(neutral)), 1e-9)
    perp = d - (d @ u) * u
    return perp if float(perp @ perp) >= 0.09 * float(d @ d) else d


def _paste(dst: np.ndarray, src: np.ndarray, x: int, y: int) -> None:
    h, w = src.shape
    X0, Y0 = max(0, x), max(0, y)
    X1, Y1 = min(dst.shape[1], x + w), min(dst.shape[0], y + h)
    if X1 > X0 and Y1 > Y0:
        dst[Y0:Y1, X0:X1] = np.maximum(dst[Y0:Y1, X0:X1], src[Y0 - y:Y1 - y, X0 - x:X1 - x])


def _split(comp: np.ndarray, dist: np.ndarray, U: int, mm_per_px: float | None,
           cfg: SegmentConfig) -> list[np.ndarray]:
    """Split a component (`dist`: its distance transform) into touching round lobes where the neck
    between them is clearly narrower."""
    dmax = float(dist.max())
    if dmax < 1.5 * U:  # too small to have a measurable neck
        return [comp]
    if mm_per_px and dmax / U * mm_per_px > cfg.max_split_radius_mm:
        return [comp]
    k = max(3, int(dmax * 0.5) | 1)
    local_max = (dist >= cv2.dilate(dist, np.ones((k, k), np.uint8))) & (dist > 0.4 * dmax)
    n, lab, _, cents = cv2.connectedComponentsWithStats(local_max.astype(np.uint8), connectivity=8)
    if n <= 2:
        return [comp]
    flat = np.flatnonzero(lab)  # each maximum region's highest pixel, in one pass
    lv, dv = lab.ravel()[flat], dist.ravel()[flat]
    order = np.lexsort((-dv, lv))
    _, first = np.unique(lv[order], return_index=True)
    top = flat[order[first]]
    peaks = [(int(t % lab.shape[1]), int(t // lab.shape[1]), float(dist.ravel()[t])) for t in top]
    groups = _group_peaks(peaks, dist, cfg.split_neck_ratio)
    if len(set(groups)) <= 1:
        return [comp]
    # each pixel goes to the lobe whose rim is nearest (distance to its centre minus its radius):
    # for touching round spots this cuts along the line through the neck
    ys, xs = np.nonzero(comp)
    score = np.full(xs.shape, np.inf)
    owner = np.zeros(xs.shape, np.int32)
    for (px, py, r), g in zip(peaks, groups):
        sc = np.hypot(xs - px, ys - py) - r
        better = sc < score
        score[better], owner[better] = sc[better], g
    parts = []
    for g in sorted(set(groups)):
        p = np.zeros(comp.shape, np.uint8)
        sel = owner == g
        p[ys[sel], xs[sel]] = 1
        if p.any():
            parts.append(p)
    return parts or [comp]


def _piece_thinness_limit(comp: np.ndarray, dist: np.ndarray, parts: list[np.ndarray], cfg: SegmentConfig) -> float:
    """Largest thinness (_thinness) a piece of an outline may have and still be a spot.

    A line (hair, crease) cut at its bumps gives pieces each short enough to pass as a spot: when the
    whole outline is thin and was cut, only round pieces are spots (a row of touching petechiae)."""
    if len(parts) > 1 and _thinness(_outer_contour(comp), dist) > cfg.max_thinness:
        return cfg.max_lobe_elongation
    return cfg.max_thinness


def _group_peaks(peaks: list[tuple[int, int, float]], dist: np.ndarray, ratio: float) -> list[int]:
    """Union peaks whose connecting segment never narrows below `ratio` x the smaller radius."""
    p = np.asarray(peaks, dtype=np.float64).reshape(-1, 3)

    def wide(a: np.ndarray, b: np.ndarray, neck: np.ndarray) -> np.ndarray:
        return neck >= ratio * np.minimum(a[:, 2], b[:, 2])

    return union_along_paths(p, dist, 1, wide).tolist()


def _candidate_from_mask(part: np.ndarray, big: np.ndarray, U: int, origin: tuple[int, int, int], bg: float,
                         peak: float, contrast: float, max_thinness: float,
                         dist: np.ndarray | None = None, min_wavelength: float = 0.0,
                         blur_px: float = 0.0, pigment_level: float | None = None,
                         crop_map: np.ndarray | None = None) -> RefinedCandidate | None:
    """Sub-pixel outline, full-res mask and edge softness of one lobe of an upsampled crop.

    `origin` (x0, y0, f): the crop's top-left full-res pixel and full-res px per crop px (a large
    spot's crop is reduced); `U`: upsampled px per crop px. None for thin shapes (hairs, hair
    tangles, creases): length over twice the largest inscribed radius above `max_thinness`.
    `dist`: the part's distance transform (L2, 5x5 mask) when already known. `min_wavelength` (full px):
    wiggles of the outline shorter than this along it are smoothed away (_low_pass). `blur_px`: the
    photo's own blur (gaussian sigma, full px), undone with ours for spots a few px wide (_deblur_factor).
    `pigment_level`: the level of `big` where the spot holds half the pigment of its peak (_od_level);
    the outline is scaled to the size of that level set (_pigment_factor). `crop_map`: the map `big`
    was upsampled from; the softness test (_soft_spot_factor) reads its levels on a cubic upsampling
    of it, as a linear one flattens the top of a spot a few px wide and widens its foot, and a sharp
    one looked soft (on `big` when None).
    """
    x0, y0, f = origin
    c = _outer_contour(part)
    if c is None or _thinness(c, cv2.distanceTransform(part, cv2.DIST_L2, 5) if dist is None else dist) > max_thinness:
        return None
    # upsampled pixel centres -> crop px; pixel-centre outlines sit half a small pixel inside
    pts = (c + 0.5) / U - 0.5
    cen = pts.mean(axis=0)
    d = pts - cen
    nrm = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)[:, None]
    pts = _low_pass(pts + 0.5 / U * d / nrm, min_wavelength / f)
    area_px = float(part.sum()) / (U * U)
    kp = _pigment_factor(part, big, U, bg, peak, pigment_level, blur_px, area_px) \
        if pigment_level is not None and blur_px and f == 1 else 1.0
    if kp != 1.0:
        pts = cen + (pts - cen) * kp
        area_px *= kp * kp
    d_half = 2.0 * math.sqrt(area_px / math.pi)
    k = _deblur_factor(d_half, blur_px) if f == 1 else 1.0
    if k != 1.0 and d_half >= max(SOFT_SPOT_MIN_PX, SOFT_SPOT_MIN_SIGMAS * math.hypot(_TABLE_SIGMA_PX, blur_px)):
        fine = big if crop_map is None or U == 1 else \
            cv2.resize(crop_map, None, fx=U, fy=U, interpolation=cv2.INTER_CUBIC)
        k = _soft_spot_factor(part, fine, U, bg, peak, d_half, blur_px, k)
    # the size the minimum-size rule judges: with only our own blur undone, as without a camera blur
    own_k = _deblur_factor(d_half) if f == 1 else k
    seen_px = area_px * (own_k * f) ** 2
    if k != 1.0:  # a spot only a few px wide: its half-maximum outline is mostly the blur's width
        pts = cen + (pts - cen) * k
        area_px *= k * k
    pts = (pts + 0.5) * f - 0.5 + (x0, y0)  # crop px -> full-res px
    area_px *= f * f
    if len(pts) > 64:
        pts = pts[np.linspace(0, len(pts), 64, endpoint=False).astype(int)]
    bx, by, bw, bh = cv2.boundingRect(part)
    bx0, by0 = bx // U, by // U
    bx1, by1 = (bx + bw - 1) // U + 1, (by + bh - 1) // U + 1
    sub = part[by0 * U:by1 * U, bx0 * U:bx1 * U].astype(np.float32)
    shape = ((bx1 - bx0) * f, (by1 - by0) * f)
    full = cv2.resize(sub, shape, interpolation=cv2.INTER_AREA if U > f else cv2.INTER_LINEAR) >= 0.5
    if not full.any():
        full = cv2.resize(sub, shape, interpolation=cv2.INTER_AREA) > 0
    edge = _edge_width(part, big, U, bg, peak) * f
    return RefinedCandidate(
        bbox=(int(x0 + bx0 * f), int(y0 + by0 * f), int(shape[0]), int(shape[1])), mask=full,
        contrast=float(contrast), contour=tuple(map(tuple, pts.tolist())),
        area_px=area_px, edge_width_px=edge, seen_area_px=seen_px,
        size_gain=_deblur_gain(d_half, blur_px) if f == 1 else 1.0)


def _pigment_factor(part: np.ndarray, big: np.ndarray, U: int, bg: float, peak: float, level: float,
                    blur_px: float, area_px: float) -> float:
    """Scale from a spot's half-way outline (in the map's values) to the outline where it holds half
    of its peak's pigment (`level`, _od_level), as far as its edge is the pigment's own fall-off.

    A camera blurs light, not pigment: the edge of a sharp spot blurred by the photo lies at half
    the light, and only a pigment that fades out softly has its edge at half its amount. So the move
    is weighted by the part of the edge's width (its 25-75 % levels) that the known blur `blur_px`
    and ours do not explain, and made only where that width can be read (the _soft_spot_factor
    limits). The factor is the square root of the two level sets' areas near the spot; the spot's
    parts and splits stay those of the half-way level."""
    half = bg + 0.5 * (peak - bg)
    known = math.hypot(_TABLE_SIGMA_PX, blur_px)
    d_half = 2.0 * math.sqrt(area_px / math.pi)
    if abs(level - half) <= 1e-3 * abs(peak - bg) or d_half < max(SOFT_SPOT_MIN_PX, SOFT_SPOT_MIN_SIGMAS * known):
        return 1.0
    seen = _edge_width(part, big, U, bg, peak) / 1.349  # a gaussian edge's 25-75 % width is 1.349 sigma
    w = 1.0 - (known / seen) ** 2 if seen > known else 0.0
    if w <= 0.0:
        return 1.0
    a = float(part.sum())
    if level > half:
        b = float(np.count_nonzero(big[part > 0] > level))
    else:
        near = cv2.dilate(part, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (4 * U + 1,) * 2)) > 0
        b = float(np.count_nonzero(big[near] > level))
    return 1.0 + w * (float(np.clip(math.sqrt(b / a), 0.6, 1.4)) - 1.0) if a > 0 else 1.0


def _low_pass(pts: np.ndarray, min_wavelength: float) -> np.ndarray:
    """A closed outline (n x 2) without its wiggles shorter than `min_wavelength` along it.

    Noise and skin texture wobble a half-maximum outline, and the max Feret diameter, a maximum over
    directions, turns the wobble into a bias: on synthetic discs of 3-40 px it came out 0.2-0.8 px
    above the equal-area diameter. The outline's Fourier series is cut above perimeter / min_wavelength:
    a circle or an ellipse (orders 0 and +-1) keeps its size, unlike a smoothing along it, which
    shrinks every curve. The perimeter is the convex hull's, as a staircase or the wiggles would
    lengthen the outline's own."""
    n = len(pts)
    if n < 8 or min_wavelength <= 0:
        return pts
    hull = cv2.convexHull(pts.astype(np.float32))
    k = int(cv2.arcLength(hull, True) / min_wavelength)  # the wiggles' own length not counted
    if 2 * k + 1 >= n:
        return pts
    z = np.fft.fft(pts[:, 0] + 1j * pts[:, 1])
    z[k + 1:n - k] = 0
    z = np.fft.ifft(z)
    return np.stack([z.real, z.imag], 1)


def _outer_contour(mask: np.ndarray) -> np.ndarray | None:
    """Outer contour (n x 2, x y, float) of a uint8 mask's largest piece; None for an empty mask."""
    cs, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not cs:
        return None
    return max(cs, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)


def _thinness(contour: np.ndarray | None, dist: np.ndarray) -> float:
    """Length (max Feret + 1 px) over twice the largest inscribed radius (`dist`: the mask's distance
    transform): about 1 for a disc, large for a hair."""
    if contour is None:
        return 0.0
    hull = cv2.convexHull(contour.astype(np.float32)).reshape(-1, 2)
    length = float(np.sqrt(((hull[:, None] - hull[None]) ** 2).sum(-1)).max()) + 1.0
    return length / max(2.0 * float(dist.max()), 1.0)


# Half-maximum diameter (px) of a disc of diameter _DISC_PX after the 0.7 px gaussian smoothing of the
# contrast map and the pixel's own width (sigma sqrt(0.7^2 + 1/12)), thresholded at half of its
# own (lowered) peak, from the exact radial profile of a blurred disc. Below about 3 px the outline
# is mostly the blur's width; from 4 px up it lies within 0.2 px of the disc's edge.
_DISC_PX = np.arange(0.5, 10.01, 0.5)
_HALF_MAX_PX = np.array([1.814, 1.89, 2.024, 2.229, 2.506, 2.868, 3.29, 3.764, 4.268, 4.788, 5.309, 5.825,
                         6.334, 6.847, 7.364, 7.882, 8.381, 8.895, 9.405, 9.908])


_TABLE_SIGMA_PX = math.hypot(0.7, math.sqrt(1.0 / 12.0))
# _soft_spot_factor only where a spot's own edge can be told from the blur: its half-maximum outline at
# least this many px across and this many times the whole blur's sigma (narrower, any spot looks like a
# gaussian of the blur's width and its 25 / 75 % levels say nothing of its edge). 3 px, not 6, since
# its levels are read on a cubic upsampling (87c228b): spots under 4 mm on 640x480 dev photos of the
# generator had come out 0.42 mm too large on average, soft petechiae taken for sharp discs
SOFT_SPOT_MIN_PX = 3.0
SOFT_SPOT_MIN_SIGMAS = 3.0


def _deblur_factor(d_half_px: float, blur_px: float = 0.0) -> float:
    """Scale from a small spot's half-maximum diameter to the diameter of the disc that gives it.

    Our own smoothing and the pixel are undone, and the photo's blur `blur_px` (gaussian sigma, full
    px) when it is known: the table holds for any gaussian once both diameters are in units of its
    sigma. Without it, tiny spots are not inflated by our blur, yet never shrunk below what that
    alone explains. Under a blur of sigma, spots under about 2 sigma all look alike, so their size
    comes out near the table's floor (0.66 sigma)."""
    x = _in_table_units(d_half_px, blur_px)
    if x >= _HALF_MAX_PX[-1] or x <= 0:
        return 1.0
    return float(np.interp(x, _HALF_MAX_PX, _DISC_PX)) / x


def _in_table_units(d_half_px: float, blur_px: float) -> float:
    """A half-maximum diameter (full px) in the units of _HALF_MAX_PX: px under our own smoothing
    alone, the photo's blur `blur_px` scaled away (the table holds for any gaussian in its sigmas)."""
    return d_half_px / (math.hypot(_TABLE_SIGMA_PX, blur_px) / _TABLE_SIGMA_PX)


def _deblur_gain(d_half_px: float, blur_px: float = 0.0) -> float:
    """How many px a small spot's deblurred diameter moves per px of its half-maximum diameter: the
    slope of _deblur_factor's table where `d_half_px` lies (1 from where no blur is undone).

    Under a blur, spots under about 2 sigma all look alike: the table is steep there (a 1 px disc's
    half-maximum outline is 0.08 px wider than a 0.5 px one's), and a half-pixel error of the outline
    is a few px of the size. The reported uncertainty carries that (measure.measure): with a
    pixel's slope of 1 it held the error of only 56 % of the spots under 6 px within one sd."""
    x = _in_table_units(d_half_px, blur_px)
    if x >= _HALF_MAX_PX[-1]:
        return 1.0
    i = int(np.clip(np.searchsorted(_HALF_MAX_PX, x) - 1, 0, len(_HALF_MAX_PX) - 2))
    return max(1.0, float((_DISC_PX[i + 1] - _DISC_PX[i]) / (_HALF_MAX_PX[i + 1] - _HALF_MAX_PX[i])))


@functools.lru_cache(maxsize=1)
def _blurred_disc_levels() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rho, r25, r50, r75): a disc of radius rho blurred by a unit gaussian falls to 25 / 50 / 75 %
    of its centre at these radii (non-central chi-square: the disc's mass seen from radius r)."""
    from scipy.stats import ncx2
    rho = np.linspace(0.05, 12.0, 240)
    r = np.arange(0.0, 18.0, 0.01)
    prof = ncx2.cdf(rho[:, None] ** 2, 2, r[None, :] ** 2) / (1.0 - np.exp(-rho ** 2 / 2.0))[:, None]
    levels = [np.array([np.interp(lv, row[::-1], r[::-1]) for row in prof]) for lv in (0.25, 0.5, 0.75)]
    return rho, *levels


def _soft_spot_factor(part: np.ndarray, big: np.ndarray, U: int, bg: float, peak: float, d_half: float,
                      blur_px: float, k_sharp: float) -> float:
    """_deblur_factor for a spot whose pigment fades out softly, with the photo's blur when known.

    The blur correction takes a spot for a sharp disc blurred by the photo and by us; a spot whose
    own edge is soft grows more under blur, and came out 10 % too large at 6-12 px (the independent
    renderer's photos blurred 2 px more, with the blur measured on the marker). Its 25 % and 75 %
    level sets tell how wide its whole blur is (a disc of radius R under a gaussian of sigma:
    (r25 - r75) / r50 depends on R / sigma alone); what the known blur does not explain is the
    spot's own softness, and its size is the half-maximum diameter of that disc under it alone.
    Falls back to `k_sharp` (the sharp-disc factor) when the spot is no softer than the known blur.
    With no blur known (`blur_px` 0: a ruler or sticker whose edge was not measured, no reference),
    all of the width beyond our own smoothing is taken for the spot's: a sharp spot under a camera
    blur then comes out about as the table gives it (half its maximum under that blur), while a soft
    one is not inflated by its softness as the sharp-disc table inflates it.
    """
    rho, g25, g50, g75 = _blurred_disc_levels()
    r50 = 0.5 * d_half * U  # upsampled px
    # all of it lies within the disc's reach of the part's box: work there (the whole crop cost 5x)
    R = int(r50)
    bx, by, bw, bh = cv2.boundingRect(part)
    ys = slice(max(0, by - R), min(part.shape[0], by + bh + R))
    xs = slice(max(0, bx - R), min(part.shape[1], bx + bw + R))
    part, big = part[ys, xs], big[ys, xs]
    near = cv2.dilate(part, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * R + 1,) * 2)) > 0
    n, lab = cv2.connectedComponents(((big > bg + 0.25 * (peak - bg)) & near).astype(np.uint8), connectivity=8)
    own = np.zeros(n, bool)
    own[lab[part > 0]] = True
    own[0] = False
    a25 = float(np.count_nonzero(own[lab]))
    a75 = float((big[part > 0] > bg + 0.75 * (peak - bg)).sum())
    if a75 <= 0 or a25 <= 0:
        return k_sharp
    q = (math.sqrt(a25 / math.pi) - math.sqrt(a75 / math.pi)) / r50
    ratio = (g25 - g75) / g50  # falls with rho; flat (a gaussian) below rho ~1
    i = int(np.searchsorted(-ratio, -q))  # first rho whose ratio is below q
    x = float(rho[min(i, len(rho) - 1)])
    sigma_obs = d_half / 2.0 / float(np.interp(x, rho, g50))  # full px
    known = math.hypot(_TABLE_SIGMA_PX, blur_px)
    if sigma_obs <= known:
        return k_sharp
    soft = math.sqrt(sigma_obs ** 2 - known ** 2)
    d_true = 2.0 * soft * float(np.interp(x * sigma_obs / soft, rho, g50)) if x * sigma_obs / soft < rho[-1] \
        else 2.0 * x * sigma_obs
    return min(d_true / d_half, 1.0)


def _edge_width(part: np.ndarray, big: np.ndarray, U: int, bg: float, peak: float) -> float:
    """Width of the 25 %-75 % transition, from the equivalent radii of the two level sets (full px)."""
    near = cv2.dilate(part, np.ones((2 * U + 1, 2 * U + 1), np.uint8)) > 0
    a25 = float((big[near] > bg + 0.25 * (peak - bg)).sum())
    a75 = float((big[part > 0] > bg + 0.75 * (peak - bg)).sum())
    return max(0.0, (math.sqrt(a25 / math.pi) - math.sqrt(a75 / math.pi)) / U)


def _unswallow(found: list[tuple[Candidate, bool]], mm_per_px: float | None,
               cfg: SegmentConfig) -> list[tuple[Candidate, bool]]:
    """Outlines from a pale seed that took in a much darker spot keep only their own part.

    A pale petechia touching a dark one is outlined at half of its own low peak, a level the dark
    one's flank also reaches: its outline holds both and, as the larger, won the dedupe over the dark
    spot's own outline (two spots measured as one). Where a petechia-sized outline (up to
    max_valley_split_mm across) holds the centre of a spot outlined from its own seed that is
    swallow_contrast x as contrasted (and no dot on it, _dot_on), that spot and a one-px rim of it
    are cut out. What an opening by a disc a quarter of the dark spot's width leaves (the pale spot,
    not the strip of the dark one's flank round it) is the pale spot, outlined from its pixels when
    measured; with nothing left, the outline is dropped.
    """
    if cfg.swallow_contrast <= 0:
        return found
    max_area = _max_split_area(mm_per_px, cfg)
    owns = [(i, c, _centre(c)) for i, (c, own) in enumerate(found) if own]
    at = np.array([xy for _, _, xy in owns]).reshape(-1, 2)
    out: list[tuple[Candidate, bool] | None] = list(found)
    for i, a, _ in owns:
        area = _area(a)
        if area > max_area:
            continue
        dark = [b for j, b, (cx, cy) in (owns[k] for k in _centres_in(a, at))
                if j != i and b.contrast >= cfg.swallow_contrast * a.contrast
                and _area(b) < area and _inside(a, cx, cy) and not _dot_on(b, a)]
        if dark:
            rest = _rest_of(a, dark)
            out[i] = None if rest is None else (rest, True)
    return [co for co in out if co is not None]


def _rest_of(a: Candidate, dark: list[Candidate]) -> Candidate | None:
    """_unswallow's pale spot: what is left of `a` without the `dark` spots (None: nothing round)."""
    x0, y0, w, h = a.bbox
    cut = np.zeros((h, w), np.uint8)
    for b in dark:
        _paste(cut, b.mask.view(np.uint8), b.bbox[0] - x0, b.bbox[1] - y0)
    m = (a.mask & (cv2.dilate(cut, np.ones((3, 3), np.uint8)) == 0)).view(np.uint8)
    r = max(2, int(round(0.25 * min(_width(b.mask) for b in dark))))
    rest = cv2.morphologyEx(m, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    if not rest.any():
        return None
    rest = _largest(rest)
    bx, by, bw, bh = cv2.boundingRect(rest)
    return Candidate((x0 + bx, y0 + by, bw, bh), rest[by:by + bh, bx:bx + bw] > 0, a.contrast)


def _unmerge(found: list[tuple[Candidate, bool]], mm_per_px: float | None,
             cfg: SegmentConfig) -> list[tuple[Candidate, bool]]:
    """Drop the outlines that join touching spots which other outlines tell apart.

    Each seed's crop is outlined at its own level: a paler seed's lower level can join two touching
    petechiae that a darker seed's crop split at their valley. Both outlines hold their seed's own
    peak, and the dedupe kept the larger, the merge. A petechia-sized outline (up to
    max_valley_split_mm across) that holds the centres of two or more smaller candidates, about
    disjoint (sharing at most a tenth of the smaller) and together filling merge_cover of its area,
    is their merge: it is dropped, and the dedupe decides among them. Other seeds' crops outline the
    same two spots as one a little smaller, each not holding its own peak: those merges are found
    first (smallest first) and are no candidates in larger outlines, where the largest of them took
    up both spots' place. A merge from its own seed stays one: a slightly smaller outline of a spot
    cut by a hair, drawn at the spot's own level, is a view of one spot, not of two.
    """
    if cfg.merge_cover <= 0:
        return found
    max_area = _max_split_area(mm_per_px, cfg)
    centres = np.array([_centre(c) for c, _ in found]).reshape(-1, 2)
    areas = [_area(c) for c, _ in found]
    merges: set[int] = set()
    seen_apart: set[int] = set()  # merges not from their own seed: no candidates in larger outlines
    for i in sorted(range(len(found)), key=lambda k: areas[k]):
        a, own = found[i]
        if areas[i] > max_area:
            break
        inner = sorted((int(j) for j in _centres_in(a, centres) if j != i and j not in seen_apart
                        and areas[j] < areas[i] and _inside(a, *centres[j])), key=lambda j: -areas[j])
        apart: list[int] = []
        for j in inner:
            if all(_overlap_px(found[j][0], found[k][0]) <= 0.1 * min(areas[j], areas[k]) for k in apart):
                apart.append(j)
        if len(apart) >= 2 and sum(areas[j] for j in apart) >= cfg.merge_cover * areas[i]:
            (merges if own else seen_apart).add(i)
    return [co for i, co in enumerate(found) if i not in merges]


def _one_per_spot(found: list[tuple[Candidate, bool]], mm_per_px: float | None, cfg: SegmentConfig) -> list[Candidate]:
    """The spots of all seeds' outlines, each once (_unswallow, _unmerge, then _dedupe)."""
    return _dedupe(_unmerge(_unswallow(found, mm_per_px, cfg), mm_per_px, cfg))


def _dedupe(found: list[tuple[Candidate, bool]]) -> list[Candidate]:
    """One candidate per spot: spots reached from several seeds are kept once, preferably as
    segmented from their own peak, else the largest; a candidate centred inside a kept one is a part
    of it (a lobe of an irregular spot), not a spot of its own, unless it is a dot on it (_dot_on)."""
    order = sorted(found, key=lambda co: (not co[1], -_area(co[0])))
    boxes = np.zeros((len(order), 4), np.int64)  # kept candidates' x0, y0, x1, y1
    tails = np.zeros(len(order), np.int64)
    out: list[Candidate] = []
    for c, own in order:
        cx, cy = _centre(c)
        i, j = int(round(cy)), int(round(cx))
        k = len(out)
        near = _boxes_at(boxes[:k], j, i, 0)
        x0, y0, w, h = c.bbox
        meets = np.flatnonzero((boxes[:k, 0] < x0 + w) & (x0 < boxes[:k, 2]) & (boxes[:k, 1] < y0 + h) & (y0 < boxes[:k, 3]))
        on = {n for n in meets if own and _dot_on(c, out[n])}  # kept outlines it is a spot on, not a part of
        if any(_inside(out[n], cx, cy) for n in near if n not in on):
            continue
        tailed = _boxes_at(boxes[:k], j, i, tails[:k])
        if any(_in_tail(c, out[n], cx, cy) and not (own and _dot_on(c, out[n])) for n in tailed):
            continue  # a bump of the skin on a soft spot's tail, just past its outline
        if any(_shared(out[n], c) > 0.5 for n in meets if n not in on):
            continue  # the same blotchy bruise from two seeds, its centre in a gap of the other's outline
        around = next((n for n in near if n not in on and _enclosed(out[n], c, cx, cy)), None)
        if around is not None:  # a bruise's core inside the C of its halo's outline: one bruise
            out[around] = _union(out[around], c)
            bx, by, bw, bh = out[around].bbox
            boxes[around] = (bx, by, bx + bw, by + bh)
            continue
        boxes[k] = (x0, y0, x0 + w, y0 + h)
        tails[k] = int(math.ceil(TAIL_EDGES * getattr(c, "edge_width_px", 0.0)))
        out.append(c)
    return sorted(out, key=lambda c: (c.bbox[1], c.bbox[0]))


def _boxes_at(boxes: np.ndarray, x: int, y: int, pad: np.ndarray | int) -> np.ndarray:
    """Indices of the (x0, y0, x1, y1) rows of `boxes`, each grown by its `pad`, that hold px (x, y)."""
    return np.flatnonzero((boxes[:, 0] - pad <= x + 1) & (x <= boxes[:, 2] + pad)
                          & (boxes[:, 1] - pad <= y + 1) & (y <= boxes[:, 3] + pad))


# _with_dark_centres: a bay of a bruise-sized outline is taken in where it is darker than the skin round
# the spot as deep blood is (luminance optical density lost, and the shares of the channels' changes)
DARK_CENTRE_MIN_OD = 0.25  # about 22 % of the light
DARK_CENTRE_RED_SHARE = 0.75  # green's density change at least this share of red's (a vein absorbs red most)
DARK_CENTRE_BLUE_SHARE = 0.85  # blue's at most this share of green's (deep blood 0.6-0.75, a shadow 1)
DARK_CENTRE_MIN_PIECE = 0.02  # a dark piece of a bay is taken in from this share of the outline's area
DARK_CENTRE_SIDE = 128  # the outline's long side is looked at on about this many px


def _with_dark_centres(cands: list[Candidate], image: np.ndarray, min_px: float,
                       ring_ex: _RingExclusion) -> list[Candidate]:
    """The candidates, those at least `min_px` across with the dark centre their outline skirts taken in.

    Deep, deoxygenated blood absorbs red about as much as green, and blue less: its optical density
    change (R, G, B) was (1.03, 1.06, 0.61) at the blue-grey centre of a clinic-renderer bruise (dev
    957003). The blood index barely moves there and the purple index less than on the bruise's redder
    rim, so the rim was outlined as a C round the centre (25.6 mm across, its centroid on the rim).
    Taken in: the pieces of the outline's convex hull off it (its bays) that touch it, cover
    DARK_CENTRE_MIN_PIECE of it and are darker than the skin round the hull as such blood is. A
    shadow darkens the three channels alike and melanin absorbs blue most, so neither is; nor is a
    bay of paler skin (filled, such bays grew bruises into flushed skin, see _holes_filled).
    """
    return [_dark_centre_filled(c, image, ring_ex) if max(c.bbox[2], c.bbox[3]) >= min_px else c for c in cands]


def _dark_centre_filled(c: Candidate, image: np.ndarray, ring_ex: _RingExclusion) -> Candidate:
    """One candidate with its deep-blood bays taken in (_with_dark_centres), looked at about
    DARK_CENTRE_SIDE px across; the same candidate when none is."""
    x0, y0, w, h = c.bbox
    f = max(1, int(max(w, h) // DARK_CENTRE_SIDE))
    pad = max(w, h) // 4
    bx0, by0 = max(0, x0 - pad), max(0, y0 - pad)
    bx1, by1 = min(image.shape[1], x0 + w + pad), min(image.shape[0], y0 + h + pad)
    bx1, by1 = bx0 + (bx1 - bx0) // f * f, by0 + (by1 - by0) // f * f
    size = ((bx1 - bx0) // f, (by1 - by0) // f)
    m = _outline_mask(c, (bx0, by0), f, size)
    pts = cv2.findNonZero(m.view(np.uint8))
    if pts is None or len(pts) < 8:
        return c
    hull = np.zeros(m.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(pts), 1)
    free = np.ones(m.shape, bool)
    for no in (ring_ex.reference(bx0, by0, bx1, by1, f), ring_ex.not_skin(bx0, by0, bx1, by1, f)):
        if no is not None:
            free &= ~no
    bays = (hull > 0) & ~m & free
    min_piece = DARK_CENTRE_MIN_PIECE * m.sum()
    k = max(3, int(round(0.1 * max(size))) | 1)
    ring = (cv2.dilate(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0) & (hull == 0) & free
    if bays.sum() < min_piece or ring.sum() < 20:
        return c
    rgb = image[by0:by1, bx0:bx1]
    od = cv2.GaussianBlur(optical_density(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if f > 1 else rgb),
                          (0, 0), 1.0)
    d = od - np.median(od[ring], axis=0)
    deep = ((_darkening(d) >= DARK_CENTRE_MIN_OD) & (d[..., 1] >= DARK_CENTRE_RED_SHARE * d[..., 0])
            & (d[..., 2] <= DARK_CENTRE_BLUE_SHARE * d[..., 1]))
    n, lab, stats, _ = cv2.connectedComponentsWithStats((bays & deep).view(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(lab[cv2.dilate(m.view(np.uint8), np.ones((3, 3), np.uint8)) > 0])] = True
    keep &= stats[:, cv2.CC_STAT_AREA] >= min_piece
    keep[0] = False
    if not keep.any():
        return c
    grown = cv2.morphologyEx((m | keep[lab]).view(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    return _grown_to(c, (grown > 0) & free | m, (bx0, by0), f)


def pixel_edges(pts: np.ndarray) -> np.ndarray:
    """An outline through pixel centres (x, y) pushed half a pixel outwards from its mean, onto the
    pixels' outer edges (a mask's outline as its area counts it)."""
    d = pts - pts.mean(0)
    return pts + 0.5 * d / np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)[:, None]


def _outline_mask(c: Candidate, origin: tuple[int, int], f: int, size: tuple[int, int]) -> np.ndarray:
    """A candidate's outline (its sub-pixel contour when refined, else its mask) as a bool mask of
    `size` (w, h) whose px (i, j) is full-res box origin + f x (j, i)."""
    out = np.zeros((size[1], size[0]), np.uint8)
    if isinstance(c, RefinedCandidate) and len(c.contour) >= 3:
        pts = (np.asarray(c.contour, np.float64) - origin) / f - 0.5 + 0.5 / f
        cv2.fillPoly(out, [np.round(pts * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
        return out > 0
    full = np.zeros((size[1] * f, size[0] * f), np.uint8)
    _paste(full, c.mask.view(np.uint8), c.bbox[0] - origin[0], c.bbox[1] - origin[1])
    return (cv2.resize(full, size, interpolation=cv2.INTER_AREA) if f > 1 else full) > 0


def _grown_to(c: Candidate, grown: np.ndarray, origin: tuple[int, int], f: int) -> Candidate:
    """The candidate with its outline grown to `grown` (px as in _outline_mask): its mask takes in the
    grown px, and a refined one's contour and areas become the grown outline's (pixel, not sub-pixel,
    precision: about 1 % of its width)."""
    x0, y0, w, h = c.bbox
    ox, oy = origin
    up = cv2.resize(grown.view(np.uint8), (grown.shape[1] * f, grown.shape[0] * f), interpolation=cv2.INTER_NEAREST)
    nx0, ny0 = min(x0, ox + int(np.flatnonzero(up.any(0))[0])), min(y0, oy + int(np.flatnonzero(up.any(1))[0]))
    nx1 = max(x0 + w, ox + int(np.flatnonzero(up.any(0))[-1]) + 1)
    ny1 = max(y0 + h, oy + int(np.flatnonzero(up.any(1))[-1]) + 1)
    mask = np.zeros((ny1 - ny0, nx1 - nx0), np.uint8)
    _paste(mask, c.mask.view(np.uint8), x0 - nx0, y0 - ny0)
    _paste(mask, up, ox - nx0, oy - ny0)
    out = replace(c, bbox=(nx0, ny0, nx1 - nx0, ny1 - ny0), mask=mask > 0)
    if not isinstance(c, RefinedCandidate):
        return out
    cs, _ = cv2.findContours(grown.view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    pts = max(cs, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
    pts = (pixel_edges(pts) + 0.5) * f - 0.5 + (ox, oy)
    area = float(abs(cv2.contourArea(pts.astype(np.float32))))
    gain = area / max(c.area_px, 1e-9)
    return replace(out, contour=tuple(map(tuple, pts.tolist())), area_px=area, seen_area_px=c.seen_area_px * gain)


def _join_across_hairs(cands: list[Candidate], image: np.ndarray, mm_per_px: float | None,
                       cfg: SegmentConfig) -> list[Candidate]:
    """Join pieces of one spot that a hair crossing it cut apart.

    The outline is drawn on the spot's hue, so a hair across a purpura splits it into pieces, each
    counted (and labelled) as a spot of its own. Two pieces are one spot when the gap between them is
    at most a hair wide and is not skin: darker than the pieces (a dark hair) or lighter than the skin
    around them (a light hair on dark skin), where the skin between two petechiae lies between the two,
    and it runs on past them as a line. A hair thinner than the blur is greyed by the spot in the gap
    and may hardly show on the skin: then only a clear half or cap that with the other piece makes a
    round spot again is joined. The gap filled is the strip inside the pieces' convex hull, not the
    skin round the ends of the cut. The pieces must look like parts of one spot: about as dark as
    each other, neither a dot beside the other, one of them a half or a cap (two round petechiae with
    a hair between them stay two), and together with the gap about convex and not a long strip. The
    joined candidate (pieces and gap) is outlined from its pixels when measured, as _union's are.
    A sliver in a bay of the other piece (_in_bay), cut off between crossing hairs, is joined however
    small, round or thin, if the hair is seen going on past it. Two hairs crossing a spot in a shallow
    X leave a gap of two hairs and the sliver between them, which alone is dropped (its rim is mostly
    hair: a light hair's reads as a bright overlay's); with cfg.hair_double_gap pieces twice the gap
    apart are joined too, when a clear hair (darker than the pieces or lighter than the skin) lies in
    the gap and goes on past them (bench_hair, light hairs: one piece with 2 and 3 hairs 0.71 -> 0.77
    and 0.52 -> 0.59).
    """
    if len(cands) < 2:
        return cands
    g = int(np.clip(math.ceil(cfg.hair_width_mm / mm_per_px + cfg.hair_rim_px) if mm_per_px else 5, *cfg.hair_gap_px))
    reach = 2 * g if cfg.hair_double_gap else g
    out = list(cands)
    joined = True
    while joined:
        joined = False
        boxes = np.array([c.bbox for c in out], np.int64)
        for i in range(len(out)):
            x0, y0, w, h = boxes[i]
            near = np.flatnonzero((boxes[:, 0] <= x0 + w + reach) & (x0 <= boxes[:, 0] + boxes[:, 2] + reach)
                                  & (boxes[:, 1] <= y0 + h + reach) & (y0 <= boxes[:, 1] + boxes[:, 3] + reach))
            for j in near[near > i]:
                both = _hair_between(out[i], out[j], image, g, cfg)
                if both is None and cfg.hair_double_gap:
                    both = _hair_between(out[i], out[j], image, 2 * g, cfg, double=True)
                if both is not None:
                    out[i] = both
                    del out[j]
                    joined = True
                    break
            if joined:
                break
    return sorted(out, key=lambda c: (c.bbox[1], c.bbox[0]))


def _hair_between(a: Candidate, b: Candidate, image: np.ndarray, g: int, cfg: SegmentConfig,
                  double: bool = False) -> Candidate | None:
    """a and b with the hair-wide gap between them as one candidate, or None (see _join_across_hairs).
    `double`: g is two hairs' gap, and only a clear hair seen going on past the pieces joins them."""
    na, nb = int(a.mask.sum()), int(b.mask.sum())
    width = 2.0 * math.sqrt(min(na, nb) / math.pi)  # the smaller piece's equal-area diameter
    cut = max(_elongation(a.mask), _elongation(b.mask))
    bay = _in_bay(b, a) if nb < na else _in_bay(a, b)
    if not bay:
        if min(na, nb) < cfg.min_piece_area_ratio * max(na, nb):
            return None  # a dot beside a spot (or a blob of a cluster), not a piece of it
        if width < cfg.min_piece_gaps * cfg.min_piece_gap_px:
            return None  # (the test against the pieces' own gap below, made before the distance maps)
        if cut < cfg.min_cut_elongation:
            return None  # two round spots with a hair between them: a cut leaves a half or a cap
    H, W = image.shape[:2]
    pad = 3 * g
    x0, y0 = max(0, min(a.bbox[0], b.bbox[0]) - pad), max(0, min(a.bbox[1], b.bbox[1]) - pad)
    x1 = min(W, max(a.bbox[0] + a.bbox[2], b.bbox[0] + b.bbox[2]) + pad)
    y1 = min(H, max(a.bbox[1] + a.bbox[3], b.bbox[1] + b.bbox[3]) + pad)
    ma, mb = np.zeros((y1 - y0, x1 - x0), np.uint8), np.zeros((y1 - y0, x1 - x0), np.uint8)
    _paste(ma, a.mask.view(np.uint8), a.bbox[0] - x0, a.bbox[1] - y0)
    _paste(mb, b.mask.view(np.uint8), b.bbox[0] - x0, b.bbox[1] - y0)
    if not ma.any() or not mb.any():
        return None
    da = cv2.distanceTransform(1 - ma, cv2.DIST_L2, 3)
    db = cv2.distanceTransform(1 - mb, cv2.DIST_L2, 3)
    gap = (da <= g) & (db <= g) & (ma == 0) & (mb == 0)
    apart = float(da[mb > 0].min())
    if not gap.any() or apart > g:
        return None
    if not bay and width < cfg.min_piece_gaps * max(apart, cfg.min_piece_gap_px):
        return None  # dots no wider than the gap between them: petechiae side by side at a coarse scale
    pieces = cv2.findNonZero(ma | mb)
    inside = np.zeros_like(ma)
    cv2.fillConvexPoly(inside, cv2.convexHull(pieces), 1)
    gap &= inside > 0  # the strip between the pieces, not the skin round the ends of the cut
    if not gap.any():
        return None
    union = (ma > 0) | (mb > 0) | gap
    pts = cv2.findNonZero(union.view(np.uint8))
    if float(union.sum()) < cfg.min_joined_solidity * max(cv2.contourArea(cv2.convexHull(pts)), 1.0):
        return None
    (_, _), (rw, rh), _ = cv2.minAreaRect(pts)
    if max(rw, rh) > cfg.max_joined_aspect * max(min(rw, rh), 1.0):
        return None  # a strip (a shaded skin edge seen in pieces), not one spot
    grey = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    off = np.minimum(da, db)  # px from the nearer piece
    skin = (off > g) & (off <= 2 * g)
    if skin.sum() < 8:
        return None
    y_skin = float(np.median(grey[skin]))
    ya, yb = float(np.median(grey[ma > 0])), float(np.median(grey[mb > 0]))
    contrast = y_skin - max(ya, yb)
    if contrast <= 0 or contrast < cfg.min_piece_contrast_ratio * (y_skin - min(ya, yb)):
        return None  # pieces of one spot are about as dark as each other
    y_spot = min(ya, yb)
    # the gap also holds the pieces' rims (below their half-contrast outline): the hair is its extreme quarter
    dark, light = np.percentile(grey[gap], (25, 75))
    # pieces narrower than a hair's gap may be: touching petechiae of a cluster pass the rest, so the hair
    # must be seen going on past them
    small = width < cfg.min_piece_gaps * g
    # a sliver of the spot between hairs (bay), or a clear hair in the gap: seen going on past the pieces
    clear_hair = dark < y_spot - cfg.hair_contrast * contrast or light > y_skin + cfg.hair_contrast * contrast
    if double and not clear_hair:
        return None
    if bay or clear_hair:
        if not _line_through(grey, gap, union, off, g, y_skin, y_spot, contrast, cfg):
            return None
    elif not (cut >= cfg.min_clear_cut_elongation and _elongation(union) <= cfg.max_cut_union_elongation):
        return None  # a thin hair greyed by the spot in the gap (and hardly seen on the skin, light on
        #              light): only a clear cut, a half or a cap that make one round spot again, will do
    elif small and not _line_through(grey, gap, union, off, g, y_skin, y_spot, contrast, cfg):
        return None
    bx, by, bw, bh = cv2.boundingRect(pts)
    return Candidate((x0 + bx, y0 + by, bw, bh), union[by:by + bh, bx:bx + bw].copy(), max(a.contrast, b.contrast))


# _in_bay: a piece is a sliver of a larger one when this much of it lies in that one's convex hull
BAY_SHARE = 0.5


def _in_bay(small: Candidate, big: Candidate) -> bool:
    """Does `small` lie in a bay of `big`: at least BAY_SHARE of its px inside big's convex hull?

    Two or three hairs crossing a spot cut off slivers of it between them, too small and too thin
    for a piece (_hair_between): bench_hair's 3-hair scenes had a quarter of their spots in two to
    five pieces. A dot beside a spot lies outside its hull."""
    x0, y0 = big.bbox[0], big.bbox[1]
    hull = np.zeros(big.mask.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(cv2.findNonZero(big.mask.view(np.uint8))), 1)
    ys, xs = np.nonzero(small.mask)
    xs, ys = xs + small.bbox[0] - x0, ys + small.bbox[1] - y0
    ok = (xs >= 0) & (ys >= 0) & (xs < hull.shape[1]) & (ys < hull.shape[0])
    return int(hull[ys[ok], xs[ok]].sum()) >= BAY_SHARE * xs.size


def _line_through(grey: np.ndarray, gap: np.ndarray, union: np.ndarray, off: np.ndarray, g: int, y_skin: float,
                  y_spot: float, contrast: float, cfg: SegmentConfig) -> bool:
    """Does what is dark or light in the gap between two pieces go on past them, on the skin beyond
    (a hair does; a valley between two spots, or a shadow along them, stops at the pieces)?
    `off`: px from the nearer piece; grey levels of the skin and the darker piece, and their contrast."""
    outside = (grey < 0.5 * (y_skin + y_spot)) | (grey > y_skin + cfg.hair_contrast * contrast)  # on the skin
    hair = (outside & ~union) | (gap & ((grey < y_spot) | (grey > y_skin)))
    _, lab = cv2.connectedComponents(hair.view(np.uint8), connectivity=8)
    through = np.unique(lab[gap & hair])
    return bool(np.isin(lab[off > 2 * g], through[through > 0]).any())


def _dot_on(c: Candidate, big: Candidate) -> bool:
    """Is c (outlined from its own peak) a spot on `big` rather than a part of it: a sixteenth of its
    area or less and more contrasted than it? Petechiae on a flush or on a bruise are; a bruise's
    mottles and the skin texture of a flush are fainter than the flush."""
    return _small_beside(c, big) and c.contrast > big.contrast


def _small_beside(c: Candidate, big: Candidate) -> bool:
    """Is c a sixteenth of big's area or less: small enough to be a dot on it or a bump of its tail?"""
    return _area(c) * 16.0 <= _area(big)


def _shared(a: Candidate, b: Candidate) -> float:
    """Pixels the two masks share, as a fraction of the smaller mask."""
    return _overlap_px(a, b) / max(1, min(int(a.mask.sum()), int(b.mask.sum())))


def _overlap_px(a: Candidate, b: Candidate) -> int:
    """Number of pixels set in both masks (full-res px)."""
    ax, ay, aw, ah = a.bbox
    bx, by, bw, bh = b.bbox
    x0, y0, x1, y1 = max(ax, bx), max(ay, by), min(ax + aw, bx + bw), min(ay + ah, by + bh)
    if x1 <= x0 or y1 <= y0:
        return 0
    return int((a.mask[y0 - ay:y1 - ay, x0 - ax:x1 - ax] & b.mask[y0 - by:y1 - by, x0 - bx:x1 - bx]).sum())


def _enclosed(a: Candidate, b: Candidate, x: float, y: float) -> bool:
    """Does a surround b (centred at x, y, which the caller found off a's outline): b's centre inside
    a's convex hull, and at least half of a ring round b covered by a? A bruise's yellow halo is outlined as a C or a ring
    round its purple core, which is outlined from a seed of its own. Spots that merely touch a large
    irregular outline, or two round spots side by side, are not surrounded."""
    ys, xs = np.nonzero(a.mask)
    if xs.size < 3:
        return False
    hull = cv2.convexHull(np.c_[xs + a.bbox[0], ys + a.bbox[1]].astype(np.int32))
    if cv2.pointPolygonTest(hull, (float(x), float(y)), False) < 0:
        return False
    g = max(2, int(round(0.25 * _width(b.mask))))
    bx, by, bw, bh = b.bbox
    own = np.pad(b.mask, g).view(np.uint8)
    ring = (cv2.dilate(own, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * g + 1,) * 2)) > 0) & (own == 0)
    return _overlap_px(a, Candidate((bx - g, by - g, bw + 2 * g, bh + 2 * g), ring)) >= 0.5 * int(ring.sum())


def _union(a: Candidate, b: Candidate) -> Candidate:
    """One candidate of both masks (outlined from the union's pixels when measured)."""
    x0, y0 = min(a.bbox[0], b.bbox[0]), min(a.bbox[1], b.bbox[1])
    x1 = max(a.bbox[0] + a.bbox[2], b.bbox[0] + b.bbox[2])
    y1 = max(a.bbox[1] + a.bbox[3], b.bbox[1] + b.bbox[3])
    m = np.zeros((y1 - y0, x1 - x0), bool)
    for c in (a, b):
        _paste(m, c.mask, c.bbox[0] - x0, c.bbox[1] - y0)
    return Candidate((x0, y0, x1 - x0, y1 - y0), m, max(a.contrast, b.contrast))


def _centres_in(c: Candidate, xy: np.ndarray) -> np.ndarray:
    """Indices of the points (x, y) rows of `xy` within a px of c's box: those _inside may hold."""
    x0, y0, w, h = c.bbox
    return np.flatnonzero((xy[:, 0] >= x0 - 1) & (xy[:, 0] <= x0 + w) & (xy[:, 1] >= y0 - 1) & (xy[:, 1] <= y0 + h))


def _inside(c: Candidate, x: float, y: float) -> bool:
    x0, y0, w, h = c.bbox
    i, j = int(round(y - y0)), int(round(x - x0))
    return 0 <= i < h and 0 <= j < w and bool(c.mask[i, j])


# _in_tail: how far past a spot's outline its tail reaches, in its 25-75 % edge widths (that width is read
# near the outline only, so a gaussian's tail reaches further: bench_hair's 5 mm soft spots at 0.031 mm/px
# had skin texture outlined at 0.14-0.26 x their diameter past the outline, 0.16 x being one edge width)
TAIL_EDGES = 2.0


def _in_tail(c: Candidate, big: Candidate, x: float, y: float) -> bool:
    """Is c, centred at (x, y), a sixteenth of big's area or less and in big's soft edge just past its
    outline (within TAIL_EDGES edge widths)? Skin texture on a soft spot's tail was outlined from seeds there."""
    w = getattr(big, "edge_width_px", 0.0)
    if w <= 1.0 or not getattr(big, "contour", ()) or not _small_beside(c, big):
        return False
    return cv2.pointPolygonTest(np.asarray(big.contour, np.float32), (float(x), float(y)), True) >= -TAIL_EDGES * w


def _centre(c: Candidate) -> tuple[float, float]:
    ys, xs = np.nonzero(c.mask)
    if xs.size == 0:
        return c.bbox[0] + c.bbox[2] / 2, c.bbox[1] + c.bbox[3] / 2
    return c.bbox[0] + float(xs.mean()), c.bbox[1] + float(ys.mean())


def _debug_images(work: np.ndarray, skin: np.ndarray, snr: np.ndarray, comps, debug_dir) -> dict:
    """Write the intermediate images of the segmentation to debug_dir and return them by name."""
    d = Path(debug_dir)
    d.mkdir(parents=True, exist_ok=True)
    over = cv2.cvtColor(work, cv2.COLOR_RGB2BGR).copy()
    for (x, y, bw, bh), *_ in comps:
        cv2.rectangle(over, (x - 2, y - 2), (x + bw + 1, y + bh + 1), (255, 255, 0), 1)
    imgs = {
        "skin_mask": (skin * 255).astype(np.uint8),
        "snr": np.clip(snr * 20 + 64, 0, 255).astype(np.uint8),
        "candidates": over,
    }
    for name, im in imgs.items():
        cv2.imwrite(str(d / f"{name}.png"), im)
    return imgs


__all__ = ["SegmentConfig", "Segmentation", "RefinedCandidate", "segment", "skin_mask"]
