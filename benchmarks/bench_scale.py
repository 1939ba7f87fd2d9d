"""Benchmark the reference-scale finder on generated photos: found rate, mm_per_px error, time, by kind and ITA band.

Photos come from spotscale.data.synth.render_photo with a fixed seed list, are JPEG-encoded (quality 92)
and cached under --cache; find_scale then runs as the pipeline calls it: on the full decode plus a libjpeg
1/4 (or 1/2) reduced decode. The user-facing settings a real user would give (marker side, sticker
diameter and colour) are passed from the photo's metadata. Truth is meta["mm_per_px"] = sqrt|det J|
of the image->plane homography at the reference centre. Spots lie anywhere in the photo, so each kind's
second line compares the local mm per px (plane_mm_per_px) with the truth's at a 9 x 7 grid over the
whole photo, and says how often the error is within twice the local uncertainty reported there
(local_scale_rel_sd: a marker's corners carried through its homography; for a ruler or sticker, a
tilt of 6 deg, 1 sd, that it does not show). Run: .venv/bin/python benchmarks/bench_scale.py
Times are wall clock and, in brackets, CPU time of the process (time.process_time; all threads), which a
busy shared machine inflates less.
"""
from __future__ import annotations

from spotscale.data.generator_version import generator_hash

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

KINDS = ("aruco", "ruler", "sticker", "none", "aruco-cut", "sticker-cut")  # -cut: cut by the image border
SIZES = ((4000, 3000), (4000, 3000), (2000, 1500), (1200, 900))  # cycled per photo


