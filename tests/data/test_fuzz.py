"""Property tests: whatever bytes, JSON or CSV text a user's folder holds, the readers and loaders
either return well-formed results or raise the project's own error type, nothing else.
"""
from __future__ import annotations

import atexit
import csv
import io
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from spotscale.data.errors import AnnotationError, PhotoError
from spotscale.data.loaders import LabelledSet, load_coco, load_csv_manifest
from spotscale.data.photo import PHOTO_SUFFIXES, image_size, read_photo

FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
WORKDIR = Path(tempfile.mkdtemp(prefix="spotscale_fuzz_"))  # module-level: hypothesis refuses function-scoped fixtures
atexit.register(shutil.rmtree, WORKDIR, ignore_errors=True)  # every run had left one behind in /tmp
FUZZ_MAX_PIXELS = 1_000_000  # a mutated header may claim a big image; keep each try small


def _valid_images() -> list[bytes]:
    """Small valid files of each format the reader takes, to mutate."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (12, 17, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = []
    for fmt, kw in [("JPEG", {"exif": exif.tobytes()}), ("JPEG", {"progressive": True}),
                    ("PNG", {}), ("TIFF", {"compression": "tiff_lzw"}), ("WEBP", {}),
                    ("BMP", {}), ("GIF", {})]:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, fmt, **kw)
        out.append(buf.getvalue())
    for mode in ("P", "RGBA", "CMYK", "I;16"):
        buf = io.BytesIO()
        im = Image.fromarray(rgb).convert(mode if mode != "I;16" else "L")
        if mode == "I;16":
            im = Image.fromarray((np.asarray(im).astype(np.uint16) * 257))
        im.save(buf, "JPEG" if mode == "CMYK" else "PNG")
        out.append(buf.getvalue())
    return out


VALID_IMAGES = _valid_images()


@st.composite
def mutated_image(draw) -> bytes:
    """A valid image with a few bytes changed, cut short, or spliced with random bytes."""
    data = bytearray(draw(st.sampled_from(VALID_IMAGES)))
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    how = draw(st.sampled_from(["flip", "cut", "splice"]))
    if how == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif how == "splice":
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.binary(max_size=64))
    return bytes(data)


image_bytes = st.one_of(st.binary(max_size=512), mutated_image())


def _write(data: bytes, suffix: str) -> Path:
    p = WORKDIR / f"f{suffix}"
    p.write_bytes(data)
    return p


@FUZZ
@given(data=image_bytes, suffix=st.sampled_from(sorted(PHOTO_SUFFIXES)),
       reduce=st.sampled_from([1, 2, 8]))
def test_read_photo_returns_rgb_uint8_or_photo_error(data, suffix, reduce):
    p = _write(data, suffix)
    try:
        img = read_photo(p, max_pixels=FUZZ_MAX_PIXELS, reduce=reduce)
    except PhotoError as e:
        assert e.path == str(p) and "\n" not in str(e)
        return
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert img.shape[0] >= 1 and img.shape[1] >= 1


@FUZZ
@given(data=image_bytes, suffix=st.sampled_from(sorted(PHOTO_SUFFIXES)))
def test_image_size_agrees_with_read_photo_or_raises(data, suffix):
    p = _write(data, suffix)
    try:
        w, h = image_size(p, max_pixels=FUZZ_MAX_PIXELS)
    except PhotoError:
        return
    assert w >= 1 and h >= 1
    try:
        img = read_photo(p, max_pixels=FUZZ_MAX_PIXELS)
    except PhotoError:
        return  # header fine, body broken
    assert img.shape[:2] == (h, w)


# ----------------------------------------------------------------------------- COCO

JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                      st.floats(allow_nan=False), st.text(max_size=12),
                      st.sampled_from(["petechia", "images/a.jpg", "../x.jpg", "/etc/passwd"]))
JSON_ANY = st.recursive(JSON_LEAF, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=20)


def _dataset() -> dict:
    """A valid generator-style COCO document whose image exists in WORKDIR/images."""
    (WORKDIR / "images").mkdir(exist_ok=True)
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(WORKDIR / "images" / "a.jpg")
    return {
        "images": [{"id": 1, "file_name": "images/a.jpg", "width": 30, "height": 20,
                    "mm_per_px": 0.1, "scale": {"kind": "aruco"}}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 4, 5], "iscrowd": 0,
             "segmentation": {"counts": [45, 3, 17, 3, 532], "size": [20, 30]},
             "attributes": {"diameter_mm": 0.4, "borderline": False}},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [10, 10, 5, 5],
             "segmentation": [[10, 10, 15, 10, 15, 15]]},
        ],
        "categories": [{"id": 1, "name": "petechia"}, {"id": 2, "name": "Purpura"}],
    }


VALID_COCO = _dataset()


def _paths(node, prefix=()):
    """Every (path) to a value inside a JSON document."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


