"""The real pipeline on photos from independently written renderers (benchmarks/indep_render.py, clinic_render.py).

Our other benchmarks use our own generator (data/synth*.py), which the pipeline and CNN were
developed against; this one measures how much of that accuracy carries over to a renderer written
separately (different skin, texture, pigment and camera models). Each photo is written as a JPEG
(with annotations.json, so `spotscale score` + `spotscale evaluate` also run on the folder) and
analysed from the file with the default model. A photo with a sticker is analysed with its diameter
given (a user has to type it in, `--sticker-mm`).

Printed overall, by skin-tone group (ITA band) and by photo size: scale found rate per reference
kind and median relative mm/px error; recall of hemorrhagic spots >= 0.5 mm and the share of
candidates lying on no annotated object; size MAE (< 4 mm) and median relative error (>= 4 mm) of
matched spots; final-label accuracy and hemorrhagic-label precision (as bench_rules.py); the
final-label confusion matrix. Six overlays of the worst photos go to OUT/overlays (missed true
hemorrhagic spots circled in white before the overlay is drawn).

`--web` analyses each photo as a web copy instead: its long side reduced to 640, 800 or 1024 px,
a white watermark line blended over the skin (alpha 0.35-0.7) and saved again as a JPEG of quality
55, 70 or 85 (drawn per photo from its seed); the predictions are mapped back to the rendered photo's
pixels, so the same truth scores them (no overlays are written in this mode).

`--no-scale` looks for no reference at all (the photo's ArUco marker, ruler or sticker is then not
found nor masked out): what the pipeline does without a scale, e.g. its recall.

`--cast cool|green|warm` analyses each photo under a colour cast stronger than a camera's white
balance leaves (R, G, B gains in CASTS: shade or a cool LED, fluorescent light, tungsten), written
as a JPEG of quality 92 in the same pixels' places. `--exposure F` does the same with every channel
times F (0.4: underexposed by about 1.3 stops, as a dim room leaves a phone photo; 1.6: overexposed,
light skin clipping); with `--cast`, both apply.

`--per-photo` also prints one line per photo (true spots, found, candidates on nothing), to see
which photos a change moves.

`--renderer clinic` uses benchmarks/clinic_render.py (seeds from 950000, out/clinic) instead.

    .venv/bin/python benchmarks/bench_independent.py [--renderer indep|clinic] [--n 48] [--seed0 S] [--out DIR] [--web] [--no-scale] [--cast cool|green|warm] [--exposure F] [--per-photo]
"""
from __future__ import annotations

import argparse
import importlib
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import indep_render  # noqa: E402

# --renderer: module in benchmarks/ and its default first seed. Both were written without reading
# data/synth*.py: indep_render from a physical model, clinic_render after clinical and phone photos
# (cluttered backgrounds, curved limbs, flash, glare, phone processing, dense clusters).
RENDERERS = {"indep": ("indep_render", 930_000), "clinic": ("clinic_render", 950_000)}

REAL = ("petechia", "purpura", "ecchymosis")


def _truth_pred(photo: indep_render.RenderedPhoto, result):
    from spotscale.inference.evaluate import PredImage, PredSpot, TruthImage, TruthSpot, truth_label
    truth = TruthImage("x", photo.mm_per_px, spots=tuple(
        TruthSpot(s.x, s.y, s.diameter_mm, s.category, truth_label(s.category, s.diameter_mm)) for s in photo.spots))
    pred = PredImage("x", result.scale.mm_per_px, spots=tuple(
        PredSpot(s.x, s.y, s.diameter_px, s.diameter_mm, s.label or "") for s in result.spots))
    return truth, pred


def _on_object(photo, x: float, y: float, pad: int = 2) -> str | None:
    """Kind of the annotated object whose mask (grown by pad px) holds (x, y), else None."""
    for s in photo.spots:
        x0, y0, w, h = s.bbox
        xi, yi = int(round(x)) - x0, int(round(y)) - y0
        if -pad <= xi < w + pad and -pad <= yi < h + pad:
            m = s.mask[max(0, yi - pad):yi + pad + 1, max(0, xi - pad):xi + pad + 1]
            if m.size and m.any():
                return s.kind
    return None


