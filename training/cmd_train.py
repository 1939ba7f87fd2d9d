"""Train the spot classifier CNN on labelled photos (COCO, CSV manifest or crop folder)."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="COCO dataset dir/JSON, CSV manifest, or crop folder")
    parser.add_argument("--out", required=True, help="run folder (config, checkpoint, metrics, plots)")
    parser.add_argument("--config", help="TOML file overriding the default training config")
    parser.add_argument("--val-data", help="separate validation set (default: a by-photo split of --data)")
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
    metrics = run_training(args.data, args.out, cfg, val_data=args.val_data, progress=not args.quiet)
    v = metrics["validation"]
    print(f"wrote {args.out}: validation macro-F1 {v['macro_f1']:.4f}, "
          f"ECE {v['ece_before']:.4f} -> {v['ece_after']:.4f}")
    return 0
