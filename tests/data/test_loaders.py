"""Loaders: COCO / CSV / crop folders read right, and every malformed or unsafe file is refused."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spotscale.data.errors import AnnotationError
from spotscale.data.loaders import (
    LabelledSet, LabelledSpot, load_coco, load_crop_folder, load_csv_manifest, load_labelled, mask_of,
    normalize_label, rle_decode,
)

H, W = 40, 60


def rle_encode(mask: np.ndarray) -> dict:
    """COCO uncompressed RLE, column-major, counts start with a run of zeros (test's own copy)."""
    flat = mask.T.reshape(-1).astype(np.uint8)
    change = np.flatnonzero(np.diff(flat)) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(edges).tolist()
    if flat[0] == 1:
        counts = [0] + counts
    return {"counts": counts, "size": list(mask.shape)}


def disc(cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def make_dataset(tmp: Path) -> Path:
    """The generator's layout: annotations.json + images/, one RLE spot, one polygon, one box."""
    (tmp / "images").mkdir()
    for name in ("000001.jpg", "000002.jpg"):
        Image.fromarray(np.full((H, W, 3), 180, np.uint8)).save(tmp / "images" / name)
    doc = {
        "images": [
            {"id": 1, "file_name": "images/000001.jpg", "width": W, "height": H,
             "mm_per_px": 0.05, "scale": {"kind": "aruco"}, "ita": 41.5},
            {"id": 2, "file_name": "images/000002.jpg", "width": W, "height": H},
        ],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "segmentation": rle_encode(disc(20, 15, 4)),
             "bbox": [16, 11, 9, 9], "area": 49, "iscrowd": 0,
             "attributes": {"diameter_mm": 0.45, "subtype": None, "borderline": False}},
            {"id": 11, "image_id": 1, "category_id": 4,
             "segmentation": [[30.0, 20.0, 40.0, 20.0, 40.0, 30.0, 30.0, 30.0]],
             "bbox": [30, 20, 10, 10], "iscrowd": 0, "attributes": {"subtype": "nevus"}},
            {"id": 12, "image_id": 2, "category_id": 2, "bbox": [0, 0, 10, 6], "iscrowd": 0},
            {"id": 13, "image_id": 2, "category_id": 2, "bbox": [5, 5, 10, 6], "iscrowd": 1},
        ],
        "categories": [{"id": 1, "name": "petechia"}, {"id": 2, "name": "Purpura"},
                       {"id": 3, "name": "ECCHYMOSIS"}, {"id": 4, "name": "other"}],
    }
    path = tmp / "annotations.json"
    path.write_text(json.dumps(doc))
    return path


def test_coco_from_the_generator_layout(tmp_path):
    s = load_coco(make_dataset(tmp_path))
    assert isinstance(s, LabelledSet) and s.root == tmp_path
    assert s.categories == ("petechia", "purpura", "ecchymosis", "other")
    a, b = s.images
    assert a.path == (tmp_path / "images/000001.jpg").resolve()
    assert (a.width, a.height, a.mm_per_px) == (W, H, 0.05)
    assert a.meta["scale"] == {"kind": "aruco"} and a.meta["ita"] == 41.5
    pet, nev = a.spots
    assert pet.label == "petechia" and pet.diameter_mm == 0.45 and pet.ann_id == 10
    assert pet.attributes == {"diameter_mm": 0.45, "subtype": None, "borderline": False}
    assert (pet.x, pet.y) == pytest.approx((20.0, 15.0))  # centroid of a symmetric disc
    assert (mask_of(pet, H, W) == disc(20, 15, 4)).all()
    assert nev.label == "other" and nev.subtype == "nevus"
    assert (nev.x, nev.y) == pytest.approx((34.5, 24.5))  # square [30,40)x[20,30): pixels 30..39
    assert mask_of(nev, H, W).sum() == 100
    assert mask_of(nev, H, W)[20:30, 30:40].all()
    tri = LabelledSpot(image=Path("t"), x=0, y=0, label="other",
                       polygons=((30.0, 20.0, 40.0, 20.0, 35.0, 30.0),))
    assert mask_of(tri, H, W).sum() == 50  # the triangle's area: pixels whose centre is inside
    assert b.mm_per_px is None and len(b.spots) == 1  # the crowd region is skipped
    assert b.spots[0].bbox == (0, 0, 10, 6) and (b.spots[0].x, b.spots[0].y) == (4.5, 2.5)


