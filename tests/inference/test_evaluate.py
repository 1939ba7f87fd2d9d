"""evaluate: every figure on a tiny truth/prediction pair, computed by hand below."""
from __future__ import annotations

import csv
import json
import math

import pytest

from spotscale.data.errors import AnnotationError
from spotscale.inference import cli
from spotscale.inference.evaluate import (
    EvalConfig, PredImage, PredSpot, TruthImage, TruthSpot, evaluate, ita_band, match_spots,
    read_predictions, read_truth, truth_label,
)
from spotscale.inference.tables import IMAGE_COLUMNS, SPOT_COLUMNS

# Photo a.png: 0.1 mm/px, ArUco, ITA 60 (very light). Photo b.png: 0.2 mm/px, ruler, ITA -40 (dark).
# Truth spots: (image, id, centre x, y, category, diameter_mm)
TRUTH = [
    ("a.png", 1, 100, 100, "petechia", 1.0),  # T1: 10 px -> label petechia
    ("a.png", 2, 200, 200, "purpura", 6.0),  # T2: 60 px -> purpura
    ("a.png", 3, 300, 300, "other", 3.0),  # T3: a mole -> other
    ("a.png", 4, 400, 400, "petechia", 0.3),  # T4: under 0.5 mm -> "don't care"
    ("b.png", 5, 50, 50, "petechia", 1.5),  # T5: 7.5 px, radius 3.75 px
    ("b.png", 6, 150, 150, "petechia", 3.0),  # T6: 15 px -> label borderline by the rules
]
# Predictions: (image, x, y, diameter_px, diameter_mm, label)
PRED = [
    ("a.png", 102, 100, 11, 1.2, "petechia"),  # P1 ~ T1 (d 2 px)
    ("a.png", 215, 200, 50, 5.0, "purpura"),  # P2 ~ T2 (d 15 <= 30 and <= 25)
    ("a.png", 300, 302, 30, 3.0, "petechia"),  # P3 ~ T3: hemorrhagic call on a mole -> FP
    ("a.png", 401, 400, 4, 0.4, "petechia"),  # P4 ~ T4: don't care, counted nowhere
    ("a.png", 600, 600, 8, 0.8, "other"),  # P5: nothing there, labelled other -> spurious
    ("b.png", 54, 50, 8, None, "petechia"),  # P6: d 4 px > max(3, 3.75) -> no match: FP, T5 missed
    ("b.png", 150, 152, 14, None, "petechia"),  # P7 ~ T6 (d 2 px); b has no scale found
]
IMAGES = {"a.png": (0.1, "aruco", 60.0, 0.101, "aruco"), "b.png": (0.2, "ruler", -40.0, None, "none")}


def _truth() -> list[TruthImage]:
    out = []
    for name, (mpp, kind, ita, _, _) in IMAGES.items():
        spots = tuple(TruthSpot(x, y, d, c, truth_label(c, d)) for im, _, x, y, c, d in TRUTH if im == name)
        out.append(TruthImage(name, mpp, kind, ita, spots))
    return out


def _preds() -> dict[str, PredImage]:
    return {name: PredImage(name, "ok", pmpp, src, tuple(
        PredSpot(x, y, dpx, dmm, lab) for im, x, y, dpx, dmm, lab in PRED if im == name))
        for name, (_, _, _, pmpp, src) in IMAGES.items()}


@pytest.fixture(scope="module")
def result() -> dict:
    return evaluate(_truth(), _preds(), EvalConfig())[0]


def test_matching_rule_by_hand():
    a, b = _truth()
    pa, pb = _preds()["a.png"], _preds()["b.png"]
    assert [(t, p) for t, p, _ in match_spots(a, pa)] == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert [(t, p) for t, p, _ in match_spots(b, pb)] == [(1, 1)]  # T5/P6 are 4 px apart > 3.75


def test_greedy_takes_the_nearest_pair_first():
    t = TruthImage("x", 0.1, spots=(TruthSpot(0, 0, 2.0, "purpura", "borderline"),
                                    TruthSpot(10, 0, 2.0, "purpura", "borderline")))
    p = PredImage("x", spots=(PredSpot(6, 0, 20, 2.0, "purpura"), PredSpot(-1, 0, 20, 2.0, "purpura")))
    # pairs: T0-P1 d1, T1-P0 d4, T0-P0 d6, T1-P1 d11 (too far) -> T0-P1 then T1-P0
    assert [(ti, pi) for ti, pi, _ in match_spots(t, p)] == [(0, 1), (1, 0)]


def test_detection_by_hand(result):
    d = result["overall"]["detection"]
    # truth hemorrhagic >= 0.5 mm: T1 T2 T5 T6 = 4; hemorrhagic predictions P1 P2 P3 P6 P7 = 5 (P4 ignored)
    # found: T1 (P1), T2 (P2), T6 (P7) = 3
    assert (d["n_truth"], d["n_pred"], d["tp"], d["fp"], d["fn"], d["ignored_pred"]) == (4, 5, 3, 2, 1, 1)
    assert d["precision"] == pytest.approx(3 / 5)
    assert d["recall"] == pytest.approx(3 / 4)
    assert d["f1"] == pytest.approx(2 * 0.6 * 0.75 / (0.6 + 0.75))
    assert d["recall_any_label"] == pytest.approx(3 / 4)  # every match here has a hemorrhagic label
    bands = {k: (v["n_truth"], v["recall"]) for k, v in d["recall_by_band"].items()}
    assert bands == {"<2": (2, 0.5), "2-4": (1, 1.0), "4-10": (1, 1.0), ">10": (0, None)}  # T1 T5 | T6 | T2


