"""Re-train the shipped default model from generated photos (the recipe is default_model.toml).

`python -m spotscale.training.default_model [--recipe TOML] [--skip-eval]` generates the
training / validation / evaluation photos with spotscale.data.synth (unless already there with
the same seed and count), trains, copies the checkpoint to model/weights/default.pt + .json and
prints macro-F1, ECE and the confusion matrix on the held-out evaluation photos (seed 7).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import tomllib
from pathlib import Path

from spotscale.model.checkpoint import DEFAULT_WEIGHTS

RECIPE = Path(__file__).with_name("default_model.toml")


DEFAULT_MODEL_VERSION = "0.1.0"  # bump when the shipped weights change


def ensure_dataset(out: Path, n: int, seed: int, size: tuple[int, int], workers: int) -> Path:
    """out/annotations.json of n generated photos from `seed`, generated only if missing or different."""
    ann = out / "annotations.json"
    if ann.is_file():
        info = json.loads(ann.read_text()).get("info", {})
        if info.get("seed") == seed and info.get("n") == n:
            return ann
    from spotscale.data.synth import write_dataset
    t = time.time()
    path = write_dataset(out, n, seed, size=size, workers=workers)
    print(f"generated {n} photos (seed {seed}) in {time.time() - t:.0f} s -> {path}", flush=True)
    return Path(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=str(RECIPE), help="recipe TOML (default: the shipped one)")
    parser.add_argument("--skip-eval", action="store_true", help="do not evaluate on the seed-7 photos")
    parser.add_argument("--no-install", action="store_true", help="do not copy the weights into model/weights")
    args = parser.parse_args(argv)
    from spotscale.training.config import load_config
    from spotscale.training.evaluate import evaluate_checkpoint
    from spotscale.training.metrics import format_report
    from spotscale.training.train import run_training

    recipe = tomllib.loads(Path(args.recipe).read_text())
    d = recipe["data"]
    out, size, workers = Path(d["out"]), (int(d["size"][0]), int(d["size"][1])), int(d.get("workers", 1))
    t0 = time.time()
    train = ensure_dataset(out / "train", d["train_n"], d["train_seed"], size, workers)
    val = ensure_dataset(out / "val", d["val_n"], d["val_seed"], size, workers)
    cfg = load_config(None, **recipe.get("train", {}))
    metrics = run_training(train, out / "run", cfg, val_data=val)
    print(f"trained in {time.time() - t0:.0f} s (generation included)", flush=True)
    if not args.no_install:
        DEFAULT_WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "run" / "model.pt", DEFAULT_WEIGHTS)
        meta = json.loads((out / "run" / "model.json").read_text())
        meta["recipe"] = "python -m spotscale.training.default_model (training/default_model.toml)"
        meta["name"] = "spotscale-default"
        meta["version"] = DEFAULT_MODEL_VERSION
        DEFAULT_WEIGHTS.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
        print(f"installed {DEFAULT_WEIGHTS}", flush=True)
    if not args.skip_eval:
        ev = ensure_dataset(out / f"eval{d['eval_seed']}", d["eval_n"], d["eval_seed"], size, workers)
        ckpt = DEFAULT_WEIGHTS if not args.no_install else out / "run" / "model.pt"
        report = evaluate_checkpoint(ev, ckpt, out / "eval")
        print(f"held-out evaluation (seed {d['eval_seed']}, {d['eval_n']} photos):")
        print(format_report(report))
    return 0 if metrics else 1


if __name__ == "__main__":
    sys.exit(main())
