"""Accuracy and speed of segmentation + measurement on generator photos with a fixed, untuned seed.

Sizes are measured with the TRUE scale (the generator's image->plane homography) so the figures
isolate segmentation and measurement from scale finding; the blur measured at the marker, the
sticker's rim or the ruler's sides is used, else, where that reference is found, the one read on the
photo's own edges, as the pipeline does (pipeline.camera_blur), and the spots its
measurement stage leaves out (fragments and specks: pipeline.drop_fragments, drop_specks) are left
out here too, so the figures are those of what the pipeline reports. Prints recall of hemorrhagic spots
>= 0.5 mm, the fraction of candidates that match no annotated spot, size errors, all overall and by
ITA band, by the spot's size in px and by whether it touches another spot or lies under two blur
sigmas across (what resolution and blur leave to find), how often the reported diameter uncertainty
holds the error, then a per-stage timing of one 4000x3000 JPEG against cv2.imread.

`--no-scale` segments each photo as if it held no reference (no mm per px, no blur undone: what the
pipeline does with a photo whose scale is not found), and still measures the spots
found with the true scale, so recall and non-spot figures say what a missing scale costs.

`--watermark yellow` renders every photo with a yellow or orange line of text blended over it (a
camera's date stamp, a coloured watermark; the generator draws one in about seventeen photos so), to measure
what such overlays cost (segment._overlay).

Rendered photos are cached (JPEG + JSON + NPZ) under --cache, since rendering is slow; the default
cache folder is named by a hash of the generator's code, so a changed generator never reuses stale photos.
Usage: python benchmarks/bench_measure.py [--seed 20261125] [--n-large 30] [--n-small 10] [--workers 2] [--no-scale]
"""
from __future__ import annotations

from spotscale.data.generator_version import generator_hash

import argparse
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from spotscale.data.photo import read_photo
from spotscale.data.types import HEMORRHAGIC, Scale
from spotscale.inference.pipeline import AnalysisConfig, camera_blur, drop_fragments, drop_specks, measure_unshaken, reference_exclusion
from spotscale.inference.scale import ScaleConfig, find_scale
from spotscale.inference.segment import SegmentConfig, segment

BANDS = ("very_light", "light", "intermediate", "tan", "brown", "dark")
KINDS = ("aruco", "ruler", "sticker")
GROUPS = (("light (>41)", 41, 999), ("intermediate (28-41)", 28, 41), ("tan (10-28)", 10, 28),
          ("brown (-30-10)", -30, 10), ("dark (<-30)", -999, -30))


