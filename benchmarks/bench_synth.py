"""Generator speed: CPU seconds per photo at 4000x3000 (12 MP) and 1600x1200, one core.

Target (issue 2): under 3 s per 12 MP photo. Times are process CPU seconds with OpenCV limited
to one thread (wall time is printed too; it depends on what else the machine runs).
Run: .venv/bin/python benchmarks/bench_synth.py [--n 5] [--seed 70000]
"""
from __future__ import annotations

import argparse
import statistics
import time

import cv2


def bench(size: tuple[int, int], n: int, seed: int) -> dict:
    """Render n photos of `size`; return CPU and wall seconds per photo plus JPEG encode time."""
    from spotscale.data.synth import render_photo

    cpu, wall, enc, spots = [], [], [], 0
    for i in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        photo = render_photo(seed + i, size, "mixed")
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
        c0 = time.process_time()
        cv2.imencode(".jpg", photo.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        enc.append(time.process_time() - c0)
        spots += len(photo.spots)
    return {"cpu_median": statistics.median(cpu), "cpu_max": max(cpu), "wall_median": statistics.median(wall),
            "jpeg_cpu": statistics.median(enc), "spots_per_photo": spots / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--seed", type=int, default=70_000)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    for size in ((4000, 3000), (1600, 1200)):
        r = bench(size, args.n, args.seed)
        print(f"{size[0]}x{size[1]}: {r['cpu_median']:.2f} s/photo CPU median (max {r['cpu_max']:.2f}), "
              f"wall median {r['wall_median']:.2f} s, JPEG encode {r['jpeg_cpu']:.2f} s, "
              f"{r['spots_per_photo']:.0f} spots/photo  (n={args.n}, target < 3 s at 12 MP)")


if __name__ == "__main__":
    main()