def photo_record(photo, result) -> dict:
    """Every count the tables need, for one photo."""
    from spotscale.data.types import FINAL_LABELS
    from spotscale.inference.evaluate import match_spots
    truth, pred = _truth_pred(photo, result)
    matches = match_spots(truth, pred)
    mt = {ti: pi for ti, pi, _ in matches}
    mp = {pi: ti for ti, pi, _ in matches}
    r = defaultdict(float)
    r["found"] = result.scale.found
    if result.scale.found and photo.reference != "none":
        r["relerr"] = abs(result.scale.mm_per_px / photo.mm_per_px - 1)
    conf = np.zeros((len(FINAL_LABELS), len(FINAL_LABELS)), int)
    sizes_small, sizes_big = [], []
    missed = []
    for ti, t in enumerate(photo.spots):
        if t.category in REAL and t.diameter_mm >= 0.5:
            r["n_true"] += 1
            r["n_hit"] += ti in mt
            if ti not in mt:
                missed.append(t)
                r[f"missed_{t.kind}"] += 1
                r[f"missedsize_{_size_band(t.diameter_mm)}"] += 1
            r[f"truesize_{_size_band(t.diameter_mm)}"] += 1
        if ti in mt:
            p = pred.spots[mt[ti]]
            conf[FINAL_LABELS.index(truth.spots[ti].label), FINAL_LABELS.index(p.label or "other")] += 1
            if t.category in REAL and p.diameter_mm is not None:
                (sizes_small if t.diameter_mm < 4 else sizes_big).append((t.diameter_mm, p.diameter_mm))
    for pi, p in enumerate(pred.spots):
        r["n_cand"] += 1
        on = photo.spots[mp[pi]].kind if pi in mp else _on_object(photo, p.x, p.y)
        r["n_cand_nothing"] += on is None
        if p.label in REAL:
            r["n_real_pred"] += 1
            right = on is not None and pi in mp and photo.spots[mp[pi]].category in REAL
            r["n_real_right"] += right
            if not right:
                r[f"false_real_on_{on or 'nothing'}"] += 1
    return {"r": dict(r), "conf": conf, "small": sizes_small, "big": sizes_big, "missed": missed,
            "ref": photo.reference, "band": _band(photo.ita), "size": f"{result.width}x{result.height}"}


def _size_band(d: float) -> str:
    return next(f"{lo:g}-{hi:g} mm" for lo, hi in ((0, 1), (1, 2), (2, 4), (4, 10), (10, 99)) if d < hi)


def _band(ita: float) -> str:
    from spotscale.data.skin_tone import ita_band
    return ita_band(ita)


def _summary(recs: list[dict]) -> dict:
    tot = defaultdict(float)
    for rec in recs:
        for k, v in rec["r"].items():
            if k not in ("found", "relerr"):
                tot[k] += v
    small = [p for rec in recs for p in rec["small"]]
    big = [p for rec in recs for p in rec["big"]]
    conf = sum(rec["conf"] for rec in recs)
    return {
        "photos": len(recs),
        "recall": tot["n_hit"] / tot["n_true"] if tot["n_true"] else math.nan, "n_true": int(tot["n_true"]),
        "nothing": tot["n_cand_nothing"] / tot["n_cand"] if tot["n_cand"] else math.nan, "n_cand": int(tot["n_cand"]),
        "mae_small": float(np.mean([abs(p - t) for t, p in small])) if small else math.nan, "n_small": len(small),
        "bias_small": float(np.mean([p - t for t, p in small])) if small else math.nan,
        "rel_big": float(np.median([abs(p / t - 1) for t, p in big])) if big else math.nan, "n_big": len(big),
        "acc": np.trace(conf) / conf.sum() if conf.sum() else math.nan, "n_matched": int(conf.sum()),
        "prec": tot["n_real_right"] / tot["n_real_pred"] if tot["n_real_pred"] else math.nan,
        "n_real_pred": int(tot["n_real_pred"]), "conf": conf, "tot": tot,
    }


