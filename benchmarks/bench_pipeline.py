"""One-photo pipeline speed on a 12 MP JPEG: decode twice vs decode + resize, and the per-stage breakdown.

Prints: cv2.imread time; full decode + 1/4 DCT-scaled decode vs full decode + cv2.resize(INTER_AREA);
the whole analyze_photo time (model: default if it loads, else none) as a multiple of the decode,
with seconds per stage. Run: .venv/bin/python benchmarks/bench_pipeline.py [--model none]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

CACHE = Path(os.environ.get("SPOTSCALE_BENCH_CACHE", Path.home() / ".cache" / "spotscale" / "bench_pipeline"))
SEED = 90_101  # disjoint from training and evaluation seeds


def _photo() -> Path:
    import cv2
    path = CACHE / "photo_12mp.jpg"
    if not path.is_file():
        from spotscale.data.synth import render_photo
        CACHE.mkdir(parents=True, exist_ok=True)
        photo = render_photo(SEED, size=(4000, 3000), scale="aruco")
        cv2.imwrite(str(path), cv2.cvtColor(photo.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_decode(path: Path, repeats: int) -> float:
    """Print decode-twice vs decode-and-resize; return the cv2.imread time."""
    import cv2
    from spotscale.data.photo import read_photo
    t_imread = _best(lambda: cv2.imread(str(path)), repeats)
    t_full = _best(lambda: read_photo(path), repeats)
    t_quarter = _best(lambda: read_photo(path, reduce=4), repeats)
    img = read_photo(path)
    h, w = img.shape[:2]
    t_resize = _best(lambda: cv2.resize(img, ((w + 3) // 4, (h + 3) // 4), interpolation=cv2.INTER_AREA), repeats)
    print(f"decode: cv2.imread {t_imread * 1000:.0f} ms; read_photo full {t_full * 1000:.0f} ms, "
          f"1/4 DCT decode {t_quarter * 1000:.0f} ms, INTER_AREA resize of the full decode "
          f"{t_resize * 1000:.0f} ms -> second decode {'beats' if t_quarter < t_resize else 'loses to'} resizing "
          f"({(t_full + t_quarter) * 1000:.0f} vs {(t_full + t_resize) * 1000:.0f} ms)")
    return t_imread


def bench_analysis(path: Path, model: str | None, repeats: int, t_decode: float) -> None:
    """Print the whole analysis time against the decode, with seconds per stage."""
    from spotscale.data.errors import SpotscaleError
    from spotscale.inference.pipeline import AnalysisConfig, analyze_photo, load_model
    config = AnalysisConfig(model_path=model)
    try:
        bundle = load_model(config)
    except SpotscaleError as e:
        print(f"default model not available ({e}); benchmarking without a CNN")
        config, bundle = AnalysisConfig(model_path="none"), None
    analyze_photo(path, config, net_bundle=bundle)  # warm-up
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = analyze_photo(path, config, net_bundle=bundle)
        runs.append((time.perf_counter() - t0, r))
    total, r = min(runs, key=lambda x: x[0])
    print(f"analyze_photo 12 MP ({r.width}x{r.height}, model {config.model_path or 'default'}): "
          f"{total * 1000:.0f} ms = {total / t_decode:.2f}x cv2.imread (target <= 3x); "
          f"{len(r.spots)} spots, scale {r.scale.source} {r.scale.mm_per_px}")
    print("  stages: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in r.timings.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=None, help="checkpoint, or 'none' (default: the shipped model)")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    path = _photo()
    t_decode = bench_decode(path, a.repeats)
    bench_analysis(path, a.model, a.repeats, t_decode)


if __name__ == "__main__":
    main()
