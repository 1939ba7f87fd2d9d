"""Report the CNN's per-class precision/recall/F1, macro-F1, confusion matrix and ECE on a labelled set."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="COCO dataset dir/JSON, CSV manifest, or crop folder")
    parser.add_argument("--checkpoint", help="checkpoint .pt (default: the shipped model)")
    parser.add_argument("--out", help="folder for metrics.json and plots")
    parser.add_argument("--no-scale", action="store_true", help="cut crops as if no scale were known")


def run(args: argparse.Namespace) -> int:
    from spotscale.training.evaluate import evaluate_checkpoint
    from spotscale.training.metrics import format_report

    report = evaluate_checkpoint(args.data, args.checkpoint, args.out, no_scale=args.no_scale)
    print(format_report(report))
    return 0