def _scale_rows(recs: list[dict]) -> str:
    parts = []
    for kind in ("aruco", "ruler", "sticker", "none"):
        rs = [rec for rec in recs if rec["ref"] == kind]
        if not rs:
            continue
        found = sum(rec["r"]["found"] for rec in rs)
        errs = [rec["r"]["relerr"] for rec in rs if "relerr" in rec["r"]]
        med = f", median rel err {np.median(errs):.2%}" if errs else ""
        parts.append(f"{kind} found {found:.0f}/{len(rs)}{med}")
    return "; ".join(parts)


def _row(name: str, recs: list[dict]) -> str:
    s = _summary(recs)
    return (f"{name:>13} {s['photos']:3d} | recall {s['recall']:.3f} ({s['n_true']:4d}) | on nothing "
            f"{s['nothing']:.3f} ({s['n_cand']:4d}) | MAE<4 {s['mae_small']:.3f} mm (bias {s['bias_small']:+.3f}, "
            f"{s['n_small']}) | rel>=4 {s['rel_big']:.1%} ({s['n_big']}) | label acc {s['acc']:.3f} ({s['n_matched']})"
            f" | haem. prec {s['prec']:.3f} ({s['n_real_pred']})\n{'':>19}scale: {_scale_rows(recs)}")


def _print_groups(recs: list[dict]) -> None:
    from spotscale.data.skin_tone import ITA_BANDS
    print(_row("all", recs))
    print("by skin tone (ITA band):")
    for band, _, _ in ITA_BANDS:
        rs = [r for r in recs if r["band"] == band]
        if rs:
            print(_row(band, rs))
    print("by photo size:")
    for size in sorted({r["size"] for r in recs}, key=lambda s: -int(s.split("x")[0])):
        print(_row(size, [r for r in recs if r["size"] == size]))


def _print_confusion(recs: list[dict]) -> None:
    from spotscale.data.types import FINAL_LABELS
    s = _summary(recs)
    print("confusion of final labels (rows truth, columns predicted): " + " ".join(f"{x[:6]:>6}" for x in FINAL_LABELS))
    for lab, row in zip(FINAL_LABELS, s["conf"]):
        print(f"  {lab:>10} " + " ".join(f"{v:6d}" for v in row))
    tot = s["tot"]
    print("missed hemorrhagic spots by kind: " + ", ".join(
        f"{k[7:]} {v:.0f}" for k, v in sorted(tot.items()) if k.startswith("missed_")))
    bands = sorted((k[9:] for k in tot if k.startswith("truesize_")), key=lambda k: float(k.split("-")[0]))
    print("recall by true diameter: " + ", ".join(
        f"{k} {1 - tot.get('missedsize_' + k, 0) / tot['truesize_' + k]:.3f} ({tot['truesize_' + k]:.0f})" for k in bands))
    print("labelled petechia/purpura/ecchymosis but not one, by what lies there: " + ", ".join(
        f"{k[14:]} {v:.0f}" for k, v in sorted(tot.items()) if k.startswith("false_real_on_")))


WATERMARKS = ("(c) DermAtlas 2019", "www.skinpics.example", "Case 14 - lower leg")


def web_copy(src: Path, dst: Path, seed: int) -> float:
    """Write a small, watermarked, recompressed copy of the JPEG `src` to `dst`; return its scale factor."""
    rng = np.random.default_rng(seed)
    img = cv2.imread(str(src), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    f = min(1.0, int(rng.choice([640, 800, 1024])) / max(h, w))
    small = cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA) if f < 1 else img
    sh, sw = small.shape[:2]
    over = small.copy()
    scale = sw / 700
    at = (int(rng.uniform(0.05, 0.4) * sw), int(rng.uniform(0.2, 0.95) * sh))
    cv2.putText(over, str(rng.choice(WATERMARKS)), at, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                max(1, int(2 * scale)), cv2.LINE_AA)
    alpha = float(rng.uniform(0.35, 0.7))
    small = cv2.addWeighted(over, alpha, small, 1 - alpha, 0)
    dst.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(dst), small, [cv2.IMWRITE_JPEG_QUALITY, int(rng.choice([55, 70, 85]))])
    return f


