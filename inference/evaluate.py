"""Compare a `score` output with ground truth: scale, detection, size, labels, counts, by skin tone.

Matching rule (one-to-one, per image, hand-checkable):
  a predicted spot P may match a truth spot T when the distance d between their centres (px) satisfies
      d <= max(3 px, 0.5 * T's diameter in px)   and   d <= max(3 px, 0.5 * P's diameter in px),
  i.e. each centre lies within the other spot's radius (3 px tolerance for tiny spots). All allowed
  pairs of an image are sorted by d (ties: truth order, then prediction order) and taken greedily when
  neither spot is taken yet. T's diameter in px is its diameter_mm over the image's true mm_per_px
  (the predicted mm_per_px when the truth has none; without either only P's criterion applies).

What counts:
  - truth spots: every annotation; hemorrhagic ones (petechia, purpura, ecchymosis; borderline in a
    CSV manifest) smaller than
    `min_diameter_mm` are "don't care": neither they nor a prediction matched to them are counted.
    Truth is read by data/loaders.py (COCO JSON or CSV manifest; photo files need not be present).
  - detection: a truth hemorrhagic spot is found when matched to a prediction whose final label is
    hemorrhagic (petechia, purpura, ecchymosis, borderline). Precision's denominator is every
    hemorrhagic prediction (unmatched, or matched to an `other` truth spot, is a false positive).
  - size: every counted truth hemorrhagic spot matched to any prediction with a diameter_mm.
  - labels: truth final label = the rule scheme applied to the TRUE diameter (`other` stays other);
    confusion rows are truth labels plus "spurious" (predictions matched to nothing), columns are
    predicted labels plus "missed" (truth matched to nothing).
  - counts: per photo, predictions labelled petechia vs counted truth spots whose final label is petechia.
Every figure is also given per skin-tone group (ITA bands of the bare skin, recorded per image).
"""
from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from spotscale.data import loaders
from spotscale.data.errors import AnnotationError
from spotscale.data.types import DISCLAIMER, FINAL_LABELS, HEMORRHAGIC
from spotscale.data.skin_tone import ITA_BANDS, ita_band
from spotscale.inference.rules import size_class

SIZE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("<2", 0.0, 2.0), ("2-4", 2.0, 4.0), ("4-10", 4.0, 10.0), (">10", 10.0, math.inf),
)
MISSED, SPURIOUS = "missed", "spurious"


@dataclass
class EvalConfig:
    """How predictions are compared with truth (defaults documented in the module docstring)."""

    scheme: str = "default"
    min_diameter_mm: float = 0.5
    min_match_px: float = 3.0
    match_fraction: float = 0.5


@dataclass(frozen=True)
class TruthSpot:
    """One annotated spot: centre (x, y) px of the image as stored, true size, category, final label."""

    x: float
    y: float
    diameter_mm: float | None
    category: str
    label: str


@dataclass(frozen=True)
class TruthImage:
    """One annotated photo."""

    image: str
    mm_per_px: float | None = None
    scale_kind: str = "unknown"
    ita: float | None = None
    spots: tuple[TruthSpot, ...] = ()


@dataclass(frozen=True)
class PredSpot:
    """One predicted spot, as read back from spots.csv."""

    x: float
    y: float
    diameter_px: float | None
    diameter_mm: float | None
    label: str


@dataclass(frozen=True)
class PredImage:
    """One scored photo, as read back from images.csv + spots.csv."""

    image: str
    status: str = "ok"
    mm_per_px: float | None = None
    scale_source: str = "none"
    spots: tuple[PredSpot, ...] = ()


@dataclass(frozen=True)
class MatchedImage:
    """A truth photo, its prediction and the one-to-one matches (truth index, pred index, distance px)."""

    truth: TruthImage
    pred: PredImage
    matches: tuple[tuple[int, int, float], ...] = field(default=())


# ---------------------------------------------------------------------------------------- rules


def truth_label(category: str, diameter_mm: float | None, scheme: str = "default") -> str:
    """Final label of a truth spot: the rule scheme on its true diameter; `other` stays other."""
    if category not in HEMORRHAGIC:
        return "other"
    if diameter_mm is None:
        return category
    return size_class(diameter_mm, scheme)


# -------------------------------------------------------------------------------------- reading


