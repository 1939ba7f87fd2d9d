"""A training run: cache crops, train with early stopping, calibrate, write checkpoint + metrics + plots.

Runs alone or under `torchrun --nproc_per_node N` (DistributedDataParallel: gloo on CPU, nccl on
GPU); every rank builds the same crop cache and takes its own stride of each epoch; only rank 0
writes. Reproducible: same seed + data + world size -> same metrics on the same machine.
"""
from __future__ import annotations

import copy
import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch
from torch import nn

from spotscale.data.errors import AnnotationError
from spotscale.data.types import CNN_CLASSES
from spotscale.model.checkpoint import save_checkpoint
from spotscale.model.crops import CropConfig
from spotscale.model.net import build_net, count_parameters
from spotscale.training import plots
from spotscale.training.calibration import fit_temperature, nll
from spotscale.training.config import TrainConfig, to_toml
from spotscale.training.datasets import SampleSet, build_samples, split_by_photo
from spotscale.training.engine import class_weights, predict_logits, train_one_epoch
from spotscale.training.metrics import classification_report, format_report


DataArg = Union[str, Path, Sequence[Union[str, Path]]]


@dataclass(frozen=True)
class Dist:
    """This process's place in a distributed run (rank 0 of 1 when alone)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch; make torch deterministic."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def init_distributed() -> Dist:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size())


def run_training(data: DataArg, out_dir: str | Path, cfg: TrainConfig, val_data: DataArg | None = None,
                 extra_negatives: dict | None = None, progress: bool = True) -> dict:
    """Train on `data` (validation: `val_data`, else a by-photo split) and write the run to out_dir.

    `data` and `val_data` are one source or a list of sources (e.g. truth + mined candidates).
    """
    dist = init_distributed()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    out = Path(out_dir)
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.toml").write_text(to_toml(cfg))
    t0 = time.time()
    train_set, tr_idx, val_set, va_idx = _load(data, val_data, cfg, extra_negatives)
    if len(tr_idx) == 0 or len(va_idx) == 0:
        raise AnnotationError(_names(data), f"need labelled spots for training and validation "
                                    f"(got {len(tr_idx)} and {len(va_idx)})")
    t_cache = time.time() - t0
    net = build_net(cfg.arch, num_classes=len(CNN_CLASSES), width=cfg.width, dropout=cfg.dropout)
    net = net.to(memory_format=torch.channels_last)  # the batches are channels-last too (engine.batch_tensors)
    model = nn.parallel.DistributedDataParallel(net) if dist.world > 1 else net
    result = _fit(model, net, train_set, tr_idx, val_set, va_idx, cfg, dist, progress)
    temperature = fit_temperature(result["val_logits"], val_set.targets[va_idx])
    report = classification_report(result["val_logits"], val_set.targets[va_idx], CNN_CLASSES, temperature)
    metrics = {"validation": report, "history": result["history"], "best_epoch": result["best_epoch"],
               "train_counts": _counts(train_set, tr_idx), "val_counts": _counts(val_set, va_idx),
               "n_hard_negatives": train_set.n_hard_negatives, "parameters": count_parameters(net),
               "world_size": dist.world}
    if dist.main:
        _write_run(out, net, cfg, metrics, train_set, data, val_data, temperature, t_cache)
        if progress:
            print(format_report(report), flush=True)
    if dist.world > 1:
        import torch.distributed as tdist
        tdist.barrier()
        tdist.destroy_process_group()
    return metrics


def _load(data, val_data, cfg: TrainConfig, extra) -> tuple[SampleSet, np.ndarray, SampleSet, np.ndarray]:
    """Train and validation samples with their index arrays."""
    samples = build_samples(data, cfg.crop, cfg.unknown_scale_prob, cfg.seed, extra, cfg.augment.jpeg_prob)
    if val_data is None:
        tr, va = split_by_photo(samples, cfg.val_fraction, cfg.seed)
        return samples, tr, samples, va
    val = build_samples(val_data, cfg.crop, cfg.unknown_scale_prob, cfg.seed + 1)
    return samples, np.arange(len(samples)), val, np.arange(len(val))


def _counts(s: SampleSet, idx: np.ndarray) -> dict[str, int]:
    """Samples per class among idx."""
    c = np.bincount(s.targets[idx], minlength=len(CNN_CLASSES))
    return {name: int(c[i]) for i, name in enumerate(CNN_CLASSES)}


def _fit(model: nn.Module, net: nn.Module, train_set: SampleSet, tr_idx: np.ndarray, val_set: SampleSet,
         va_idx: np.ndarray, cfg: TrainConfig, dist: Dist, progress: bool) -> dict:
    """Epochs with early stopping on validation macro-F1; the best weights are loaded into net."""
    from tqdm import tqdm

    weights = class_weights(train_set.targets[tr_idx], len(CNN_CLASSES), cfg.class_weighting)
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = int(np.ceil(np.ceil(len(tr_idx) / dist.world) / cfg.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(cfg.epochs * steps, 1),
                                                pct_start=0.15)
    crop_eval = CropConfig.from_dict({**cfg.crop.to_dict(), "pad_px": cfg.crop.pad_px})
    y_val = val_set.targets[va_idx]
    history, best, best_key, best_logits, since = [], 0, None, None, 0
    for epoch in range(cfg.epochs):
        bar = tqdm(total=int(np.ceil(len(tr_idx) / dist.world)), desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   unit="crop", disable=not (progress and dist.main), leave=False)
        stats = train_one_epoch(model, train_set, tr_idx, opt, loss_fn, cfg.augment, cfg.crop, cfg.seed, epoch,
                                cfg.batch_size, dist.rank, dist.world, bar, sched)
        bar.close()
        logits = predict_logits(net, val_set, va_idx, crop_eval)
        rep = classification_report(logits, y_val, CNN_CLASSES)
        history.append({"epoch": epoch + 1, "train_loss": stats.loss, "train_accuracy": stats.accuracy,
                        "val_loss": nll(logits, y_val, 1.0), "val_macro_f1": rep["macro_f1"],
                        "val_accuracy": rep["accuracy"]})
        key = (rep["macro_f1"], -history[-1]["val_loss"])
        if best_key is None or key > best_key:
            best_key, best, best_logits, since = key, epoch + 1, logits, 0
            best_state = copy.deepcopy(net.state_dict())
        else:
            since += 1
        if progress and dist.main:
            h = history[-1]
            print(f"epoch {h['epoch']}: train loss {h['train_loss']:.4f}  val loss {h['val_loss']:.4f}  "
                  f"val macro-F1 {h['val_macro_f1']:.4f}", flush=True)
        if since >= cfg.patience:
            break
    net.load_state_dict(best_state)
    return {"history": history, "best_epoch": best, "val_logits": best_logits}


def _names(data: DataArg) -> str:
    """Source names for the metadata ("a + b" for several)."""
    return " + ".join(str(d) for d in data) if isinstance(data, (list, tuple)) else str(data)


def _write_run(out: Path, net: nn.Module, cfg: TrainConfig, metrics: dict, train_set: SampleSet, data,
               val_data, temperature: float, t_cache: float) -> None:
    """Checkpoint + metadata, metrics.json and plots into the run folder."""
    rep = metrics["validation"]
    crop = CropConfig.from_dict({**cfg.crop.to_dict(), "pad_px": 0})
    meta = {
        "arch": cfg.arch, "arch_kwargs": {"width": cfg.width, "dropout": cfg.dropout},
        "crop": crop.to_dict(), "temperature": temperature,
        "normalisation": "channels 0-2: log((rgb + offset) / (local skin + offset)) * log_gain, local skin = "
                         "median of the crop's 3-px outer frame; channel 3: mask of the spot (0..1)",
        "training_data": {"source": _names(data), "validation": _names(val_data) if val_data else "by-photo split",
                          "photos": len(train_set.photos), "counts": metrics["train_counts"],
                          "val_counts": metrics["val_counts"], "hard_negatives": train_set.n_hard_negatives,
                          "description": cfg.description},
        "metrics": {k: rep[k] for k in ("macro_f1", "accuracy", "ece_before", "ece_after", "n")},
        "best_epoch": metrics["best_epoch"], "seed": cfg.seed,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    save_checkpoint(out / "model.pt", net, meta)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    plots.plot_learning_curves(metrics["history"], out / "learning_curves.png")
    plots.plot_confusion(rep["confusion_matrix"], CNN_CLASSES, out / "confusion_matrix.png")
    plots.plot_reliability(rep["reliability_before"], rep["reliability_after"], out / "reliability.png",
                           rep["ece_before"], rep["ece_after"])