ALL_PATHS = list(_paths(VALID_COCO))[1:]


@st.composite
def mutated_coco(draw) -> object:
    """The valid document with one to three values replaced, removed or duplicated."""
    doc = json.loads(json.dumps(VALID_COCO))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(ALL_PATHS))
        parent = doc
        try:
            for k in path[:-1]:
                parent = parent[k]
            key = path[-1]
            action = draw(st.sampled_from(["replace", "delete", "duplicate"]))
            if action == "replace":
                parent[key] = draw(JSON_ANY)
            elif action == "delete":
                del parent[key]
            elif isinstance(parent, list):
                parent.append(json.loads(json.dumps(parent[key])))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed or retyped this path
    return doc


@FUZZ
@given(doc=st.one_of(JSON_ANY, mutated_coco()))
def test_load_coco_returns_a_set_or_annotation_error(doc):
    p = WORKDIR / "annotations.json"
    p.write_text(json.dumps(doc))
    try:
        s = load_coco(p)
    except AnnotationError as e:
        assert e.path == str(p) and "\n" not in str(e)
        return
    assert isinstance(s, LabelledSet)
    for im in s.images:
        assert im.path.is_relative_to(WORKDIR.resolve())
        for spot in im.spots:
            assert np.isfinite(spot.x) and np.isfinite(spot.y)


@FUZZ
@given(raw=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_load_coco_on_random_bytes(raw):
    p = WORKDIR / "raw.json"
    p.write_bytes(raw)
    try:
        assert isinstance(load_coco(p), LabelledSet)
    except AnnotationError as e:
        assert e.path == str(p)


# ----------------------------------------------------------------------------- CSV

CELL = st.one_of(st.sampled_from(["", "images/a.jpg", "../a.jpg", "petechia", "Bruise", "spider",
                                  "1", "-1", "0.5", "nan", "inf", "1e400", "12", "true", " "]),
                 st.text(max_size=6))
HEADER = "image,x,y,diameter_mm,label,mm_per_px,width,height\n"


@st.composite
def csv_text(draw) -> str:
    rows = draw(st.lists(st.lists(CELL, min_size=0, max_size=9), max_size=6))
    buf = io.StringIO()
    w = csv.writer(buf)
    for r in rows:
        w.writerow(r)
    head = draw(st.sampled_from([HEADER, "image,x,y,label\n", "", "x;y\n"]))
    return head + buf.getvalue()


@FUZZ
@given(text=st.one_of(csv_text(), st.text(max_size=200)), strict=st.booleans())
def test_load_csv_manifest_returns_a_set_or_annotation_error(text, strict):
    p = WORKDIR / "manifest.csv"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        s = load_csv_manifest(p, strict=strict)
    except AnnotationError as e:
        assert e.path == str(p) and "\n" not in str(e)
        return
    assert isinstance(s, LabelledSet)
    for im in s.images:
        for spot in im.spots:
            assert spot.x >= 0 and spot.y >= 0 and np.isfinite(spot.x)
            assert spot.diameter_mm is None or spot.diameter_mm > 0
