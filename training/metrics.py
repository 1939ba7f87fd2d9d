"""Classification metrics of the CNN: per-class precision / recall / F1, macro-F1, confusion, ECE."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from spotscale.training.calibration import expected_calibration_error, reliability, softmax


def confusion_matrix(targets: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, n) counts, rows = true class, columns = predicted class."""
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (np.asarray(targets, np.int64), np.asarray(preds, np.int64)), 1)
    return cm


def per_class(cm: np.ndarray, classes: Sequence[str]) -> dict:
    """{class: {precision, recall, f1, support}} of a confusion matrix (0 where undefined)."""
    out = {}
    for i, c in enumerate(classes):
        tp = float(cm[i, i])
        pred, true = float(cm[:, i].sum()), float(cm[i].sum())
        p = tp / pred if pred else 0.0
        r = tp / true if true else 0.0
        out[c] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "support": int(true)}
    return out


def classification_report(logits: np.ndarray, targets: np.ndarray, classes: Sequence[str],
                          temperature: float = 1.0) -> dict:
    """Every metric of one labelled set; ECE both raw (T = 1) and at `temperature`."""
    n = len(classes)
    preds = np.asarray(logits).argmax(axis=1) if len(logits) else np.zeros(0, np.int64)
    cm = confusion_matrix(targets, preds, n)
    pc = per_class(cm, classes)
    present = [c for c in classes if pc[c]["support"] > 0]
    macro = float(np.mean([pc[c]["f1"] for c in present])) if present else 0.0
    p_raw, p_cal = softmax(logits, 1.0), softmax(logits, temperature)
    return {
        "n": int(len(targets)),
        "classes": list(classes),
        "per_class": pc,
        "macro_f1": macro,
        "accuracy": float(np.mean(preds == targets)) if len(targets) else 0.0,
        "confusion_matrix": cm.tolist(),
        "temperature": float(temperature),
        "ece_before": expected_calibration_error(p_raw, targets),
        "ece_after": expected_calibration_error(p_cal, targets),
        "reliability_after": reliability(p_cal, targets),
        "reliability_before": reliability(p_raw, targets),
    }


def format_report(rep: dict) -> str:
    """A short plain-text summary: macro-F1, ECE, per-class table, confusion matrix."""
    lines = [f"n={rep['n']}  macro-F1={rep['macro_f1']:.4f}  accuracy={rep['accuracy']:.4f}  "
             f"ECE before={rep['ece_before']:.4f} after={rep['ece_after']:.4f} (T={rep['temperature']:.3f})",
             f"{'class':<10}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}"]
    for c, m in rep["per_class"].items():
        lines.append(f"{c:<10}{m['precision']:>10.4f}{m['recall']:>8.4f}{m['f1']:>8.4f}{m['support']:>9}")
    lines.append("confusion (rows true, cols predicted): " + "  ".join(rep["classes"]))
    for c, row in zip(rep["classes"], rep["confusion_matrix"]):
        lines.append(f"  {c:<10}" + "".join(f"{v:>8}" for v in row))
    return "\n".join(lines)
