"""Temperature scaling (fitted on validation logits) and expected calibration error."""
from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits / temperature."""
    z = np.asarray(logits, np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, targets: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of targets under softmax(logits / T)."""
    p = softmax(logits, temperature)[np.arange(len(targets)), targets]
    return float(-np.mean(np.log(np.maximum(p, 1e-12))))


def fit_temperature(logits: np.ndarray, targets: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """The temperature minimising validation NLL (golden-section search on log T); 1.0 without data."""
    if len(targets) == 0:
        return 1.0
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    for _ in range(60):
        if nll(logits, targets, np.exp(c)) < nll(logits, targets, np.exp(d)):
            b = d
        else:
            a = c
        c, d = b - g * (b - a), a + g * (b - a)
    return float(np.exp((a + b) / 2))


def reliability(probs: np.ndarray, targets: np.ndarray, n_bins: int = 15) -> dict:
    """Per confidence bin: mean confidence, accuracy and count (equal-width bins on max prob)."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == targets).astype(np.float64)
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins)
    sum_conf = np.bincount(which, conf, minlength=n_bins)
    sum_acc = np.bincount(which, correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"edges": edges.tolist(), "count": counts.tolist(),
                "confidence": np.where(counts > 0, sum_conf / counts, np.nan).tolist(),
                "accuracy": np.where(counts > 0, sum_acc / counts, np.nan).tolist()}


def expected_calibration_error(probs: np.ndarray, targets: np.ndarray, n_bins: int = 15) -> float:
    """ECE: count-weighted mean |accuracy - confidence| over equal-width bins of the max probability."""
    if len(targets) == 0:
        return float("nan")
    r = reliability(probs, targets, n_bins)
    counts = np.asarray(r["count"], np.float64)
    gap = np.abs(np.nan_to_num(np.asarray(r["accuracy"])) - np.nan_to_num(np.asarray(r["confidence"])))
    return float(np.sum(counts * gap) / counts.sum())