def image_key(name: str) -> str:
    """A photo's name as a comparable relative POSIX path."""
    return PurePosixPath(str(name).replace("\\", "/")).as_posix()  # also drops leading "./"


def read_truth(path: str | os.PathLike, scheme: str = "default") -> list[TruthImage]:
    """Read ground truth from a COCO JSON or a CSV manifest (a file, or a folder holding one).

    Parsing and validation are the loaders' (data/loaders.py); photo files need not be present.
    Image names are taken relative to the annotation file's folder, as `score DIR` names them.
    """
    p = Path(path)
    if p.is_dir():
        found = [p / n for n in (*loaders.COCO_NAMES, *loaders.CSV_NAMES) if (p / n).is_file()]
        if not found:
            raise AnnotationError(p, "no annotations.json or manifest CSV in this folder")
        p = found[0]
    if not p.is_file():
        raise AnnotationError(p, "no such annotation file")
    if p.suffix.lower() == ".json":
        labelled = loaders.load_coco(p, check_files=False)
    else:
        labelled = loaders.load_csv_manifest(p, check_files=False)
    base = p.parent.resolve()
    out = []
    for im in labelled.images:
        scale = im.meta.get("scale")
        kind = scale.get("kind", "unknown") if isinstance(scale, dict) else str(scale or "unknown")
        spots = tuple(TruthSpot(s.x, s.y, s.diameter_mm, s.label,
                                truth_label(s.label, s.diameter_mm, scheme)) for s in im.spots)
        out.append(TruthImage(image_key(os.path.relpath(im.path, base)), im.mm_per_px, kind,
                              _float(im.meta.get("ita")), spots))
    return out


def _float(v: object) -> float | None:
    if v is None or v == "" or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def read_predictions(out_dir: str | os.PathLike) -> dict[str, PredImage]:
    """Read a `score` output folder (images.csv + spots.csv) into PredImage records by image key."""
    d = Path(out_dir)
    images_csv, spots_csv = d / "images.csv", d / "spots.csv"
    if not images_csv.is_file() and not spots_csv.is_file():
        raise AnnotationError(d, "not a score output (no images.csv / spots.csv)")
    spots: dict[str, list[PredSpot]] = {}
    for i, row in enumerate(_csv_rows(spots_csv), start=2):
        try:
            spots.setdefault(image_key(row["image"]), []).append(PredSpot(
                float(row["x"]), float(row["y"]), _float(row.get("diameter_px")),
                _float(row.get("diameter_mm")), (row.get("label") or "").strip()))
        except (KeyError, TypeError, ValueError) as e:
            raise AnnotationError(spots_csv, f"line {i}: bad row ({e})") from None
    preds = {}
    for row in _csv_rows(images_csv):
        key = image_key(row.get("image", ""))
        preds[key] = PredImage(key, (row.get("status") or "ok").strip(), _float(row.get("mm_per_px")),
                               (row.get("scale_source") or "none").strip(), tuple(spots.pop(key, ())))
    for key, s in spots.items():  # spots of images missing from images.csv
        preds[key] = PredImage(key, spots=tuple(s))
    return preds


def _csv_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise AnnotationError(path, f"cannot read CSV: {e}") from None


# ------------------------------------------------------------------------------------- matching


def match_spots(truth: TruthImage, pred: PredImage,
                config: EvalConfig | None = None) -> tuple[tuple[int, int, float], ...]:
    """One-to-one matches (truth index, pred index, distance px) by the rule of the module docstring."""
    cfg = config or EvalConfig()
    if not truth.spots or not pred.spots:
        return ()
    mm_per_px = truth.mm_per_px or pred.mm_per_px
    txy = np.array([(t.x, t.y) for t in truth.spots], dtype=float)
    pxy = np.array([(p.x, p.y) for p in pred.spots], dtype=float)
    d = np.hypot(txy[:, None, 0] - pxy[None, :, 0], txy[:, None, 1] - pxy[None, :, 1])
    t_px = np.array([t.diameter_mm / mm_per_px if (t.diameter_mm and mm_per_px) else np.inf
                     for t in truth.spots])  # unknown size: only the prediction's criterion applies
    p_px = np.array([p.diameter_px or 0.0 for p in pred.spots])
    ok = (d <= np.maximum(cfg.min_match_px, cfg.match_fraction * t_px)[:, None]) & (
        d <= np.maximum(cfg.min_match_px, cfg.match_fraction * p_px)[None, :])
    ti, pi = np.nonzero(ok)
    order = np.lexsort((pi, ti, d[ti, pi]))  # by distance, then truth order, then prediction order
    used_t, used_p, out = set(), set(), []
    for k in order:
        a, b = int(ti[k]), int(pi[k])
        if a not in used_t and b not in used_p:
            used_t.add(a)
            used_p.add(b)
            out.append((a, b, float(d[a, b])))
    return tuple(sorted(out))


