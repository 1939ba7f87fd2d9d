"""Label the segmenter's candidates of a COCO set from its truth (hard negatives for CNN training)."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="COCO annotations.json (or its folder) with truth masks")
    parser.add_argument("--out", required=True, help="mined COCO json, written inside the data set's folder")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--min-overlap", type=float, default=0.2,
                        help="share of the smaller area a candidate must share with a truth spot to take its label")
    parser.add_argument("--config", help="analysis TOML ([scale], [segment]) as for analyze/score")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from spotscale.data.errors import ConfigError
    from spotscale.inference.mine import mine_dataset
    from spotscale.inference.pipeline import AnalysisConfig, load_config

    if not 0 < args.min_overlap <= 1:
        raise ConfigError(f"--min-overlap {args.min_overlap}: must be in (0, 1]")
    config = load_config(args.config) if args.config else AnalysisConfig()
    s = mine_dataset(args.data, args.out, config, max(1, args.workers), args.min_overlap, not args.quiet)
    print(f"wrote {s.out}: {s.photos} photos, {s.candidates} candidates ({s.matched} on truth spots, "
          f"{s.hard_negatives} hard negatives, {s.ambiguous} ambiguous left out); "
          f"{s.truth_found} of {s.truth_spots} truth spots found; {s.seconds:.0f} s, CPU {s.cpu_seconds:.0f} s")
    return 0
