"""Render synthetic skin photos with spots, a reference scale and exact COCO ground truth."""
from __future__ import annotations

import argparse

from spotscale.data.errors import ConfigError


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 4000x3000, got {text!r}") from None
    if w < 64 or h < 64 or w * h > 60_000_000:
        raise argparse.ArgumentTypeError(f"size {text} out of range (64 px to 60 MP)")
    return w, h


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="output folder (images/ and annotations.json are written there)")
    parser.add_argument("--n", type=int, default=1, help="number of photos (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="base seed; photo i depends only on (seed, i)")
    parser.add_argument("--size", type=_size, default=(4000, 3000), help="WIDTHxHEIGHT (default 4000x3000)")
    parser.add_argument("--scale", choices=("aruco", "ruler", "sticker", "none", "mixed"), default="mixed")
    parser.add_argument("--jpeg-quality", type=int, default=None,
                        help="JPEG quality 1-100 (100 = PNG); default: drawn per photo in 40-95")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--web-fraction", type=float, default=0.1,
                        help="fraction of small 640x480 web photos (default 0.1)")


def run(args: argparse.Namespace) -> int:
    from spotscale.data.synth import describe, write_dataset

    if args.n < 1:
        raise ConfigError(f"--n must be >= 1, got {args.n}")
    if args.jpeg_quality is not None and not 1 <= args.jpeg_quality <= 100:
        raise ConfigError(f"--jpeg-quality must be in 1..100, got {args.jpeg_quality}")
    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    if not 0 <= args.web_fraction <= 1:
        raise ConfigError(f"--web-fraction must be in [0, 1], got {args.web_fraction}")
    path = write_dataset(args.out, args.n, args.seed, args.size, args.scale, args.jpeg_quality, args.workers,
                         args.web_fraction, progress=lambda image, anns: print(describe(image, anns), flush=True))
    print(f"wrote {path}")
    return 0