def test_size_by_hand(result):
    s = result["overall"]["size"]
    # pairs with both sizes: T1 (1.0 -> 1.2) and T2 (6.0 -> 5.0); T6's prediction has no scale
    assert s["n"] == 2
    assert s["mae_mm"] == pytest.approx((0.2 + 1.0) / 2)
    assert s["bias_mm"] == pytest.approx((0.2 - 1.0) / 2)
    assert s["rel_error_mean"] == pytest.approx((0.2 / 1.0 + 1.0 / 6.0) / 2)
    sd = math.sqrt((0.6 ** 2 + 0.6 ** 2) / 1)
    assert s["loa_high_mm"] == pytest.approx(-0.4 + 1.96 * sd)
    bands = s["by_band"]
    assert (bands["<2"]["n"], bands["2-4"]["n"], bands["4-10"]["n"], bands[">10"]["n"]) == (1, 0, 1, 0)
    assert bands["<2"]["mae_mm"] == pytest.approx(0.2)
    assert bands["4-10"]["mae_mm"] == pytest.approx(1.0)


def test_labels_by_hand(result):
    lab = result["overall"]["labels"]
    m = {(r, c): v for r, row in zip(lab["rows"], lab["matrix"]) for c, v in zip(lab["cols"], row)}
    expected = {("petechia", "petechia"): 1, ("purpura", "purpura"): 1, ("other", "petechia"): 1,
                ("petechia", "missed"): 1, ("borderline", "petechia"): 1,
                ("spurious", "other"): 1, ("spurious", "petechia"): 1}
    assert {k: v for k, v in m.items() if v} == expected
    pc = lab["per_class"]
    # petechia: 1 right of 2 true, of 4 predicted (P1, P3, P7, P6)
    assert (pc["petechia"]["precision"], pc["petechia"]["recall"]) == (pytest.approx(1 / 4), 0.5)
    assert pc["petechia"]["f1"] == pytest.approx(1 / 3)
    assert pc["purpura"]["f1"] == 1.0
    assert pc["borderline"]["precision"] is None and pc["borderline"]["f1"] == 0.0
    assert pc["other"]["f1"] == 0.0
    assert pc["ecchymosis"]["support"] == 0 and pc["ecchymosis"]["f1"] is None
    assert lab["macro_f1"] == pytest.approx((1 / 3 + 1 + 0 + 0) / 4)  # classes seen: pet, pur, bord, other
    assert lab["accuracy_matched"] == pytest.approx(2 / 4)  # T1, T2 right; T3, T6 wrong


def test_counts_by_hand(result):
    c = result["overall"]["counts"]
    # a: truth 1 (T1), predicted 2 (P1, P3; P4 is don't care); b: truth 1 (T5), predicted 2 (P6, P7)
    assert (c["true_total"], c["pred_total"]) == (2, 4)
    assert c["mae"] == pytest.approx(1.0) and c["bias"] == pytest.approx(1.0)
    assert c["pearson_r"] is None  # the true counts do not vary


def test_scale_by_hand(result):
    s = result["overall"]["scale"]
    assert s["aruco"]["found_rate"] == 1.0
    assert s["aruco"]["rel_error_median"] == pytest.approx(0.01)
    assert s["ruler"]["found_rate"] == 0.0 and s["ruler"]["rel_error_median"] is None


def test_every_figure_by_skin_tone(result):
    assert list(result["by_ita"]) == ["very_light", "dark"]
    light, dark = result["by_ita"]["very_light"], result["by_ita"]["dark"]
    assert (light["n_images"], dark["n_images"]) == (1, 1)
    assert light["detection"]["precision"] == pytest.approx(2 / 3)  # P1 P2 right, P3 wrong
    assert light["detection"]["recall"] == 1.0
    assert (dark["detection"]["precision"], dark["detection"]["recall"]) == (0.5, 0.5)
    assert dark["size"]["n"] == 0 and dark["size"]["mae_mm"] is None


@pytest.mark.parametrize("ita, band", [(60, "very_light"), (55, "light"), (41.01, "light"),
                                       (41, "intermediate"), (10.5, "tan"), (0, "brown"),
                                       (-30, "dark"), (None, "unknown")])
def test_ita_bands(ita, band):
    assert ita_band(ita) == band


@pytest.mark.parametrize("d_mm, label", [(1.99, "petechia"), (2.0, "borderline"), (3.99, "borderline"),
                                         (4.0, "purpura"), (10.0, "purpura"), (10.01, "ecchymosis")])
def test_truth_label_follows_the_default_scheme(d_mm, label):
    assert truth_label("petechia", d_mm) == label
    assert truth_label("other", d_mm) == "other"


