"""Mining: the segmenter's candidates of a tiny drawn COCO set, labelled from its truth."""
import argparse
import json
import sys
from pathlib import Path

import pytest

from spotscale.data.errors import ConfigError
from spotscale.data.loaders import LabelledImage, load_coco
from spotscale.inference import cmd_mine
from spotscale.inference.mine import mine_dataset, true_scale

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from tiny_coco import write_tiny_coco  # noqa: E402

PURPURA = 2


@pytest.fixture(scope="module")
def mined(tmp_path_factory):
    """A tiny set with one purpura's annotation removed (an unlabelled spot: a hard negative), mined."""
    d = tmp_path_factory.mktemp("mine")
    truth = write_tiny_coco(d, n_photos=2, per_class=2, seed=3)
    doc = json.loads(truth.read_text())
    dropped = next(a for a in doc["annotations"] if a["category_id"] == PURPURA)
    doc["annotations"].remove(dropped)
    truth.write_text(json.dumps(doc))
    summary = mine_dataset(truth, d / "mined.json", progress=False)
    return truth, doc, dropped, summary, json.loads((d / "mined.json").read_text())


def test_candidates_take_the_label_of_the_truth_spot_they_cover(mined):
    truth, doc, dropped, summary, out = mined
    by_id = {a["id"]: a for a in doc["annotations"]}
    matched = [a for a in out["annotations"] if not a["attributes"]["hard_negative"]]
    assert len(matched) >= 6 and summary.matched == len(matched)
    for a in matched:
        t = by_id[a["attributes"]["truth_ann_id"]]
        assert a["category_id"] == t["category_id"] and a["image_id"] == t["image_id"]
        # measured with the annotation's true scale (0.1 mm/px): the drawn disc's diameter
        assert a["attributes"]["diameter_mm"] == pytest.approx(t["attributes"]["diameter_mm"], rel=0.2, abs=0.25)


def test_a_spot_without_annotation_is_a_hard_negative_other(mined):
    truth, doc, dropped, summary, out = mined
    hard = [a for a in out["annotations"] if a["attributes"]["hard_negative"]]
    assert summary.hard_negatives == len(hard) == 1
    (a,) = hard
    assert a["category_id"] == 4 and a["image_id"] == dropped["image_id"]
    x, y, w, h = dropped["bbox"]
    assert abs(a["attributes"]["x"] - (x + w / 2)) < 3 and abs(a["attributes"]["y"] - (y + h / 2)) < 3


def test_the_mined_json_reads_with_the_ordinary_loader(mined):
    truth, doc, dropped, summary, out = mined
    ls = load_coco(truth.parent / "mined.json")
    assert [im.path for im in ls.images] == [im.path for im in load_coco(truth).images]
    assert sum(len(im.spots) for im in ls.images) == summary.candidates
    assert ls.images[0].mm_per_px == pytest.approx(0.1)


def test_true_scale_prefers_the_homography():
    im = LabelledImage(Path("x.png"), 100, 100, 0.5, {"image_to_plane": [[0.1, 0, 0], [0, 0.1, 0], [0, 0, 1]]}, ())
    assert true_scale(im).mm_per_px == pytest.approx(0.1) and true_scale(im).homography is not None
    im2 = LabelledImage(Path("x.png"), 100, 100, 0.5, {}, ())
    assert true_scale(im2).mm_per_px == 0.5 and true_scale(im2).homography is None
    assert true_scale(LabelledImage(Path("x.png"), 100, 100, None, {}, ())) is None


def test_cli_refuses_an_output_outside_the_data_set(mined, tmp_path):
    truth = mined[0]
    args = argparse.Namespace(data=str(truth), out=str(tmp_path / "elsewhere" / "m.json"), workers=1,
                              min_overlap=0.2, config=None, quiet=True)
    with pytest.raises(ConfigError, match="not under"):
        cmd_mine.run(args)
    with pytest.raises(ConfigError, match="min-overlap"):
        cmd_mine.run(argparse.Namespace(**{**vars(args), "min_overlap": 0.0}))