def test_rle_decode_is_column_major_and_takes_compressed_strings():
    m = np.zeros((3, 4), bool)
    m[0, 1] = m[2, 1] = m[1, 3] = True
    rle = rle_encode(m)
    assert rle["counts"] == [3, 1, 1, 1, 4, 1, 1]
    assert (rle_decode(rle) == m).all()
    # pycocotools' string for the same counts, worked by hand: 3 1 1, then differences to the
    # count two back: 1-1=0, 4-1=3, 1-1=0, 1-4=-3 -> '0' '3' '0' 'M' (-3 & 31 = 29, + 48 = 'M')
    assert (rle_decode({"counts": "311030M", "size": [3, 4]}) == m).all()


def test_bare_file_names_resolve_under_images_folder(tmp_path):
    p = make_dataset(tmp_path)
    doc = json.loads(p.read_text())
    for im in doc["images"]:
        im["file_name"] = im["file_name"].removeprefix("images/")
    p.write_text(json.dumps(doc))
    s = load_coco(p)
    assert s.root == tmp_path / "images" and s.images[0].path.name == "000001.jpg"


@pytest.mark.parametrize("name", ["Petechiae", "PETECHIA", " petechia "])
def test_label_names_any_case_and_synonyms(name):
    assert normalize_label(name) == ("petechia", None)


def test_label_synonyms_and_unknowns():
    assert normalize_label("bruise") == ("ecchymosis", None)
    assert normalize_label("Cherry_Angioma") == ("other", "cherry angioma")
    assert normalize_label("borderline") == ("borderline", None)
    assert normalize_label("person") is None and normalize_label(3) is None


def _mutate(path: Path, fn) -> Path:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))
    return path


