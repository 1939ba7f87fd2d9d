"""Evaluate a checkpoint on any labelled set with the same metrics as training."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from spotscale.model.checkpoint import load_checkpoint, load_default_model
from spotscale.model.crops import CropConfig
from spotscale.training import plots
from spotscale.training.datasets import build_samples
from spotscale.training.engine import predict_logits
from spotscale.training.metrics import classification_report


def evaluate_checkpoint(data: str | Path, checkpoint: str | Path | None = None, out: str | Path | None = None,
                        no_scale: bool = False) -> dict:
    """Metrics of a checkpoint (default: the shipped model) on `data`; writes metrics + plots to out."""
    net, meta = load_default_model() if checkpoint is None else load_checkpoint(checkpoint)
    crop = CropConfig.from_dict(meta.get("crop", {}))
    samples = build_samples(data, crop, unknown_scale_prob=1.0 if no_scale else 0.0)
    logits = predict_logits(net, samples, np.arange(len(samples)), crop)
    classes = tuple(meta["classes"])
    report = classification_report(logits, samples.targets, classes, float(meta.get("temperature", 1.0)))
    report["data"], report["checkpoint"] = str(data), str(checkpoint or "default")
    report["skipped_borderline_only"] = samples.skipped
    if out is not None:
        o = Path(out)
        o.mkdir(parents=True, exist_ok=True)
        (o / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
        plots.plot_confusion(report["confusion_matrix"], classes, o / "confusion_matrix.png")
        plots.plot_reliability(report["reliability_before"], report["reliability_after"], o / "reliability.png",
                               report["ece_before"], report["ece_after"])
    return report
