"""PNG plots of a training run: learning curves, confusion matrix, reliability diagram (matplotlib Agg)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def _plt():
    """pyplot on the non-interactive Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_learning_curves(history: Sequence[dict], path: str | Path) -> Path:
    """Training loss, validation loss and validation macro-F1 per epoch."""
    plt = _plt()
    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(ep, [h["train_loss"] for h in history], label="train")
    a.plot(ep, [h["val_loss"] for h in history], label="validation")
    a.set_xlabel("epoch"), a.set_ylabel("cross-entropy"), a.legend()
    b.plot(ep, [h["val_macro_f1"] for h in history], color="C2")
    b.set_xlabel("epoch"), b.set_ylabel("validation macro-F1")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_confusion(cm: Sequence[Sequence[int]], classes: Sequence[str], path: str | Path) -> Path:
    """Confusion matrix with counts (rows true, columns predicted)."""
    plt = _plt()
    cm = np.asarray(cm)
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes), ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted"), ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_reliability(before: dict, after: dict, path: str | Path, ece_before: float, ece_after: float) -> Path:
    """Reliability diagram (accuracy vs confidence per bin) before and after temperature scaling."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    for rel, name, ece in ((before, "raw", ece_before), (after, "calibrated", ece_after)):
        conf, acc = np.asarray(rel["confidence"], float), np.asarray(rel["accuracy"], float)
        ok = np.isfinite(conf)
        ax.plot(conf[ok], acc[ok], "o-", label=f"{name} (ECE {ece:.3f})")
    ax.set_xlabel("confidence"), ax.set_ylabel("accuracy"), ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
