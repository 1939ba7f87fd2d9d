"""Score every photo in a folder: spots.csv, images.csv, overlays, summary.json, report.html."""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from spotscale.data.errors import ConfigError
from spotscale.inference.cmd_analyze import add_reference_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="folder of photos (searched recursively)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--workers", type=int, default=1,
                        help="analysis processes (default 1; 0 = in this process, no crash isolation)")
    parser.add_argument("--resume", action="store_true", help="continue a killed or partial run in --out")
    parser.add_argument("--overwrite", action="store_true", help="replace spotscale's earlier files in --out")
    parser.add_argument("--shard", metavar="K/N",
                        help="score only shard K of N, K 1-based (Slurm: --array=1-N and --shard "
                             "$SLURM_ARRAY_TASK_ID/N); a file's shard is a stable hash of its relative "
                             "path; join the shard outputs with `spotscale merge`")
    add_reference_arguments(parser)
    parser.add_argument("--scheme", help="threshold scheme name (default, medlineplus, itp-bat)")
    parser.add_argument("--scheme-file", type=Path, help="your own threshold scheme (TOML/JSON)")
    parser.add_argument("--model", help="checkpoint path, or 'none' for no CNN (default: the shipped model)")
    parser.add_argument("--config", type=Path, help="analysis settings (TOML); flags override it")
    parser.add_argument("--max-pixels", type=int, help="refuse photos with more pixels than this")
    parser.add_argument("--no-overlays", action="store_true", help="write no overlay images")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds one photo may take before it is stopped and recorded as an error "
                             "(default 900; 0 = no limit; needs --workers >= 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--engine", help=argparse.SUPPRESS)  # MODULE:FUNC(config) -> Engine (tests)


def analysis_config(args: argparse.Namespace) -> Any:
    """AnalysisConfig from --config TOML, then the flags."""
    from spotscale.inference import pipeline
    if args.max_pixels is not None and args.max_pixels < 1:
        raise ConfigError(f"--max-pixels {args.max_pixels}: must be positive")
    return pipeline.config_from_args(args)


def run(args: argparse.Namespace) -> int:
    from spotscale.inference.batch import BatchConfig, parse_shard, pipeline_engine, score_folder
    bc = BatchConfig(workers=args.workers, resume=args.resume, overwrite=args.overwrite,
                     shard=parse_shard(args.shard) if args.shard else None,
                     overlays=not args.no_overlays, progress=not args.no_progress,
                     timeout_s=args.timeout or None)
    if args.engine:
        module, _, func = args.engine.partition(":")
        engine = getattr(importlib.import_module(module), func)(args)
    else:
        engine = pipeline_engine(analysis_config(args))
    result = score_folder(args.dir, args.out, engine, bc)
    s = result.summary
    totals = ", ".join(f"{k} {v}" for k, v in s.get("totals", {}).items())
    print(f"{result.n_selected} photos: {result.n_ok} ok, {result.n_error} errors "
          f"({result.n_done_before} done before this run). Spots: {totals}.")
    print(f"Wrote {args.out}/spots.csv, images.csv, summary.json, report.html")
    print(s.get("disclaimer", ""))
    return 0 if s.get("complete") else 1


__all__ = ["add_arguments", "run", "analysis_config"]
