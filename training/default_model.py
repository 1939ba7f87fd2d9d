"""Re-train the shipped default model from generated photos (the recipe is default_model.toml).

`python -m spotscale.training.default_model [--recipe TOML] [--skip-eval]` generates the
training / validation / evaluation photos with spotscale.data.synth (unless already there with
the same seed and count), runs `spotscale mine` on each set (the segmenter's own candidates,
labelled from the truth: hard negatives and partly segmented spots), trains on truth + mined,
copies the checkpoint to model/weights/default.pt + .json and prints macro-F1, ECE and the
confusion matrix on the held-out evaluation photos (seed 7): on their truth crops and on their
mined candidates (what the network meets in the pipeline). Wall and CPU seconds of every step
are printed at the end.

Mining runs as the `spotscale mine` command in a child process: training never imports inference.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from spotscale.model.checkpoint import DEFAULT_WEIGHTS

RECIPE = Path(__file__).with_name("default_model.toml")


DEFAULT_MODEL_VERSION = "0.5.0"  # bump when the shipped weights change
MINED_NAME = "mined.json"  # written beside each set's annotations.json (same image paths)


class Clock:
    """Wall and CPU seconds (this process and its children) per step."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, float, float]] = []
        self._t, self._c = time.time(), self._cpu()

    @staticmethod
    def _cpu() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    def lap(self, name: str) -> None:
        t, c = time.time(), self._cpu()
        self.steps.append((name, t - self._t, c - self._c))
        self._t, self._c = t, c

    def report(self) -> str:
        lines = [f"  {n:<12} wall {w:6.0f} s   CPU {c:6.0f} s" for n, w, c in self.steps]
        lines.append(f"  {'total':<12} wall {sum(s[1] for s in self.steps):6.0f} s   "
                     f"CPU {sum(s[2] for s in self.steps):6.0f} s")
        return "\n".join(lines)


def mine(annotations: Path, workers: int, reuse: bool = False) -> Path:
    """`spotscale mine` of one generated set into MINED_NAME beside it (kept if reuse and present)."""
    out = annotations.with_name(MINED_NAME)
    if reuse and out.is_file():
        return out
    cmd = [sys.executable, "-m", "spotscale.inference.cli", "mine", "--data", str(annotations), "--out", str(out),
           "--workers", str(workers), "--quiet"]
    subprocess.run(cmd, check=True)
    return out


def ensure_dataset(out: Path, n: int, seed: int, size: tuple[int, int], workers: int) -> Path:
    """out/annotations.json of n generated photos from `seed`, generated unless already there from the
    same seed, count and generator code (photos of an older generator are stale: they were the reason
    a shipped model once could not be reproduced from scratch)."""
    from spotscale.data.generator_version import generator_hash

    ann, stamp = out / "annotations.json", out / "generator.txt"
    if ann.is_file() and stamp.is_file() and stamp.read_text().strip() == generator_hash():
        info = json.loads(ann.read_text()).get("info", {})
        if info.get("seed") == seed and info.get("n") == n:
            return ann
    from spotscale.data.synth import write_dataset
    t = time.time()
    path = write_dataset(out, n, seed, size=size, workers=workers)
    stamp.write_text(generator_hash() + "\n")
    print(f"generated {n} photos (seed {seed}) in {time.time() - t:.0f} s -> {path}", flush=True)
    return Path(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=str(RECIPE), help="recipe TOML (default: the shipped one)")
    parser.add_argument("--skip-eval", action="store_true", help="do not evaluate on the seed-7 photos")
    parser.add_argument("--no-install", action="store_true", help="do not copy the weights into model/weights")
    parser.add_argument("--reuse-mined", action="store_true",
                        help="keep mined.json files already there (default: mine again with today's segmenter)")
    args = parser.parse_args(argv)
    from spotscale.training.config import load_config
    from spotscale.training.evaluate import evaluate_checkpoint
    from spotscale.training.metrics import format_report
    from spotscale.training.train import run_training

    recipe = tomllib.loads(Path(args.recipe).read_text())
    d = recipe["data"]
    out, size, workers = Path(d["out"]), (int(d["size"][0]), int(d["size"][1])), int(d.get("workers", 1))
    clock = Clock()
    train = ensure_dataset(out / "train", d["train_n"], d["train_seed"], size, workers)
    val = ensure_dataset(out / "val", d["val_n"], d["val_seed"], size, workers)
    ev = None if args.skip_eval else ensure_dataset(out / f"eval{d['eval_seed']}", d["eval_n"], d["eval_seed"],
                                                     size, workers)
    clock.lap("generate")
    train_sets, val_sets = [train], [val]
    if d.get("mine", True):
        train_sets.append(mine(train, workers, args.reuse_mined))
        val_sets.append(mine(val, workers, args.reuse_mined))
    clock.lap("mine")
    cfg = load_config(None, **recipe.get("train", {}))
    metrics = run_training(train_sets, out / "run", cfg, val_data=val_sets)
    clock.lap("train")
    if not args.no_install:
        DEFAULT_WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "run" / "model.pt", DEFAULT_WEIGHTS)
        meta = json.loads((out / "run" / "model.json").read_text())
        meta["recipe"] = "python -m spotscale.training.default_model (training/default_model.toml)"
        meta["name"] = "spotscale-default"
        meta["version"] = DEFAULT_MODEL_VERSION
        DEFAULT_WEIGHTS.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
        print(f"installed {DEFAULT_WEIGHTS}", flush=True)
    clock.lap("install")
    if ev is not None:
        ckpt = DEFAULT_WEIGHTS if not args.no_install else out / "run" / "model.pt"
        report = evaluate_checkpoint(ev, ckpt, out / "eval")
        print(f"held-out evaluation (seed {d['eval_seed']}, {d['eval_n']} photos), truth crops:")
        print(format_report(report))
        if d.get("mine", True):
            report = evaluate_checkpoint(mine(ev, workers, args.reuse_mined), ckpt, out / "eval_mined")
            print(f"held-out evaluation (seed {d['eval_seed']}), the segmenter's candidates labelled from the truth:")
            print(format_report(report))
        clock.lap("evaluate")
    print("time of the recipe (wall and CPU seconds, child processes included):\n" + clock.report(), flush=True)
    return 0 if metrics else 1


if __name__ == "__main__":
    sys.exit(main())
