"""Train the spot classifier CNN on labelled photos (COCO, CSV manifest or crop folder)."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, nargs="+",
                        help="COCO dataset dir/JSON, CSV manifest, or crop folder; several are joined "
                             "(e.g. truth annotations.json and the `spotscale mine` output of the same photos)")
    parser.add_argument("--out", required=True, help="run folder (config, checkpoint, metrics, plots)")
    parser.add_argument("--config", help="TOML file overriding the default training config")
    parser.add_argument("--val-data", nargs="+", help="separate validation set(s) (default: a by-photo split of --data)")
    parser.add_argument("--epochs", type=int, help="number of epochs (overrides the config)")
    parser.add_argument("--seed", type=int, help="random seed (overrides the config)")
    parser.add_argument("--batch-size", type=int, help="batch size (overrides the config)")
    parser.add_argument("--threads", type=int, help="torch threads (overrides the config)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")


def run(args: argparse.Namespace) -> int:
    from spotscale.training.config import load_config
    from spotscale.training.train import run_training

    cfg = load_config(args.config, epochs=args.epochs, seed=args.seed, batch_size=args.batch_size,
                      threads=args.threads)
    data = args.data[0] if len(args.data) == 1 else args.data
    val = args.val_data[0] if args.val_data and len(args.val_data) == 1 else args.val_data
    metrics = run_training(data, args.out, cfg, val_data=val, progress=not args.quiet)
    v = metrics["validation"]
    print(f"wrote {args.out}: validation macro-F1 {v['macro_f1']:.4f}, "
          f"ECE {v['ece_before']:.4f} -> {v['ece_after']:.4f}")
    return 0
