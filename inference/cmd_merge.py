"""Join the outputs of `spotscale score --shard K/N` runs into one output, as if scored at once."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", type=Path, nargs="+", help="shard output folders")
    parser.add_argument("--out", type=Path, required=True, help="merged output folder")
    parser.add_argument("--overwrite", action="store_true", help="replace spotscale's files in --out")


def run(args: argparse.Namespace) -> int:
    from spotscale.inference.batch import merge_outputs
    s = merge_outputs(args.inputs, args.out, overwrite=args.overwrite)
    print(f"Merged {len(args.inputs)} outputs: {s['n_ok']} ok, {s['n_error']} errors, "
          f"{s['n_pending']} pending, {s['n_spots']} spots -> {args.out}")
    if not s.get("complete"):
        print("warning: some shard outputs were incomplete (run them again with --resume)")
    return 0 if s.get("complete") else 1