def pair_images(truth: list[TruthImage], preds: dict[str, PredImage],
                config: EvalConfig | None = None) -> list[MatchedImage]:
    """Pair every truth photo with its prediction (same relative path, else same unique file name)."""
    by_name: dict[str, list[str]] = {}
    for key in preds:
        by_name.setdefault(PurePosixPath(key).name, []).append(key)
    out = []
    for t in truth:
        p = preds.get(t.image)
        if p is None:
            alts = by_name.get(PurePosixPath(t.image).name, [])
            p = preds[alts[0]] if len(alts) == 1 else PredImage(t.image, status="missing")
        out.append(MatchedImage(t, p, match_spots(t, p, config)))
    return out


# -------------------------------------------------------------------------------------- metrics


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else num / den


def _f1(tp: int, n_pred: int, n_truth: int) -> float | None:
    """F1 = 2 TP / (n predicted + n true): the harmonic mean of P and R, and 0 when one is undefined."""
    return _ratio(2 * tp, n_pred + n_truth)


def _counted(t: TruthSpot, cfg: EvalConfig) -> bool:
    """False for hemorrhagic truth spots below the size limit ("don't care")."""
    if t.category not in HEMORRHAGIC:
        return True
    return t.diameter_mm is None or t.diameter_mm >= cfg.min_diameter_mm


def scale_metrics(images: list[MatchedImage]) -> dict:
    """Per reference kind: found rate, source agreement and relative error of mm_per_px."""
    out = {}
    for kind in sorted({m.truth.scale_kind for m in images}):
        sub = [m for m in images if m.truth.scale_kind == kind]
        found = [m for m in sub if m.pred.status == "ok" and m.pred.mm_per_px is not None]
        errs = [abs(m.pred.mm_per_px - m.truth.mm_per_px) / m.truth.mm_per_px
                for m in found if m.truth.mm_per_px]
        out[kind] = {
            "n_images": len(sub), "found_rate": _ratio(len(found), len(sub)),
            "source_agrees_rate": _ratio(sum(m.pred.scale_source == kind for m in found), len(found)),
            "rel_error_median": float(np.median(errs)) if errs else None,
            "rel_error_mean": float(np.mean(errs)) if errs else None,
            "rel_error_max": float(np.max(errs)) if errs else None,
        }
    return out


def detection_metrics(images: list[MatchedImage], cfg: EvalConfig) -> dict:
    """Precision, recall and F1 of hemorrhagic spots (see the module docstring for what counts).

    Also: recall by true size band, and `recall_any_label` (matched to any prediction, whatever its
    label), which separates what segmentation missed from what the labels turned into `other`.
    """
    n_pred = ignored = 0
    found: list[tuple[float | None, bool, bool]] = []  # (true diameter, found, matched at all)
    for m in images:
        by_pred = {pi: ti for ti, pi, _ in m.matches}
        by_truth = {ti: pi for ti, pi, _ in m.matches}
        for ti, t in enumerate(m.truth.spots):
            if t.category in HEMORRHAGIC and _counted(t, cfg):
                pi = by_truth.get(ti)
                found.append((t.diameter_mm, pi is not None and m.pred.spots[pi].label in HEMORRHAGIC,
                              pi is not None))
        for pi, p in enumerate(m.pred.spots):
            if p.label in HEMORRHAGIC:
                ti = by_pred.get(pi)
                if ti is not None and not _counted(m.truth.spots[ti], cfg):
                    ignored += 1
                else:
                    n_pred += 1
    n_truth, tp = len(found), sum(f for _, f, _ in found)
    precision, recall = _ratio(tp, n_pred), _ratio(tp, n_truth)
    by_band = {}
    for name, lo, hi in SIZE_BANDS:
        band = [f for d, f, _ in found if d is not None and lo <= d < hi]
        by_band[name] = {"n_truth": len(band), "recall": _ratio(sum(band), len(band))}
    return {"n_truth": n_truth, "n_pred": n_pred, "tp": tp, "fp": n_pred - tp, "fn": n_truth - tp,
            "ignored_pred": ignored, "precision": precision, "recall": recall,
            "f1": _f1(tp, n_pred, n_truth), "recall_any_label": _ratio(sum(a for _, _, a in found), n_truth),
            "recall_by_band": by_band}