def _job(args: tuple[int, str, tuple[int, int], str]) -> str:
    seed, kind, size, cache = args
    path = Path(cache) / f"{kind}_{seed}_{size[0]}.jpg"
    meta_path = path.with_suffix(".json")
    if not (path.exists() and meta_path.exists()):
        from spotscale.data.synth import render_photo
        if kind.endswith("-cut"):
            photo = render_photo(seed, size=size, scale=kind.removesuffix("-cut"), in_frame=False)
        else:
            photo = render_photo(seed, size=size, scale=kind)
        cv2.imwrite(str(path), cv2.cvtColor(photo.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        meta_path.write_text(json.dumps(photo.meta, default=float))
    return str(path)


def _config(meta: dict):
    from spotscale.inference.scale import ScaleConfig
    sc = meta.get("scale", {})
    cfg = ScaleConfig(marker_side_mm=float(sc.get("marker_side_mm", 20.0)))
    if sc.get("kind") == "sticker":
        cfg.sticker_diameter_mm = float(sc["diameter_mm"])
        cfg.sticker_color = sc["colour"]
    return cfg


def _measure(path: str) -> dict:
    from spotscale.inference.scale import find_scale
    meta = json.loads(Path(path).with_suffix(".json").read_text())
    t0, c0 = time.perf_counter(), time.process_time()
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    t_decode, c_decode = time.perf_counter() - t0, time.process_time() - c0
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    k = 4 if max(rgb.shape) > 2500 else (2 if max(rgb.shape) > 1400 else 1)
    flag = {4: cv2.IMREAD_REDUCED_COLOR_4, 2: cv2.IMREAD_REDUCED_COLOR_2}.get(k)
    red = cv2.cvtColor(cv2.imread(path, flag), cv2.COLOR_BGR2RGB) if flag else None
    cfg = _config(meta)
    t0, c0 = time.perf_counter(), time.process_time()
    sc = find_scale(rgb, cfg, reduced=red, reduce=k)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    kind = Path(path).name.split("_")[0]  # the job's kind ("aruco-cut" renders an "aruco" photo)
    truth = float(meta["mm_per_px"])
    err = (sc.mm_per_px / truth - 1.0) if sc.found else None
    rel_unc = (sc.mm_per_px_uncertainty / sc.mm_per_px) if sc.found else None
    centre_truth = _truth_at_centre(meta)
    err_c = (sc.mm_per_px / centre_truth - 1.0) if sc.found and centre_truth else None
    return {"kind": kind, "in_frame": bool(meta["scale"].get("in_frame", False)), "found": sc.found,
            "source": sc.source, "err": err, "time": dt, "cpu": cpu, "decode": t_decode,
            "decode_cpu": c_decode, "band": meta.get("ita_band", "?"),
            "size": rgb.shape[1], "reason": sc.reason, "path": path, "err_c": err_c, "rel_unc": rel_unc,
            **_local_errors(sc, meta, rgb.shape[:2])}


LOCAL_GRID = (9, 7)  # image points (x by y) where the local scale is compared


def _local_errors(sc, meta: dict, shape: tuple[int, int]) -> dict:
    """Relative errors of the local mm per px (sqrt|det J| of the found map, else its one mm_per_px) at a
    grid over the whole photo, against the true image->plane map's, and the uncertainty reported there.

    A marker's homography is fitted on its few hundred px; spots lie across the whole photo, where
    an error in its perspective grows with the distance (issue 3: sizes in the skin plane)."""
    from spotscale.data.synth_geometry import jacobian_scale
    from spotscale.inference.scale import local_scale_rel_sd, plane_mm_per_px
    if not sc.found:
        return {"local_err": [], "local_unc": []}
    h, w = shape
    errs, uncs = [], []
    for x in np.linspace(0.05 * w, 0.95 * w, LOCAL_GRID[0]):
        for y in np.linspace(0.05 * h, 0.95 * h, LOCAL_GRID[1]):
            v = plane_mm_per_px(sc, x, y) or sc.mm_per_px
            errs.append(v / jacobian_scale(np.array(meta["image_to_plane"]), float(x), float(y)) - 1.0)
            uncs.append(local_scale_rel_sd(sc, x, y, shape))
    return {"local_err": errs, "local_unc": uncs}


def _cross(p1, p2, p3, p4) -> np.ndarray:
    """Intersection of lines p1-p2 and p3-p4 (image of the plane centre: projective maps keep incidence)."""
    a = np.array([p2 - p1, p3 - p4]).T
    t = np.linalg.solve(a, p3 - p1)
    return p1 + t[0] * (p2 - p1)


def _truth_at_centre(meta: dict) -> float | None:
    """sqrt|det J| of the true image->plane map at the image of the reference's own centre.

    meta["mm_per_px"] is taken at the mean of the projected outline, a few px off the centre under
    strong perspective (up to ~0.2 % of scale for a marker); this is the like-for-like truth.
    """
    from spotscale.data.synth_geometry import jacobian_scale
    sc = meta.get("scale", {})
    pts = np.array(sc.get("marker_corners") or sc.get("outline") or [], float)
    if len(pts) < 4:
        return None
    n = len(pts)
    c = _cross(pts[0], pts[n // 2], pts[n // 4], pts[3 * n // 4]) if n != 4 else _cross(pts[0], pts[2], pts[1], pts[3])
    return jacobian_scale(np.array(meta["image_to_plane"]), float(c[0]), float(c[1]))


def _summary(rows: list[dict], label: str) -> str:
    held = [r for r in rows if r["kind"] != "none" and r["in_frame"]]
    errs = np.array([abs(r["err"]) for r in held if r["found"] and r["source"] == r["kind"]])
    errs_c = np.array([abs(r["err_c"]) for r in held if r["found"] and r["source"] == r["kind"] and r["err_c"] is not None])
    times = np.array([r["time"] for r in rows]) * 1000
    found = sum(r["found"] and r["source"] == r["kind"] for r in held)
    txt = f"{label:<22} n={len(rows):>3}"
    if held:
        txt += f"  found {found}/{len(held)} ({found / len(held):.0%})"
    if len(errs):
        txt += f"  rel.err median {np.median(errs) * 100:.3f}%  p90 {np.percentile(errs, 90) * 100:.3f}%"
    if len(errs_c):
        txt += f"  (at ref. centre: median {np.median(errs_c) * 100:.3f}%)"
    unc = np.array([r["rel_unc"] for r in held if r["found"] and r["source"] == r["kind"]])
    if len(errs):  # how honest the reported uncertainty is: ~95 % expected within 2 sd
        txt += f"  within 2 reported sd {np.mean(errs <= 2 * unc):.0%}"
    loc = np.array([e for r in held if r["found"] and r["source"] == r["kind"] for e in r["local_err"]])
    loc_u = np.array([u for r in held if r["found"] and r["source"] == r["kind"] for u in r["local_unc"]])
    if len(loc):
        txt += (f"\n{'':<22} across the photo ({LOCAL_GRID[0]}x{LOCAL_GRID[1]} points): local mm/px rel.err median "
                f"{np.median(np.abs(loc)) * 100:.2f}%  p90 {np.percentile(np.abs(loc), 90) * 100:.2f}%  "
                f"over 5% {np.mean(np.abs(loc) > 0.05):.1%}  within 2 reported sd {np.mean(np.abs(loc) <= 2 * loc_u):.0%}")
    none = [r for r in rows if r["kind"] == "none"]
    if none:
        txt += f"  false finds {sum(r['found'] for r in none)}/{len(none)}"
    out_frame = [r for r in rows if r["kind"] != "none" and not r["in_frame"]]
    if out_frame:
        used = [r for r in out_frame if r["found"] and r["source"] == r["kind"].removesuffix("-cut")]
        e = np.array([abs(r["err"]) for r in used])
        txt += f"  (part out of frame: {len(used)}/{len(out_frame)} used"
        txt += (f", median rel.err {np.median(e) * 100:.2f}% max {e.max() * 100:.2f}%, within 2 reported sd "
                f"{np.mean(e <= 2 * np.array([r['rel_unc'] for r in used])):.0%})" if used else ")")
    cpu = np.median([r["cpu"] for r in rows]) * 1000
    return txt + f"  time median {np.median(times):.0f} ms (CPU {cpu:.0f} ms)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-kind", type=int, default=20)
    ap.add_argument("--none", type=int, default=10, help="photos without a reference")
    ap.add_argument("--cut", type=int, default=10, help="photos with a marker cut by the image border")
    ap.add_argument("--cut-sticker", type=int, default=10, help="photos with a sticker cut by the image border")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--cache", default=f"/tmp/spotscale_bench_scale_{generator_hash()}",
                    help="cache of generated photos (default: one per version of the generator's code)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    jobs = []
    for kind in KINDS:
        n = {"none": args.none, "aruco-cut": args.cut, "sticker-cut": args.cut_sticker}.get(kind, args.per_kind)
        for i in range(n):
            jobs.append((args.seed + 1000 * KINDS.index(kind) + i, kind, SIZES[i % len(SIZES)], args.cache))
    with ProcessPoolExecutor(args.workers) as ex:
        paths = list(ex.map(_job, jobs))
    rows = [_measure(p) for p in paths]
    print(f"reference scale on {len(rows)} generated photos (seed {args.seed}, JPEG q92, sizes {sorted({r['size'] for r in rows})})")
    for kind in KINDS:
        print(_summary([r for r in rows if r["kind"] == kind], kind))
    for band in sorted({r["band"] for r in rows}):
        print(_summary([r for r in rows if r["band"] == band], f"ITA {band}"))
    big = [r for r in rows if r["size"] >= 4000]
    if big:
        print(f"4000x3000: find_scale median {np.median([r['time'] for r in big]) * 1000:.0f} ms, "
              f"(CPU {np.median([r['cpu'] for r in big]) * 1000:.0f} ms), "
              f"cv2.imread median {np.median([r['decode'] for r in big]) * 1000:.0f} ms "
              f"(CPU {np.median([r['decode_cpu'] for r in big]) * 1000:.0f} ms); ratio "
              f"{np.median([r['time'] for r in big]) / np.median([r['decode'] for r in big]):.2f} "
              f"(CPU {np.median([r['cpu'] for r in big]) / np.median([r['decode_cpu'] for r in big]):.2f})")
        for kind in KINDS:
            sel = [r for r in big if r["kind"] == kind]
            if sel:
                print(f"  4000x3000 {kind:<8} find_scale median {np.median([r['time'] for r in sel]) * 1000:.0f} ms "
                      f"(CPU {np.median([r['cpu'] for r in sel]) * 1000:.0f} ms)")
    for r in rows:
        held = r["kind"] != "none" and r["in_frame"]
        bad = (held and (not r["found"] or r["source"] != r["kind"])) or (r["kind"] == "none" and r["found"])
        if bad or (r["err"] is not None and abs(r["err"]) > 0.015):
            e = "" if r["err"] is None else f" err {r['err'] * 100:+.2f}%"
            print(f"  check {Path(r['path']).name}: {r['source']}{e} - {r['reason'][:110]}")


if __name__ == "__main__":
    main()