def _write_coco(path) -> None:
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(("petechia", "purpura", "ecchymosis", "other"))]
    images = [{"id": k, "file_name": f"./{name}", "width": 800, "height": 800, "mm_per_px": mpp,
               "scale": {"kind": kind}, "ita": ita}
              for k, (name, (mpp, kind, ita, _, _)) in enumerate(IMAGES.items(), start=1)]
    ids = {name: k for k, name in enumerate(IMAGES, start=1)}
    anns = []
    for im, i, x, y, c, d in TRUTH:  # a 3x3 px box around pixel (x, y), no mask
        cat_id = next(cat["id"] for cat in cats if cat["name"] == c)
        anns.append({"id": i, "image_id": ids[im], "category_id": cat_id, "bbox": [x - 1, y - 1, 3, 3],
                     "area": 9, "attributes": {"diameter_mm": d}})
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))


def _write_score_output(out) -> None:
    out.mkdir()
    with (out / "spots.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, SPOT_COLUMNS)
        w.writeheader()
        for k, (im, x, y, dpx, dmm, lab) in enumerate(PRED):
            w.writerow({c: "" for c in SPOT_COLUMNS} | {"image": im, "spot_id": k, "x": x, "y": y,
                        "diameter_px": dpx, "diameter_mm": "" if dmm is None else dmm, "label": lab})
    with (out / "images.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, IMAGE_COLUMNS)
        w.writeheader()
        for name, (_, _, _, pmpp, src) in IMAGES.items():
            w.writerow({c: "" for c in IMAGE_COLUMNS} | {"image": name, "status": "ok",
                        "mm_per_px": "" if pmpp is None else pmpp, "scale_source": src})


def test_files_give_the_same_figures_and_the_cli_writes_json_and_plots(tmp_path, result, capsys):
    _write_coco(tmp_path / "annotations.json")
    _write_score_output(tmp_path / "out")
    assert read_truth(tmp_path / "annotations.json") == _truth()
    assert read_predictions(tmp_path / "out") == _preds()
    code = cli.main(["evaluate", "--truth", str(tmp_path / "annotations.json"),
                     "--pred", str(tmp_path / "out"), "--out", str(tmp_path / "ev")])
    assert code == 0
    written = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert written["overall"] == json.loads(json.dumps(result["overall"]))
    for png in ("bland_altman.png", "confusion.png", "counts.png", "by_ita.png"):
        assert (tmp_path / "ev" / png).read_bytes()[:4] == b"\x89PNG"
    assert "| all | 2 | 4 | 0.600 | 0.750 |" in capsys.readouterr().out


def test_csv_manifest_uses_the_predicted_scale_for_matching(tmp_path):
    (tmp_path / "m.csv").write_text("image,x,y,diameter_mm,label\na.png,100,100,1.0,petechia\n")
    truth = read_truth(tmp_path / "m.csv")
    assert truth == [TruthImage("a.png", spots=(TruthSpot(100, 100, 1.0, "petechia", "petechia"),))]
    pred = {"a.png": PredImage("a.png", mm_per_px=0.1, spots=(PredSpot(104, 100, 11, 1.1, "petechia"),))}
    r = evaluate(truth, pred)[0]["overall"]["detection"]  # 4 px <= 0.5 * 1.0 mm / 0.1 mm/px = 5 px
    assert (r["tp"], r["fp"], r["fn"]) == (1, 0, 0)


def test_missing_photo_counts_as_all_missed():
    r = evaluate(_truth()[:1], {})[0]["overall"]
    assert r["n_images_not_scored"] == 1 and r["detection"]["recall"] == 0.0


def test_bad_inputs_raise_annotation_errors(tmp_path):
    with pytest.raises(AnnotationError, match="no such annotation file"):
        read_truth(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(AnnotationError, match="not valid JSON"):
        read_truth(tmp_path / "bad.json")
    (tmp_path / "bad.csv").write_text("image,x,y,diameter_mm,label\na.png,oops,1,1,petechia\n")
    with pytest.raises(AnnotationError, match="line 2"):
        read_truth(tmp_path / "bad.csv")
    with pytest.raises(AnnotationError, match="not a score output"):
        read_predictions(tmp_path)


def test_data_mode_scores_a_generated_folder_then_evaluates(tmp_path, capsys):
    from spotscale.data.synth import write_dataset

    write_dataset(tmp_path / "set", 1, seed=5, size=(640, 480), web_fraction=0.0)
    code = cli.main(["evaluate", "--data", str(tmp_path / "set"), "--out", str(tmp_path / "ev"),
                     "--model", "none", "--workers", "0"])
    assert code == 0
    r = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert (tmp_path / "ev" / "pred" / "spots.csv").is_file()
    assert r["overall"]["n_images"] == 1 and r["overall"]["n_images_not_scored"] == 0
    assert r["overall"]["detection"]["n_truth"] == sum(
        1 for a in json.loads((tmp_path / "set" / "annotations.json").read_text())["annotations"]
        if a["category_id"] in (1, 2, 3) and a["attributes"]["diameter_mm"] >= 0.5)