def size_pairs(images: list[MatchedImage], cfg: EvalConfig) -> list[tuple[float, float]]:
    """(true, predicted) diameter_mm of counted hemorrhagic truth spots matched to a sized prediction."""
    out = []
    for m in images:
        for ti, pi, _ in m.matches:
            t, p = m.truth.spots[ti], m.pred.spots[pi]
            if (t.category in HEMORRHAGIC and _counted(t, cfg)
                    and t.diameter_mm is not None and p.diameter_mm is not None):
                out.append((t.diameter_mm, p.diameter_mm))
    return out


def _size_stats(pairs: list[tuple[float, float]]) -> dict:
    if not pairs:
        return {"n": 0, "mae_mm": None, "bias_mm": None, "rel_error_mean": None,
                "rel_error_median": None, "loa_low_mm": None, "loa_high_mm": None}
    t, p = np.array(pairs).T
    diff = p - t
    rel = np.abs(diff) / t
    sd = float(diff.std(ddof=1)) if len(diff) > 1 else 0.0
    bias = float(diff.mean())
    return {"n": len(pairs), "mae_mm": float(np.abs(diff).mean()), "bias_mm": bias,
            "rel_error_mean": float(rel.mean()), "rel_error_median": float(np.median(rel)),
            "loa_low_mm": bias - 1.96 * sd, "loa_high_mm": bias + 1.96 * sd}


def size_metrics(images: list[MatchedImage], cfg: EvalConfig) -> dict:
    """Error of diameter_mm overall and by true size band; limits of agreement (Bland-Altman)."""
    pairs = size_pairs(images, cfg)
    out = _size_stats(pairs)
    out["by_band"] = {name: _size_stats([q for q in pairs if lo <= q[0] < hi])
                      for name, lo, hi in SIZE_BANDS}
    return out


def label_metrics(images: list[MatchedImage], cfg: EvalConfig) -> dict:
    """Confusion matrix of final labels (with missed / spurious), per-class P/R/F1, macro-F1."""
    rows, cols = list(FINAL_LABELS) + [SPURIOUS], list(FINAL_LABELS) + [MISSED]
    mat = np.zeros((len(rows), len(cols)), dtype=int)

    def idx(labels: list[str], label: str) -> int:
        return labels.index(label) if label in labels else labels.index("other")

    for m in images:
        matched_t = {ti: pi for ti, pi, _ in m.matches}
        matched_p = {pi for _, pi, _ in m.matches}
        for ti, t in enumerate(m.truth.spots):
            if not _counted(t, cfg):
                matched_p.add(matched_t.get(ti, -1))  # its prediction is not spurious either
                continue
            pi = matched_t.get(ti)
            col = cols.index(MISSED) if pi is None else idx(cols, m.pred.spots[pi].label)
            mat[idx(rows, t.label), col] += 1
        for pi, p in enumerate(m.pred.spots):
            if pi not in matched_p:
                mat[rows.index(SPURIOUS), idx(cols, p.label)] += 1
    per_class = {}
    for k, c in enumerate(FINAL_LABELS):
        support, n_pred = int(mat[k].sum()), int(mat[:, k].sum())
        pr, rc = _ratio(mat[k, k], n_pred), _ratio(mat[k, k], support)
        per_class[c] = {"precision": pr, "recall": rc, "f1": _f1(int(mat[k, k]), n_pred, support),
                        "support": support, "n_pred": n_pred}
    f1s = [v["f1"] for v in per_class.values() if v["support"] or v["n_pred"]]
    n_matched = int(mat[: len(FINAL_LABELS), : len(FINAL_LABELS)].sum())
    n_right = int(np.trace(mat[: len(FINAL_LABELS), : len(FINAL_LABELS)]))
    return {"rows": rows, "cols": cols, "matrix": mat.tolist(), "per_class": per_class,
            "macro_f1": float(np.mean(f1s)) if f1s else None,
            "accuracy_matched": _ratio(n_right, n_matched), "n_matched": n_matched}


