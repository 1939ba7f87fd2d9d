"""Batch scoring speed: photos/s with 1 and 2 workers, peak memory per worker, 12 MP analysis vs decode.

Targets (issue 5): 2 workers >= 1.7x one worker; <= 1 GB peak RSS per worker; analysing a 12 MP
JPEG (scale, segmentation, measurement, CNN, rules) <= 3x the time cv2.imread takes to decode it.
The generated photos are cached (SPOTSCALE_BENCH_CACHE, default ~/.cache/spotscale/bench_batch).
Run: .venv/bin/python benchmarks/bench_batch.py [--n 200] [--workers 1 2]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

CACHE = Path(os.environ.get("SPOTSCALE_BENCH_CACHE", Path.home() / ".cache" / "spotscale" / "bench_batch"))
SIZE = (1600, 1200)
SEED = 90_001  # disjoint from training and evaluation seeds


def photo_folder(n: int, n_unique: int = 25) -> Path:
    """A cached folder of n 1600x1200 JPEGs: n_unique generated photos, each in 8 variants.

    The generator needs ~10 s per 1600x1200 photo on one core, so the folder holds each distinct
    photo mirrored/flipped/rotated and at two JPEG qualities (same work per photo for the analysis).
    """
    import cv2
    from spotscale.data.synth import write_dataset
    folder = CACHE / f"photos_{n}_{SIZE[0]}x{SIZE[1]}"
    if folder.is_dir() and len(list(folder.glob("*.jpg"))) >= n:
        return folder
    base = CACHE / f"unique_{n_unique}_{SIZE[0]}x{SIZE[1]}"
    if not (base / "annotations.json").is_file():
        t0 = time.perf_counter()
        write_dataset(base, n_unique, SEED, size=SIZE, scale="mixed", jpeg_quality=92, workers=2, web_fraction=0.0)
        print(f"generated {n_unique} photos into {base} in {time.perf_counter() - t0:.0f} s")
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted((base / "images").iterdir())
    variants = [lambda im: im, lambda im: cv2.flip(im, 1), lambda im: cv2.flip(im, 0), lambda im: cv2.flip(im, -1)]
    i = 0
    while i < n:
        src = sources[i % len(sources)]
        k = i // len(sources)
        img = variants[k % 4](cv2.imread(str(src)))
        cv2.imwrite(str(folder / f"{src.stem}_v{k}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92 if k < 4 else 80])
        i += 1
    return folder


def default_model_path() -> str | None:
    """The shipped model when its weights exist, else no CNN (said in the output)."""
    from spotscale.model.checkpoint import DEFAULT_WEIGHTS
    return None if DEFAULT_WEIGHTS.is_file() else "none"


def bench_workers(images: Path, workers: int) -> tuple[float, float, tuple[float, ...], int, float]:
    """(photos/s, wall s, peak RSS MB per worker, n errors, worker CPU s per photo) for one run.

    CPU seconds per photo (user + system of the worker processes) do not depend on what else runs
    on the machine, unlike photos/s: equal CPU per photo for 1 and 2 workers means the work
    scales with cores.
    """
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    from spotscale.inference.batch import BatchConfig, pipeline_engine, score_folder
    from spotscale.inference.pipeline import AnalysisConfig
    with tempfile.TemporaryDirectory() as tmp:
        config = AnalysisConfig(model_path=default_model_path())
        s = score_folder(images, Path(tmp) / "out", pipeline_engine(config),
                         BatchConfig(workers=workers, progress=False))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return s.n_selected / s.seconds, s.seconds, s.worker_peak_rss_mb, s.n_error, cpu / max(1, s.n_selected)


def bench_12mp(repeats: int = 3) -> None:
    """Whole analysis of one 12 MP JPEG against its cv2.imread decode: bench_pipeline.py's measurement."""
    import bench_pipeline  # the sibling script (benchmarks/ is sys.path[0] when run as a script)

    path = bench_pipeline._photo()
    bench_pipeline.bench_analysis(path, None, repeats, bench_pipeline.bench_decode(path, repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="photos in the folder (>= 200 for the figures)")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2],
                        help="worker counts to time (none: only the 12 MP figure)")
    parser.add_argument("--skip-12mp", action="store_true")
    args = parser.parse_args()
    images = photo_folder(args.n)
    print(f"model: {default_model_path() or 'default (model/weights/default.pt)'}")
    print(f"{os.cpu_count()} CPUs, load average before the runs {os.getloadavg()[0]:.1f} "
          "(other processes on the machine slow both runs and blur the speed-up)")
    rates = {}
    for w in args.workers:
        load = os.getloadavg()[0]
        rate, wall, rss, n_err, cpu = bench_workers(images, w)
        rates[w] = rate
        print(f"workers={w}: {args.n} photos in {wall:.1f} s = {rate:.2f} photos/s; worker CPU "
              f"{cpu:.2f} s/photo; peak RSS per worker {', '.join(f'{m:.0f}' for m in rss)} MB "
              f"(target <= 1024); {n_err} errors; load average at start {load:.1f}")
    if 1 in rates and 2 in rates:
        print(f"speed-up 2 workers / 1 worker: {rates[2] / rates[1]:.2f}x (target >= 1.7x)")
    if not args.skip_12mp:
        bench_12mp()


if __name__ == "__main__":
    main()
