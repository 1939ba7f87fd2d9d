"""Compare scored photos with ground truth: scale, detection, size, labels and counts, by skin tone."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from spotscale.data.errors import AnnotationError, ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--truth", type=Path, help="ground truth: COCO JSON or CSV manifest "
                     "(image, x, y, diameter_mm, label); needs --pred")
    src.add_argument("--data", type=Path, help="folder with annotations.json (or annotations.csv) and "
                     "its photos: score it with the default pipeline, then evaluate")
    parser.add_argument("--pred", type=Path, help="a `spotscale score` output folder (spots.csv, images.csv)")
    parser.add_argument("--out", type=Path, help="where evaluation.json and the plots go "
                        "(default: PRED/evaluation, or DIR_eval/ in the current folder with --data)")
    parser.add_argument("--scheme", default="default",
                        help="threshold scheme giving the truth's final labels (default: default)")
    parser.add_argument("--min-diameter-mm", type=float, default=0.5,
                        help="smaller hemorrhagic truth spots are not counted (default 0.5)")
    parser.add_argument("--workers", type=int, default=1, help="scoring processes with --data (default 1)")
    parser.add_argument("--model", help="checkpoint for scoring with --data (default: the shipped model)")


def _truth_file(data: Path) -> Path:
    for name in ("annotations.json", "annotations.csv"):
        if (data / name).is_file():
            return data / name
    raise AnnotationError(data, "no annotations.json or annotations.csv in this folder")


def _score(data: Path, pred: Path, args: argparse.Namespace) -> None:
    """Score `data` into `pred` through batch scoring's Python API, with score's own defaults."""
    from spotscale.inference import cmd_score
    from spotscale.inference.batch import BatchConfig, pipeline_engine, score_folder

    p = argparse.ArgumentParser()
    cmd_score.add_arguments(p)
    argv = [str(data), "--out", str(pred), "--scheme", args.scheme]
    if args.model:
        argv += ["--model", args.model]
    score_args = p.parse_args(argv)
    bc = BatchConfig(workers=args.workers, resume=True, progress=True)
    score_folder(data, pred, pipeline_engine(cmd_score.analysis_config(score_args)), bc)


def run(args: argparse.Namespace) -> int:
    from spotscale.inference.evaluate import EvalConfig, evaluate_paths, format_report

    if not (math.isfinite(args.min_diameter_mm) and args.min_diameter_mm >= 0):
        raise ConfigError(f"--min-diameter-mm {args.min_diameter_mm}: must be 0 or more")
    config = EvalConfig(scheme=args.scheme, min_diameter_mm=args.min_diameter_mm)
    if args.data is not None:
        truth = _truth_file(args.data)
        out = args.out or Path(f"{args.data.resolve().name}_eval")
        pred = args.pred or out / "pred"
        _score(args.data, pred, args)
    else:
        if args.pred is None:
            raise ConfigError("--truth needs --pred (a `spotscale score` output folder)")
        truth, pred = args.truth, args.pred
        out = args.out or pred / "evaluation"
    result = evaluate_paths(truth, pred, out, config)
    print(format_report(result))
    print(f"\nWrote {out}/evaluation.json and plots (bland_altman, confusion, counts, by_ita .png)")
    return 0