def count_pairs(images: list[MatchedImage], cfg: EvalConfig) -> list[tuple[int, int]]:
    """(true, predicted) petechiae count per photo; predictions matched to "don't care" spots left out."""
    out = []
    for m in images:
        ignored = {pi for ti, pi, _ in m.matches if not _counted(m.truth.spots[ti], cfg)}
        out.append((sum(t.label == "petechia" and _counted(t, cfg) for t in m.truth.spots),
                    sum(p.label == "petechia" and pi not in ignored
                        for pi, p in enumerate(m.pred.spots))))
    return out


def count_metrics(images: list[MatchedImage], cfg: EvalConfig) -> dict:
    """Petechiae count per photo: Pearson r, mean absolute count error, bias."""
    pairs = count_pairs(images, cfg)
    if not pairs:
        return {"n_images": 0, "pearson_r": None, "mae": None, "bias": None,
                "true_total": 0, "pred_total": 0}
    t, p = np.array(pairs, dtype=float).T
    r = None
    if len(t) > 1 and t.std() > 0 and p.std() > 0:
        r = float(np.corrcoef(t, p)[0, 1])
    return {"n_images": len(pairs), "pearson_r": r, "mae": float(np.abs(p - t).mean()),
            "bias": float((p - t).mean()), "true_total": int(t.sum()), "pred_total": int(p.sum())}


def metrics(images: list[MatchedImage], config: EvalConfig | None = None) -> dict:
    """Every figure for one set of matched photos."""
    cfg = config or EvalConfig()
    return {
        "n_images": len(images),
        "n_truth_spots": sum(sum(_counted(t, cfg) for t in m.truth.spots) for m in images),
        "n_pred_spots": sum(len(m.pred.spots) for m in images),
        "n_images_not_scored": sum(m.pred.status != "ok" for m in images),
        "scale": scale_metrics(images),
        "detection": detection_metrics(images, cfg),
        "size": size_metrics(images, cfg),
        "labels": label_metrics(images, cfg),
        "counts": count_metrics(images, cfg),
    }


def evaluate(truth: list[TruthImage], preds: dict[str, PredImage],
             config: EvalConfig | None = None) -> tuple[dict, list[MatchedImage]]:
    """All figures, overall and per skin-tone group, plus the matched photos (for plots)."""
    cfg = config or EvalConfig()
    images = pair_images(truth, preds, cfg)
    groups: dict[str, list[MatchedImage]] = {}
    for m in images:
        groups.setdefault(ita_band(m.truth.ita), []).append(m)
    order = [name for name, _, _ in ITA_BANDS] + ["unknown"]
    truth_keys = {t.image for t in truth}
    result = {
        "config": asdict(cfg),
        "matching_rule": MATCHING_RULE,
        "overall": metrics(images, cfg),
        "by_ita": {g: metrics(groups[g], cfg) for g in order if g in groups},
        "n_pred_images_without_truth": sum(k not in truth_keys for k in preds),
        "notes": [DISCLAIMER, "Truth labels are the rule scheme applied to the true diameter."],
    }
    return result, images


MATCHING_RULE = (
    "their centres are at most max(3 px, half the true diameter) and at most max(3 px, half the "
    "predicted diameter) apart, one-to-one, nearest pairs first"
)


# ------------------------------------------------------------------------------- report + plots


def _fmt(v: float | None, pct: bool = False, digits: int = 3) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.{max(digits - 2, 1)}f}%" if pct else f"{v:.{digits}f}"


def summary_row(name: str, m: dict) -> list[str]:
    """One line of the headline table: detection, size, labels, counts for one group."""
    d, s, lab, c = m["detection"], m["size"], m["labels"], m["counts"]
    return [name, str(m["n_images"]), str(d["n_truth"]), _fmt(d["precision"]), _fmt(d["recall"]),
            _fmt(d["f1"]), _fmt(s["mae_mm"]), _fmt(s["rel_error_median"], pct=True),
            _fmt(lab["macro_f1"]), _fmt(lab["accuracy_matched"]), _fmt(c["pearson_r"]),
            _fmt(c["mae"], digits=2)]


