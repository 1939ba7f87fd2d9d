"""Speed of photo reading (read_photo vs bare cv2.imread, reduce=1/2/4/8) and of the COCO/CSV loaders.

Synthetic inputs are made in a temporary folder: a 12 MP and a 50 MP JPEG (smooth noise, so they
compress like photos), a 12 MP PNG, a CMYK JPEG, and a COCO JSON / CSV manifest with many spots.
Prints median seconds (and peak RSS growth for the 50 MP reads). Figures vary with machine load.
Usage: python benchmarks/bench_photo.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from spotscale.data.loaders import load_coco, load_csv_manifest
from spotscale.data.photo import read_photo


def photo_like(w: int, h: int, seed: int = 0) -> np.ndarray:
    """Smooth coloured noise: compresses like a photo, not like a flat test card."""
    rng = np.random.default_rng(seed)
    small = rng.integers(60, 220, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return cv2.add(img, rng.integers(0, 12, (h, w, 3), dtype=np.uint8))


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_reading(tmp: Path, repeat: int) -> None:
    files = {}
    for name, (w, h) in {"12MP": (4000, 3000), "50MP": (8160, 6120)}.items():
        p = tmp / f"{name}.jpg"
        Image.fromarray(photo_like(w, h)).save(p, quality=90)
        files[name] = p
    png = tmp / "12MP.png"
    cv2.imwrite(str(png), cv2.imread(str(files["12MP"])))
    cmyk = tmp / "12MP_cmyk.jpg"
    Image.open(files["12MP"]).convert("CMYK").save(cmyk, quality=90)
    portrait = tmp / "12MP_exif6.jpg"  # a phone's portrait photo: stored landscape, EXIF says rotate
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(photo_like(4000, 3000)).save(portrait, quality=90, exif=exif)
    print("reading (median s)          read_photo   cv2.imread (both apply EXIF orientation)")
    for label, p in [("12 MP JPEG", files["12MP"]), ("12 MP JPEG EXIF 6", portrait), ("12 MP PNG", png),
                     ("12 MP CMYK JPEG", cmyk), ("50 MP JPEG", files["50MP"])]:
        ours = median_seconds(lambda: read_photo(p), repeat)
        bare = median_seconds(lambda: cv2.imread(str(p)), repeat)
        print(f"  {label:<24} {ours:10.3f} {bare:12.3f}")
    for k in (2, 4, 8):
        for label, p in [("12 MP JPEG", files["12MP"]), ("50 MP JPEG", files["50MP"])]:
            s = median_seconds(lambda: read_photo(p, reduce=k), repeat)
            shape = read_photo(p, reduce=k).shape
            print(f"  {label} reduce={k:<3} {s:10.3f}   -> {shape[1]}x{shape[0]}")


def bench_peak_memory(tmp: Path) -> None:
    """Peak RSS of a fresh process reading the 50 MP JPEG at each reduce, minus import-only RSS."""
    # VmHWM (peak resident set of this process image); ru_maxrss would carry the parent's peak.
    code = ("import sys; from spotscale.data.photo import read_photo; k = int(sys.argv[2]);"
            " k and read_photo(sys.argv[1], reduce=k);"
            " print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")

    def peak_mb(k: int) -> float:
        out = subprocess.run([sys.executable, "-c", code, str(tmp / "50MP.jpg"), str(k)],
                             capture_output=True, text=True, check=True).stdout
        return int(out) / 1024
    base = peak_mb(0)
    figures = ", ".join(f"reduce={k} {peak_mb(k) - base:.0f} MB" for k in (1, 2, 4, 8))
    print(f"peak memory above imports, 50 MP JPEG (full decode = 150 MB of pixels): {figures}")


def bench_loaders(tmp: Path, repeat: int) -> None:
    n_images, per_image, h, w = 500, 40, 3000, 4000
    images, anns, rows = [], [], ["image,x,y,diameter_mm,label,mm_per_px"]
    rng = np.random.default_rng(1)
    for i in range(n_images):
        name = f"images/{i:06d}.jpg"
        images.append({"id": i, "file_name": name, "width": w, "height": h, "mm_per_px": 0.05})
        for j in range(per_image):
            x, y, r = int(rng.integers(20, w - 20)), int(rng.integers(20, h - 20)), 6
            counts, start = [], x * h + y - r  # a 13 x 13 square spot, column-major runs
            for c in range(2 * r + 1):
                counts += [start - sum(counts), 2 * r + 1]
                start += h
            counts.append(h * w - sum(counts))
            anns.append({"id": len(anns), "image_id": i, "category_id": 1 + j % 4,
                         "bbox": [x - r, y - r, 2 * r + 1, 2 * r + 1], "iscrowd": 0,
                         "segmentation": {"counts": counts, "size": [h, w]},
                         "attributes": {"diameter_mm": 0.9}})
            rows.append(f"{name},{x},{y},0.9,petechia,0.05")
    cats = [{"id": k + 1, "name": n} for k, n in enumerate(["petechia", "purpura", "ecchymosis",
                                                            "other"])]
    (tmp / "annotations.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": cats}))
    (tmp / "manifest.csv").write_text("\n".join(rows) + "\n")
    n = n_images * per_image
    s = median_seconds(lambda: load_coco(tmp / "annotations.json", check_files=False), repeat)
    print(f"load_coco: {n_images} images, {n} RLE spots: {s:.2f} s ({s / n * 1e6:.0f} us/spot)")
    s = median_seconds(lambda: load_csv_manifest(tmp / "manifest.csv", check_files=False), repeat)
    print(f"load_csv_manifest: {n} rows: {s:.2f} s ({s / n * 1e6:.0f} us/row)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_photo_") as d:
        tmp = Path(d)
        bench_reading(tmp, args.repeat)
        bench_peak_memory(tmp)
        bench_loaders(tmp, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