# --cast: channel gains (R, G, B) of a colour cast beyond what a camera's white balance leaves
CASTS = {"cool": (0.8, 1.0, 1.3), "green": (0.85, 1.25, 0.9), "warm": (1.2, 1.0, 0.75)}


def cast_copy(src: Path, dst: Path, cast: str | None, exposure: float = 1.0) -> None:
    """Write a copy of the JPEG `src` to `dst` under the colour cast CASTS[cast] (None: no cast) and
    every channel times `exposure` (same pixels' places)."""
    img = cv2.imread(str(src), cv2.IMREAD_COLOR).astype(np.float32)
    gains = exposure * np.array((CASTS[cast] if cast else (1.0, 1.0, 1.0))[::-1], np.float32)  # OpenCV's BGR
    dst.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(dst), np.clip(img * gains, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 92])


def to_rendered_px(result, f: float):
    """A web copy's result with its spot positions, px sizes and scale in the rendered photo's pixels."""
    import dataclasses
    spots = tuple(dataclasses.replace(s, x=s.x / f, y=s.y / f, diameter_px=s.diameter_px / f) for s in result.spots)
    mm = result.scale.mm_per_px
    return dataclasses.replace(result, spots=spots,
                               scale=dataclasses.replace(result.scale, mm_per_px=None if mm is None else mm * f))