SUMMARY_HEADER = ["group", "photos", "true spots (hemorrhagic)", "precision", "recall", "F1", "size MAE mm",
                  "size rel err (median)", "label macro-F1", "label acc (matched)", "petechiae count r",
                  "count MAE"]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def scale_table(result: dict) -> tuple[list[str], list[list[str]]]:
    """Scale figures per reference kind, overall and per ITA group."""
    header = ["group", "reference", "photos", "found", "source agrees", "mm/px rel err median",
              "max"]
    rows = []
    for g, m in [("all", result["overall"]), *result["by_ita"].items()]:
        for kind, s in m["scale"].items():
            rows.append([g, kind, str(s["n_images"]), _fmt(s["found_rate"], pct=True),
                         _fmt(s["source_agrees_rate"], pct=True),
                         _fmt(s["rel_error_median"], pct=True, digits=4),
                         _fmt(s["rel_error_max"], pct=True, digits=4)])
    return header, rows


def band_table(m: dict) -> tuple[list[str], list[list[str]]]:
    """Detection recall and diameter error per true size band of one group's figures."""
    header = ["band (mm)", "true spots", "recall", "sized pairs", "MAE (mm)", "bias (mm)",
              "rel err (median)"]
    rows = []
    for name, _, _ in SIZE_BANDS:
        d, s = m["detection"]["recall_by_band"][name], m["size"]["by_band"][name]
        rows.append([name, str(d["n_truth"]), _fmt(d["recall"]), str(s["n"]), _fmt(s["mae_mm"]),
                     _fmt(s["bias_mm"]), _fmt(s["rel_error_median"], pct=True)])
    return header, rows


def format_report(result: dict) -> str:
    """The terminal report: headline table, scale, size bands, confusion matrix."""
    rows = [summary_row("all", result["overall"])]
    rows += [summary_row(g, m) for g, m in result["by_ita"].items()]
    parts = ["Detection, size, labels and counts (overall and by skin tone, ITA band):",
             markdown_table(SUMMARY_HEADER, rows), "", "Scale:", markdown_table(*scale_table(result)),
             "", "Recall and diameter error by true size band (all photos):",
             markdown_table(*band_table(result["overall"]))]
    lab = result["overall"]["labels"]
    parts += ["", "Confusion matrix of final labels (rows truth, columns predicted):",
              markdown_table(["truth \\ pred", *lab["cols"]],
                             [[r, *map(str, row)] for r, row in zip(lab["rows"], lab["matrix"])]),
              "", f"A prediction matches a true spot when {result['matching_rule']}.", DISCLAIMER]
    return "\n".join(parts)


def write_outputs(result: dict, images: list[MatchedImage], out_dir: str | os.PathLike,
                  config: EvalConfig | None = None) -> list[Path]:
    """Write evaluation.json and the PNG plots into out_dir; return the paths written."""
    cfg = config or EvalConfig()
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    js = d / "evaluation.json"
    tmp = js.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2), encoding="utf-8")
    os.replace(tmp, js)
    return [js, *write_plots(result, images, d, cfg)]


def evaluate_paths(truth_path: str | os.PathLike, pred_dir: str | os.PathLike,
                   out_dir: str | os.PathLike | None = None,
                   config: EvalConfig | None = None) -> dict:
    """Read truth and a score output, compute every figure, write them to out_dir when given."""
    cfg = config or EvalConfig()
    truth = read_truth(truth_path, cfg.scheme)
    result, images = evaluate(truth, read_predictions(pred_dir), cfg)
    result["truth"], result["pred"] = str(truth_path), str(pred_dir)
    if out_dir is not None:
        write_outputs(result, images, out_dir, cfg)
    return result