BAD_COCO = {
    "escape with ..": (lambda d: d["images"][0].update(file_name="../../etc/passwd"),
                       "image 1: path '../../etc/passwd' escapes the dataset root"),
    "absolute outside": (lambda d: d["images"][0].update(file_name="/etc/hostname"),
                         "image 1: path '/etc/hostname' escapes"),
    "missing images": (lambda d: d.pop("images"), "missing top-level field 'images'"),
    "annotations not a list": (lambda d: d.update(annotations={}), "'annotations' must be a list"),
    "image id missing": (lambda d: d["images"][1].pop("id"), r"images\[1\]: 'id' must be an integer"),
    "image id string": (lambda d: d["images"][1].update(id="2"), r"images\[1\]: 'id'"),
    "duplicate image id": (lambda d: d["images"][1].update(id=1), r"images\[1\]: duplicate id 1"),
    "width negative": (lambda d: d["images"][0].update(width=-5), "image 1: 'width' must be a positive"),
    "mm_per_px zero": (lambda d: d["images"][0].update(mm_per_px=0), "image 1: 'mm_per_px'"),
    "missing file": (lambda d: d["images"][0].update(file_name="images/nope.jpg"),
                     "image 1: image file 'images/nope.jpg' not found"),
    "duplicate ann id": (lambda d: d["annotations"][1].update(id=10),
                         r"annotations\[1\]: duplicate id 10"),
    "dangling image_id": (lambda d: d["annotations"][0].update(image_id=99),
                          "annotation 10: image_id 99 is not an image id"),
    "unknown category id": (lambda d: d["annotations"][0].update(category_id=7),
                            "annotation 10: category_id 7 is not a category id"),
    "unknown category name": (lambda d: d["categories"][0].update(name="person"),
                              "annotation 10: category 'person' is not a known label"),
    "box outside": (lambda d: d["annotations"][2].update(bbox=[55, 0, 10, 6]),
                    "annotation 12: bbox spans x 55..65.*outside the 60x40 image"),
    "box negative size": (lambda d: d["annotations"][2].update(bbox=[0, 0, -1, 6]),
                          "annotation 12: bbox must be"),
    "box wrong type": (lambda d: d["annotations"][2].update(bbox="0,0,1,1"),
                       "annotation 12: bbox must be"),
    "no geometry": (lambda d: d["annotations"][2].pop("bbox"),
                    "annotation 12: has neither a bbox nor"),
    "rle wrong size": (lambda d: d["annotations"][0]["segmentation"].update(size=[10, 10]),
                       "annotation 10: RLE size 10x10 differs"),
    "rle bad string": (lambda d: d["annotations"][0].update(
        segmentation={"counts": "3\x7f", "size": [H, W]}), "annotation 10: bad compressed RLE"),
    "rle bad sum": (lambda d: d["annotations"][0]["segmentation"]["counts"].append(5),
                    "annotation 10: RLE counts add up to 2405"),
    "polygon odd": (lambda d: d["annotations"][1].update(segmentation=[[1, 2, 3, 4, 5]]),
                    "annotation 11: a polygon must be"),
    "polygon outside": (lambda d: d["annotations"][1].update(segmentation=[[0, 0, 99, 0, 99, 9]]),
                        "annotation 11: polygon spans"),
    "negative diameter": (lambda d: d["annotations"][0]["attributes"].update(diameter_mm=-1),
                          "annotation 10: diameter_mm must be a number >= 0"),
    "ann not object": (lambda d: d["annotations"].append([1, 2]), r"annotations\[4\]: must be an object"),
    "duplicate category": (lambda d: d["categories"].append({"id": 1, "name": "x"}),
                           r"categories\[4\]: duplicate id 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_COCO))
def test_malformed_coco_is_one_line_annotation_error(tmp_path, case):
    fn, cause = BAD_COCO[case]
    p = _mutate(make_dataset(tmp_path), fn)
    with pytest.raises(AnnotationError, match=cause) as ei:
        load_coco(p)
    assert str(ei.value).startswith(str(p)) and "\n" not in str(ei.value)


def test_symlink_pointing_outside_root_is_refused(tmp_path):
    outside = tmp_path / "outside.jpg"
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(outside)
    ds = tmp_path / "ds"
    ds.mkdir()
    p = make_dataset(ds)
    (ds / "images" / "link.jpg").symlink_to(outside)
    _mutate(p, lambda d: d["images"][0].update(file_name="images/link.jpg"))
    with pytest.raises(AnnotationError, match="image 1: path 'images/link.jpg' escapes"):
        load_coco(p)


def test_absolute_path_inside_root_and_unchecked_files_are_fine(tmp_path):
    p = make_dataset(tmp_path)
    _mutate(p, lambda d: d["images"][0].update(file_name=str(tmp_path / "images/000001.jpg")))
    assert load_coco(p).images[0].path == (tmp_path / "images/000001.jpg").resolve()
    _mutate(p, lambda d: d["images"][1].update(file_name="later/000009.jpg"))
    assert load_coco(p, check_files=False).images[1].path.name == "000009.jpg"


@pytest.mark.parametrize("content,cause", [
    (b"", "not valid JSON"), (b"{\"images\": [", "not valid JSON: .* line 1"),
    (b"[1, 2]", "top level must be a JSON object"), (b"\xff\xfe\x00garbage", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
])
def test_unparseable_json(tmp_path, content, cause):
    p = tmp_path / "a.json"
    p.write_bytes(content)
    with pytest.raises(AnnotationError, match=cause):
        load_coco(p)


def test_missing_json_file(tmp_path):
    with pytest.raises(AnnotationError, match="no such file"):
        load_coco(tmp_path / "nope.json")


# ----------------------------------------------------------------------------- CSV

def make_csv(tmp: Path, body: str) -> Path:
    (tmp / "img").mkdir(exist_ok=True)
    for name in ("a b.jpg", "c.jpg"):
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp / "img" / name)
    p = tmp / "manifest.csv"
    p.write_text(body, encoding="utf-8")
    return p


GOOD_CSV = """image,x,y,diameter_mm,label,mm_per_px,width,height
img/a b.jpg,10.5,20,0.8,Petechiae,0.05,60,40
img/a b.jpg,30,5,6.5,purpura,,,
img/c.jpg,,,,,0.1,,
"""


def test_csv_manifest_groups_rows_by_image(tmp_path):
    s = load_csv_manifest(make_csv(tmp_path, GOOD_CSV))
    a, c = s.images
    assert a.path.name == "a b.jpg" and (a.width, a.height, a.mm_per_px) == (60, 40, 0.05)
    assert [(sp.x, sp.y, sp.diameter_mm, sp.label) for sp in a.spots] == [
        (10.5, 20.0, 0.8, "petechia"), (30.0, 5.0, 6.5, "purpura")]
    assert c.spots == () and c.mm_per_px == 0.1
    assert s.categories == ("petechia", "purpura") and s.warnings == ()
    disc_mask = mask_of(a.spots[0], H, W, mm_per_px=0.05)  # 0.8 mm = 16 px across
    assert 8 ** 2 * np.pi * 0.9 < disc_mask.sum() < 8 ** 2 * np.pi * 1.1


def test_csv_semicolon_and_bom(tmp_path):
    p = make_csv(tmp_path, "\ufeffimage;x;y;diameter_mm;label\nimg/c.jpg;1;2;12;bruise\n")
    assert load_csv_manifest(p).images[0].spots[0].label == "ecchymosis"


BAD_ROWS = {
    "missing cells": ("img/c.jpg,1,2\n", "line 2: has 3 fields, the header has 5"),
    "non-numeric x": ("img/c.jpg,left,2,1,petechia\n", "line 2: x 'left' is not a number"),
    "nan y": ("img/c.jpg,1,nan,1,petechia\n", "line 2: y 'nan' is not a finite number"),
    "negative diameter": ("img/c.jpg,1,2,-3,petechia\n", "line 2: diameter_mm must be > 0"),
    "unknown label": ("img/c.jpg,1,2,1,spider\n", "line 2: unknown label 'spider'"),
    "escaping path": ("../x.jpg,1,2,1,petechia\n", "line 2: path '../x.jpg' escapes"),
    "missing image": ("img/zz.jpg,1,2,1,petechia\n", "line 2: image file 'img/zz.jpg' not found"),
    "negative x": ("img/c.jpg,-1,2,1,petechia\n", r"line 2: point \(-1, 2\) is outside"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_csv_bad_rows_strict_and_lenient(tmp_path, case):
    row, cause = BAD_ROWS[case]
    body = "image,x,y,diameter_mm,label\n" + row + "img/c.jpg,3,4,1,purpura\n"
    p = make_csv(tmp_path, body)
    with pytest.raises(AnnotationError, match=cause) as ei:
        load_csv_manifest(p)
    assert str(ei.value).startswith(str(p))
    s = load_csv_manifest(p, strict=False)
    assert [sp.label for im in s.images for sp in im.spots] == ["purpura"]
    assert len(s.warnings) == 1 and s.warnings[0].startswith(f"{p}:2: ")


def test_csv_conflicting_scale_for_same_image(tmp_path):
    p = make_csv(tmp_path, "image,x,y,diameter_mm,label,mm_per_px\n"
                           "img/c.jpg,1,2,1,purpura,0.1\nimg/c.jpg,3,4,1,purpura,0.2\n")
    with pytest.raises(AnnotationError, match="line 3: mm_per_px 0.2 contradicts 0.1"):
        load_csv_manifest(p)
    s = load_csv_manifest(p, strict=False)
    assert s.images[0].mm_per_px == 0.1 and len(s.images[0].spots) == 1


@pytest.mark.parametrize("body,cause", [
    ("", "empty file"), ("name,x,y\nimg/c.jpg,1,2\n", "line 1: missing column"),
    ("image,x,y,label\n\"img/c.jpg,1,2,petechia\n", "bad CSV"),
])
def test_csv_file_level_errors(tmp_path, body, cause):
    with pytest.raises(AnnotationError, match=cause):
        load_csv_manifest(make_csv(tmp_path, body))


# ----------------------------------------------------------------------------- crops, auto

def make_crops(tmp: Path) -> Path:
    root = tmp / "crops"
    for label, names in {"petechia": ["p1.png", "p2.PNG"], "Purpura": ["q.jpg"],
                         "other": ["sub/o.png", ".hidden.png", "notes.txt"]}.items():
        for n in names:
            f = root / label / n
            f.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(f, format="PNG")
    (root / ".ipynb_checkpoints").mkdir()
    return root


def test_crop_folder_lists_images_with_labels(tmp_path):
    root = make_crops(tmp_path)
    got = [(p.relative_to(root.resolve()).as_posix(), lab) for p, lab in load_crop_folder(root)]
    assert got == [("other/sub/o.png", "other"), ("petechia/p1.png", "petechia"),
                   ("petechia/p2.PNG", "petechia"), ("Purpura/q.jpg", "purpura")]


def test_crop_folder_errors(tmp_path):
    root = make_crops(tmp_path)
    (root / "spiders").mkdir()
    with pytest.raises(AnnotationError, match="folder 'spiders' is not a known label"):
        load_crop_folder(root)
    os.rmdir(root / "spiders")
    (root / "other" / "escape.png").symlink_to(tmp_path / "elsewhere.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "elsewhere.png")
    with pytest.raises(AnnotationError, match="escapes the dataset root"):
        load_crop_folder(root)
    with pytest.raises(AnnotationError, match="no image files"):
        (tmp_path / "empty" / "petechia").mkdir(parents=True)
        load_crop_folder(tmp_path / "empty")


def test_load_labelled_detects_the_kind(tmp_path):
    (tmp_path / "coco").mkdir()
    make_dataset(tmp_path / "coco")
    assert len(load_labelled(tmp_path / "coco").images) == 2
    assert len(load_labelled(tmp_path / "coco" / "annotations.json").images) == 2
    (tmp_path / "m").mkdir()
    assert len(load_labelled(make_csv(tmp_path / "m", GOOD_CSV)).images) == 2
    assert len(load_labelled(tmp_path / "m").images) == 2  # finds manifest.csv
    assert len(load_labelled(make_crops(tmp_path))) == 4
    with pytest.raises(AnnotationError, match="no such file or directory"):
        load_labelled(tmp_path / "nothing")