def _overlay(path: Path, photo, result, image, rec, out: Path) -> Path:
    from spotscale.inference.overlay import draw_overlay
    img = image.copy()
    k = img.shape[1] / result.width
    for t in rec["missed"]:
        x0, y0, w, h = t.bbox
        r = int(max(w, h) * k / 2 + 6 * max(1.0, img.shape[1] / 1600))
        cv2.circle(img, (int(t.x * k), int(t.y * k)), r, (255, 255, 255), max(1, img.shape[1] // 800), cv2.LINE_AA)
    ov = draw_overlay(img, result, max_side_px=1600)
    dst = out / f"{path.stem}.png"
    cv2.imwrite(str(dst), cv2.cvtColor(ov, cv2.COLOR_RGB2BGR))
    return dst


def main() -> None:
    import dataclasses
    from spotscale.inference.pipeline import AnalysisConfig, analyze_photo_and_image, load_model
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--renderer", choices=sorted(RENDERERS), default="indep")
    ap.add_argument("--seed0", type=int, default=None, help="first seed (default: the renderer's)")
    ap.add_argument("--out", default=None, help="default out/indep or out/clinic")
    ap.add_argument("--model", default=None)
    ap.add_argument("--web", action="store_true", help="analyse small watermarked JPEG copies (see above)")
    ap.add_argument("--no-scale", action="store_true", help="look for no reference (see above)")
    ap.add_argument("--cast", choices=sorted(CASTS), default=None, help="analyse copies under a colour cast (see above)")
    ap.add_argument("--exposure", type=float, default=1.0, help="analyse copies with every channel x this (see above)")
    ap.add_argument("--per-photo", action="store_true", help="one line of counts per photo")
    a = ap.parse_args()
    module, seed0 = RENDERERS[a.renderer]
    renderer = importlib.import_module(module)
    a.seed0 = seed0 if a.seed0 is None else a.seed0
    out = Path(a.out or f"out/{a.renderer}")
    t0 = time.perf_counter()
    photos = renderer.write_folder(out / "set", a.n, a.seed0)
    t_render = time.perf_counter() - t0
    config = AnalysisConfig(model_path=a.model)
    if a.no_scale:
        config = dataclasses.replace(config, scale=dataclasses.replace(config.scale, order=()))
    bundle = load_model(config)
    recs, worst, lost = [], [], []
    t1 = time.perf_counter()
    for name, photo in photos:
        cfg = config
        if photo.sticker_mm:
            cfg = dataclasses.replace(config, scale=dataclasses.replace(config.scale, sticker_diameter_mm=photo.sticker_mm))
        if a.web:
            f = web_copy(out / "set" / name, out / "web" / name, a.seed0 + len(recs))
            result = to_rendered_px(analyze_photo_and_image(out / "web" / name, cfg, bundle)[0], f)
        elif a.cast or a.exposure != 1.0:
            sub = out / f"cast_{a.cast or 'none'}_x{a.exposure:g}" / name
            cast_copy(out / "set" / name, sub, a.cast, a.exposure)
            result = analyze_photo_and_image(sub, cfg, bundle)[0]
        else:
            result = analyze_photo_and_image(out / "set" / name, cfg, bundle)[0]
        rec = photo_record(photo, result)
        recs.append(rec)
        if a.per_photo:
            r = rec["r"]
            print(f"{name}: {rec['ref']:7s} {rec['size']:9s} {rec['band']:12s} true {r.get('n_true', 0):4.0f} "
                  f"found {r.get('n_hit', 0):4.0f} candidates {r.get('n_cand', 0):4.0f} on nothing "
                  f"{r.get('n_cand_nothing', 0):3.0f}", flush=True)
        if photo.reference != "none" and not result.scale.found:
            lost.append(f"{name} ({photo.reference}, {rec['size']}, {rec['band']}): {result.scale.reason}")
        bad = len(rec["missed"]) + sum(v for k, v in rec["r"].items() if k.startswith("false_real_on_"))
        worst.append((bad, name))
    t_an = time.perf_counter() - t1
    print(f"{a.n} photos from benchmarks/{module}.py (seeds {a.seed0}..{a.seed0 + a.n - 1}"
          f"{', as web copies: 640-1024 px, watermark, JPEG 55-85' if a.web else ''}"
          f"{', no reference looked for' if a.no_scale else ''}"
          f"{f', under a {a.cast} cast (R, G, B x {CASTS[a.cast]})' if a.cast else ''}"
          f"{f', exposure x {a.exposure:g}' if a.exposure != 1.0 else ''}), model "
          f"{a.model or 'default'}; render {t_render:.0f} s, analysis {t_an:.0f} s ({t_an / a.n:.1f} s/photo, under load)")
    print("recall: hemorrhagic spots >= 0.5 mm matched; on nothing: candidates on no annotated object "
          "(annotated: hemorrhagic spots, moles, angiomas, bites, freckles)")
    _print_groups(recs)
    _print_confusion(recs)
    for line in lost:
        print("scale not found: " + line)
    if not (a.web or a.cast or a.exposure != 1.0):
        _write_overlays(out, photos, recs, worst, config, bundle)


def _write_overlays(out, photos, recs, worst, config, bundle) -> None:
    import dataclasses
    from spotscale.inference.pipeline import analyze_photo_and_image
    (out / "overlays").mkdir(parents=True, exist_ok=True)
    by_name = dict(photos)
    names = [n for b, n in sorted(worst, key=lambda t: (-t[0], t[1]))[:6]]
    for name in names:
        photo = by_name[name]
        cfg = config
        if photo.sticker_mm:
            cfg = dataclasses.replace(config, scale=dataclasses.replace(config.scale, sticker_diameter_mm=photo.sticker_mm))
        result, image = analyze_photo_and_image(out / "set" / name, cfg, bundle)
        rec = photo_record(photo, result)
        dst = _overlay(Path(name), photo, result, image, rec, out / "overlays")
        print(f"overlay {dst}: {photo.reference}, ITA {photo.ita:.0f} ({rec['band']}), {rec['size']}, "
              f"missed {len(rec['missed'])}, false haem. labels "
              f"{sum(v for k, v in rec['r'].items() if k.startswith('false_real_on_')):.0f}")


if __name__ == "__main__":
    main()