def write_plots(result: dict, images: list[MatchedImage], out_dir: Path,
                config: EvalConfig | None = None) -> list[Path]:
    """PNG plots: Bland-Altman, confusion matrix, petechiae counts, figures by skin-tone group."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    cfg = config or EvalConfig()
    paths = []
    for name, draw in (("bland_altman.png", _plot_bland_altman), ("confusion.png", _plot_confusion),
                       ("counts.png", _plot_counts), ("by_ita.png", _plot_by_ita)):
        fig = Figure(figsize=(6.4, 4.8))
        draw(fig, result, images, cfg)
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=100)
        paths.append(out_dir / name)
    return paths


def _plot_bland_altman(fig, result: dict, images: list[MatchedImage], cfg: EvalConfig) -> None:
    """Difference against mean, in mm (top) and relative to the mean (bottom), coloured by skin tone."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax, ax2 = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2)
    groups: dict[str, list[MatchedImage]] = {}
    for m in images:
        groups.setdefault(ita_band(m.truth.ita), []).append(m)
    order = [name for name, _, _ in ITA_BANDS] + ["unknown"]
    for g, ims in sorted(groups.items(), key=lambda kv: order.index(kv[0])):
        pairs = size_pairs(ims, cfg)
        if pairs:
            t, p = np.array(pairs).T
            mean = (t + p) / 2
            ax.scatter(mean, p - t, s=8, alpha=0.7, label=f"{g} (n={len(pairs)})")
            ax2.scatter(mean, 100 * (p - t) / mean, s=8, alpha=0.7)
    s = result["overall"]["size"]
    if s["n"]:
        for v, style in ((s["bias_mm"], "-"), (s["loa_low_mm"], "--"), (s["loa_high_mm"], "--")):
            ax.axhline(v, color="k", linestyle=style, linewidth=1)
        ax.legend(fontsize=6)
        for a in (ax, ax2):
            a.set_xscale("log")
            a.xaxis.set_major_formatter(ScalarFormatter())
            a.xaxis.set_minor_formatter(NullFormatter())
    ax2.axhline(0, color="k", linewidth=1)
    ax.set_ylabel("measured - true (mm)")
    ax2.set_ylabel("difference / mean (%)")
    ax2.set_xlabel("mean of true and measured diameter (mm)")
    ax.set_title("Bland-Altman: spot diameter (bias and 95% limits in mm)")


def _plot_confusion(fig, result: dict, images: list[MatchedImage], cfg: EvalConfig) -> None:
    ax = fig.add_subplot()
    lab = result["overall"]["labels"]
    mat = np.array(lab["matrix"])
    shade = np.log1p(mat)  # log shading: one big cell (e.g. spurious) must not wash out the rest
    ax.imshow(shade, cmap="Blues")
    for (i, j), v in np.ndenumerate(mat):
        ax.text(j, i, str(v), ha="center", va="center",
                color="white" if shade[i, j] > shade.max() / 2 else "black", fontsize=8)
    ax.set_xticks(range(len(lab["cols"])), lab["cols"], rotation=30, ha="right")
    ax.set_yticks(range(len(lab["rows"])), lab["rows"])
    ax.set_xlabel("predicted final label")
    ax.set_ylabel("true final label")
    ax.set_title(f"Final labels (macro-F1 {_fmt(lab['macro_f1'])})")


def _plot_counts(fig, result: dict, images: list[MatchedImage], cfg: EvalConfig) -> None:
    ax = fig.add_subplot()
    pairs = count_pairs(images, cfg)
    if pairs:
        t, p = np.array(pairs).T
        ax.scatter(t, p, s=14, alpha=0.7)
        hi = max(t.max(), p.max(), 1)
        ax.plot([0, hi], [0, hi], "k--", linewidth=1)
    c = result["overall"]["counts"]
    ax.set_xlabel("true petechiae per photo")
    ax.set_ylabel("predicted petechiae per photo")
    ax.set_title(f"Petechiae counts (r {_fmt(c['pearson_r'])}, MAE {_fmt(c['mae'], digits=2)})")


def _plot_by_ita(fig, result: dict, images: list[MatchedImage], cfg: EvalConfig) -> None:
    groups = list(result["by_ita"])
    x = np.arange(len(groups))
    ax = fig.add_subplot(2, 1, 1)
    for k, key in enumerate(("precision", "recall", "f1")):
        vals = [result["by_ita"][g]["detection"][key] or 0.0 for g in groups]
        ax.bar(x + (k - 1) * 0.25, vals, width=0.25, label=key)
    ax.set_xticks(x, [f"{g}\nn={result['by_ita'][g]['n_images']}" for g in groups], fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7)
    ax.set_title("Detection by skin tone (ITA band)")
    ax2 = fig.add_subplot(2, 1, 2)
    ax2.bar(x, [100 * (result["by_ita"][g]["size"]["rel_error_median"] or 0.0) for g in groups])
    ax2.set_xticks(x, groups, fontsize=7)
    ax2.set_ylabel("diameter error, median (%)")