def plan(seed: int, n_large: int, n_small: int, watermark: str | None = None) -> list[dict]:
    """The benchmark photos: every skin band and reference kind, large and small."""
    out = []
    for i in range(n_large + n_small):
        large = i < n_large
        out.append({"seed": seed + i, "size": (4000, 3000) if large else (640, 480),
                    "scale": KINDS[i % 3], "skin_band": BANDS[(i // 3 + i) % len(BANDS)], "watermark": watermark})
    return out


def _name(p: dict) -> str:
    wm = f"_wm{p['watermark']}" if p.get("watermark") else ""
    return f"s{p['seed']}_{p['size'][0]}x{p['size'][1]}_{p['scale']}_{p['skin_band']}{wm}"


def render_cached(p: dict, cache: Path) -> Path:
    """Render one photo unless cached; returns the JPEG path (truth next to it)."""
    from spotscale.data.synth import render_photo  # the generator is only needed to fill the cache

    name = _name(p)
    jpg = cache / f"{name}.jpg"
    if jpg.exists() and (cache / f"{name}.json").exists():
        return jpg
    ph = render_photo(p["seed"], size=tuple(p["size"]), scale=p["scale"], skin_band=p["skin_band"],
                      watermark=p.get("watermark"))
    spots = [{"category": s.category, "subtype": s.subtype, "borderline": bool(s.borderline),
              "x": float(s.x), "y": float(s.y), "bbox": [int(v) for v in s.bbox],
              "diameter_mm": float(s.diameter_mm), "eq_diameter_mm": float(s.eq_diameter_mm),
              "area_mm2": float(s.area_mm2), "minor_mm": float(s.minor_mm)} for s in ph.spots]
    np.savez_compressed(cache / f"{name}.npz", **{f"m{i}": s.mask for i, s in enumerate(ph.spots)})
    meta = {k: v for k, v in ph.meta.items() if _jsonable(v)}
    tmp = cache / f"{name}.tmp.jpg"
    cv2.imwrite(str(tmp), cv2.cvtColor(ph.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    (cache / f"{name}.json").write_text(json.dumps({"meta": meta, "spots": spots}))
    os.replace(tmp, jpg)
    return jpg


def _jsonable(v) -> bool:
    try:
        json.dumps(v)
        return True
    except TypeError:
        return False


def true_scale(meta: dict) -> Scale:
    """The generator's exact image->plane mapping as a Scale."""
    H = tuple(tuple(float(v) for v in row) for row in meta["image_to_plane"])
    return Scale(mm_per_px=float(meta["mm_per_px"]), mm_per_px_uncertainty=0.0, source="truth", homography=H)


def exclude_mask(meta: dict, shape: tuple[int, int]) -> np.ndarray | None:
    """The reference object's outline grown as the pipeline grows the one scale.py finds
    (AnalysisConfig.reference_margin_px), as the exclusion mask."""
    outline = meta.get("scale", {}).get("outline") or []
    if len(outline) < 3:
        return None
    ref = Scale(mm_per_px=float(meta["mm_per_px"]), mm_per_px_uncertainty=0.0, source="truth",
                outline=tuple((float(x), float(y)) for x, y in outline))
    return reference_exclusion(ref, shape, AnalysisConfig().reference_margin_px)


def marker_blur(img: np.ndarray, meta: dict, no_scale: bool = False) -> float:
    """The blur the pipeline deblurs small spots by (pipeline.camera_blur): measured at an ArUco
    marker's edges, a sticker's rim or a ruler's long sides, else, where the reference is found, read
    on the photo's sharpest edges (0 where neither gives one). `no_scale`: as for a photo whose
    reference is not found (0)."""
    sc = meta.get("scale", {})
    if no_scale or sc.get("kind") not in KINDS:
        return 0.0
    if sc.get("kind") == "aruco":
        cfg = ScaleConfig(marker_side_mm=float(sc.get("marker_side_mm", 20.0)), order=("aruco",))
    elif sc.get("kind") == "sticker":
        cfg = ScaleConfig(sticker_diameter_mm=float(sc["diameter_mm"]), sticker_color=sc["colour"], order=("sticker",))
    else:
        cfg = ScaleConfig(order=("ruler",))
    return camera_blur(img, find_scale(img, cfg), SegmentConfig())[0] or 0.0


def evaluate_photo(jpg: Path, no_scale: bool = False) -> dict:
    """Run segment + measure on one cached photo and match to the truth (segmented without a scale
    when `no_scale`)."""
    truth = json.loads(jpg.with_suffix(".json").read_text())
    meta, tspots = truth["meta"], truth["spots"]
    img = read_photo(jpg)
    red = read_photo(jpg, reduce=4) if max(img.shape[:2]) >= 2000 else None
    scale = true_scale(meta)
    seg = segment(img, exclude=exclude_mask(meta, img.shape[:2]), mm_per_px=None if no_scale else scale.mm_per_px,
                  reduced=red, config=SegmentConfig(camera_blur_px=marker_blur(img, meta, no_scale)))
    spots, _ = measure_unshaken(img, seg.candidates, scale)  # as the pipeline's measurement stage does
    spots, _ = drop_fragments(spots, AnalysisConfig())
    spots, _ = drop_specks(spots, AnalysisConfig())
    return {"ita": float(meta["ita"]), "size": (img.shape[1], img.shape[0]), "matches": match(spots, tspots), "n_cand": len(spots),
            "mm_per_px": scale.mm_per_px, "blur_px": float(meta.get("blur_px") or 0.0),
            "crowded": crowded(tspots, scale.mm_per_px),
            "unmatched": sum(1 for s in spots if not _any_truth(s, tspots)), "name": jpg.stem}


def crowded(tspots: list[dict], mm_per_px: float, gap_px: float = 2.0) -> list[bool]:
    """For each haemorrhagic truth spot, in match()'s order: does another annotated spot (any
    category) come within `gap_px` of it? Discs of the true diameters, centre to centre."""
    xy = np.array([[t["x"], t["y"]] for t in tspots], np.float64).reshape(-1, 2)
    r = np.array([0.5 * t["diameter_mm"] / mm_per_px for t in tspots], np.float64)
    out = []
    for i, t in enumerate(tspots):
        if t["category"] not in HEMORRHAGIC:
            continue
        gap = np.hypot(*(xy - xy[i]).T) - r - r[i]
        gap[i] = np.inf
        out.append(bool((gap < gap_px).any()))
    return out


def _any_truth(s, tspots: list[dict]) -> bool:
    """Does a candidate lie on any annotated spot (of any category), i.e. is it not hair/pore/cloth?"""
    for t in tspots:
        x0, y0, w, h = t["bbox"]
        if x0 - 2 <= s.x <= x0 + w + 2 and y0 - 2 <= s.y <= y0 + h + 2:
            return True
    return False


def match(spots, tspots: list[dict]) -> list[tuple[dict, object]]:
    """Each hemorrhagic truth spot with its nearest candidate within max(2 px, 0.5 x its diameter)."""
    out = []
    xy = np.array([[s.x, s.y] for s in spots]) if spots else np.zeros((0, 2))
    for t in tspots:
        if t["category"] not in HEMORRHAGIC:
            continue
        best = None
        if len(xy):
            d = np.hypot(xy[:, 0] - t["x"], xy[:, 1] - t["y"])
            diam_px = max(t["bbox"][2], t["bbox"][3])
            j = int(np.argmin(d))
            if d[j] <= max(2.0, 0.5 * diam_px):
                best = spots[j]
        out.append((t, best))
    return out


def report(results: list[dict]) -> None:
    """Print recall, false-candidate fraction and size errors overall, by image size, by ITA group and
    by both."""
    print(f"{'group':24s} {'photos':>6s} {'spots>=.5':>9s} {'recall':>7s} {'cands':>6s} {'nonspot':>8s} "
          f"{'MAE<4mm':>8s} {'n<4':>5s} {'medRel>=4':>9s} {'n>=4':>5s}")
    sizes = sorted({r["size"] for r in results}, reverse=True)
    rows = [("ALL", lambda r: True)]
    rows += [(f"{w}x{h}", lambda r, s=(w, h): r["size"] == s) for w, h in sizes]
    rows += [(label, lambda r, lo=lo, hi=hi: lo < r["ita"] <= hi) for label, lo, hi in GROUPS]
    # each skin tone at each photo size: a tone's figures can hang on one small photo
    rows += [(f"{label.split()[0]} {w}x{h}", lambda r, lo=lo, hi=hi, s=(w, h): lo < r["ita"] <= hi and r["size"] == s)
             for label, lo, hi in GROUPS for w, h in sizes]
    for label, keep in rows:
        rs = [r for r in results if keep(r)]
        if not rs:
            continue
        ms = [m for r in rs for m in r["matches"] if m[0]["diameter_mm"] >= 0.5]
        found = [m for m in ms if m[1] is not None]
        small = [abs(s.diameter_mm - t["diameter_mm"]) for t, s in found if t["diameter_mm"] < 4]
        large = [abs(s.diameter_mm - t["diameter_mm"]) / t["diameter_mm"] for t, s in found if t["diameter_mm"] >= 4]
        n_c = sum(r["n_cand"] for r in rs)
        n_u = sum(r["unmatched"] for r in rs)
        print(f"{label:24s} {len(rs):6d} {len(ms):9d} {len(found) / max(1, len(ms)):7.3f} {n_c:6d} "
              f"{n_u / max(1, n_c):8.3f} {_f(statistics.fmean(small) if small else None):>8s} {len(small):5d} "
              f"{_f(statistics.median(large) if large else None, pct=True):>9s} {len(large):5d}")


def report_by_px(results: list[dict]) -> None:
    """Recall and size error by the spot's true diameter in pixels: what the photo's resolution allows."""
    print("by true diameter in px (spots >= 0.5 mm):")
    for lo, hi in ((0, 3), (3, 6), (6, 12), (12, 1e9)):
        ms = [(t, s) for r in results for t, s in r["matches"]
              if t["diameter_mm"] >= 0.5 and lo <= t["diameter_mm"] / r["mm_per_px"] < hi]
        recall, err = _recall_and_errors(ms)
        band = f"{lo}-{hi:g} px" if hi < 1e9 else f">= {lo} px"
        print(f"  {band:10s} spots {len(ms):5d}  recall {recall:.3f}  "
              f"MAE<4mm {_f(statistics.fmean(map(abs, err)) if err else None)} ({len(err)})")


def _recall_and_errors(ms: list[tuple[dict, object]]) -> tuple[float, list[float]]:
    """Share of (truth, candidate or None) pairs found, and the found ones' diameter errors (mm,
    measured - true) where the truth is under 4 mm."""
    found = [(t, s) for t, s in ms if s is not None]
    return len(found) / max(1, len(ms)), [s.diameter_mm - t["diameter_mm"] for t, s in found if t["diameter_mm"] < 4]


def report_by_crowding(results: list[dict]) -> None:
    """Recall and size error of spots apart from or touching another (edges under 2 px apart), and
    under or over two blur sigmas across (the generator's gaussian blur of the photo, motion aside):
    where neither resolution nor blur lets their outlines part."""
    print("by neighbours and blur (spots >= 0.5 mm; touching: another annotated spot's edge within 2 px; "
          "blurred: under 2 blur sigmas across):")
    for near in (False, True):
        for blurred in (False, True):
            ms = [(t, s) for r in results for (t, s), c in zip(r["matches"], r["crowded"])
                  if t["diameter_mm"] >= 0.5 and c == near
                  and (t["diameter_mm"] / r["mm_per_px"] < 2 * r["blur_px"]) == blurred]
            recall, err = _recall_and_errors(ms)
            label = f"{'touching' if near else 'apart'}, {'blurred' if blurred else 'sharp'}"
            print(f"  {label:18s} spots {len(ms):5d}  recall {recall:.3f}  "
                  f"MAE<4mm {_f(statistics.fmean(map(abs, err)) if err else None)} "
                  f"bias {_f(statistics.fmean(err) if err else None)} ({len(err)})")


def report_uncertainty(results: list[dict]) -> None:
    """How often the reported diameter uncertainty holds the error, by the spot's true size in px.

    The scale here is the true one, so this is the segmentation's and measurement's own part of it
    (half a pixel, times the deblur's gain for a spot a few px wide, and half the edge's 25-75 % width,
    in quadrature); a gaussian error would be within
    one sd 68.3 % of the time and within two 95.4 %. The rule layer flags a spot `near_threshold`
    when a size class's limit lies within one sd of its size."""
    print("diameter uncertainty (found spots >= 0.5 mm; |measured - true| within 1 / 2 reported sd; "
          "gaussian: 0.683 / 0.954):")
    for lo, hi in ((0, 1e9), (0, 6), (6, 12), (12, 60), (60, 1e9)):
        z = [(s.diameter_mm - t["diameter_mm"]) / s.diameter_uncertainty_mm for r in results for t, s in r["matches"]
             if s is not None and t["diameter_mm"] >= 0.5 and s.diameter_uncertainty_mm
             and lo <= t["diameter_mm"] / r["mm_per_px"] < hi]
        band = "all" if (lo, hi) == (0, 1e9) else f"{lo}-{hi:g} px" if hi < 1e9 else f">= {lo} px"
        if z:
            a = np.abs(np.asarray(z))
            print(f"  {band:10s} spots {len(z):5d}  within 1 sd {np.mean(a <= 1):.3f}  within 2 sd {np.mean(a <= 2):.3f}  "
                  f"median (measured - true) / sd {statistics.median(z):+.2f}")


def _f(v, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.2f}%" if pct else f"{v:.3f}"


def speed(jpg: Path, repeats: int = 3) -> None:
    """Per-stage times of one large JPEG, best of `repeats`, and the ratio to cv2.imread."""
    truth = json.loads(jpg.with_suffix(".json").read_text())
    meta = truth["meta"]
    best: dict[str, float] = {}
    for _ in range(repeats):
        t = {}
        t0 = time.perf_counter()
        cv2.imread(str(jpg))
        t["imread"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        img = read_photo(jpg)
        red = read_photo(jpg, reduce=4)
        t["decode full+1/4"] = time.perf_counter() - t0
        scale, exclude = true_scale(meta), exclude_mask(meta, img.shape[:2])
        try:
            from spotscale.inference.scale import ScaleConfig, find_scale, reference_mask
            t0 = time.perf_counter()
            found = find_scale(img, ScaleConfig(), reduced=red, reduce=4)
            if found.found:
                exclude = reference_mask(found, img.shape[:2], 8)
            t["scale"] = time.perf_counter() - t0
        except Exception as e:  # scale.py is another module; its absence or failure must not stop this
            t["scale"] = float("nan")
            print(f"(scale stage skipped: {type(e).__name__}: {e})")
        t0 = time.perf_counter()
        seg = segment(img, exclude=exclude, mm_per_px=scale.mm_per_px, reduced=red)
        t["segmentation"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        measure_unshaken(img, seg.candidates, scale)
        t["measurement"] = time.perf_counter() - t0
        for k, v in t.items():
            best[k] = min(best.get(k, math.inf), v)
    total = sum(v for k, v in best.items() if k != "imread" and v == v)
    print(f"speed on {jpg.name} ({len(seg.candidates)} candidates), best of {repeats}:")
    for k, v in best.items():
        print(f"  {k:18s} {1000 * v:8.1f} ms")
    print(f"  {'total (no imread)':18s} {1000 * total:8.1f} ms   ratio total/imread = {total / best['imread']:.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=20261125, help="first seed (fixed; never tuned on)")
    ap.add_argument("--n-large", type=int, default=30)
    ap.add_argument("--n-small", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=None,
                    help="photo cache (default: $SPOTSCALE_BENCH_CACHE or /tmp/spotscale_bench_<generator hash>)")
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--no-scale", action="store_true", help="segment as if no reference were found (see above)")
    ap.add_argument("--watermark", choices=["yellow"], default=None,
                    help="every photo with a yellow or orange text overlay (see above)")
    args = ap.parse_args(argv)
    if args.cache is None:
        args.cache = Path(os.environ.get("SPOTSCALE_BENCH_CACHE") or f"/tmp/spotscale_bench_{generator_hash()}")
    args.cache.mkdir(parents=True, exist_ok=True)
    photos = plan(args.seed, args.n_large, args.n_small, args.watermark)
    with ProcessPoolExecutor(args.workers) as ex:
        jpgs = list(ex.map(render_cached, photos, [args.cache] * len(photos)))
    if args.render_only:
        return 0
    with ProcessPoolExecutor(args.workers) as ex:
        results = list(ex.map(evaluate_photo, jpgs, [args.no_scale] * len(jpgs)))
    print(f"bench_measure: {len(results)} generator photos, seeds {args.seed}..{args.seed + len(photos) - 1} "
          f"({args.n_large} at 4000x3000, {args.n_small} at 640x480), "
          + ("segmented without a scale, measured with the true one" if args.no_scale else "true scale")
          + (", each with a yellow or orange text overlay" if args.watermark else ""))
    report(results)
    report_by_px(results)
    report_by_crowding(results)
    report_uncertainty(results)
    large = [j for j, p in zip(jpgs, photos) if p["size"][0] == 4000]
    if large and not args.no_scale:
        speed(large[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
