"""Rule layer: every scheme's boundaries, the CNN/size flags, the no-scale path, per-photo figures."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from spotscale.data.errors import ConfigError
from spotscale.data.types import DISCLAIMER, FINAL_LABELS, Scale, Spot
from spotscale.inference.rules import (SCHEMES, apply_rules, densest_window, get_scheme,
                                       load_scheme_file, photo_summary, size_class)

SIZES = (1.99, 2.0, 3.99, 4.0, 10.0, 10.01)
BOUNDARIES = {
    "default": ("petechia", "borderline", "borderline", "purpura", "purpura", "ecchymosis"),
    "medlineplus": ("petechia", "petechia", "petechia", "purpura", "purpura", "ecchymosis"),
    "itp-bat": ("petechia", "petechia", "ecchymosis", "ecchymosis", "ecchymosis", "ecchymosis"),
    "file": ("petechia", "borderline", "borderline", "purpura", "ecchymosis", "ecchymosis"),
}

USER_TOML = """
name = "mine"
source = "test scheme, made up"
[[bands]]
label = "petechia"
min_mm = 0
max_mm = 2.0
[[bands]]
label = "purpura"
min_mm = 4.0
max_mm = 10.0
[[bands]]
label = "ecchymosis"
min_mm = 10.0
"""


@pytest.fixture
def user_scheme(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text(USER_TOML)
    return load_scheme_file(p)


@pytest.mark.parametrize("name", list(BOUNDARIES))
def test_boundaries_of_every_scheme(name, user_scheme):
    scheme = user_scheme if name == "file" else name
    got = tuple(size_class(d, scheme) for d in SIZES)
    assert got == BOUNDARIES[name]


@pytest.mark.parametrize("d, want", [(0.49, "borderline"), (0.5, "petechia"), (3.0, "petechia"),
                                     (3.01, "ecchymosis")])
def test_itp_bat_out_of_definition_sizes(d, want):
    assert size_class(d, "itp-bat") == want


def test_every_scheme_cites_a_source_and_uses_final_labels():
    for s in SCHEMES.values():
        assert s.source
        assert all(b.label in FINAL_LABELS for b in s.bands)
    assert "Rodeghiero" in SCHEMES["itp-bat"].source
    assert "MedlinePlus" in SCHEMES["medlineplus"].source


def test_unknown_scheme_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="unknown threshold scheme"):
        get_scheme("nope")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"source": "x", "bands": [{"label": "petechia", "min_mm": 0, "max_mm": 3},
                                                        {"label": "purpura", "min_mm": 2, "max_mm": 5}]}))
    with pytest.raises(ConfigError, match="overlap"):
        load_scheme_file(bad)
    bad.write_text(json.dumps({"source": "x", "bands": [{"label": "rash", "min_mm": 0}]}))
    with pytest.raises(ConfigError, match="rash"):
        load_scheme_file(bad)
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json"):
        load_scheme_file(bad)


def test_json_scheme_file_with_inclusive_upper_end(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"name": "j", "source": "s", "bands": [
        {"label": "petechia", "min_mm": 0, "max_mm": 3, "max_inclusive": True},
        {"label": "purpura", "min_mm": 3, "max_mm": 20}]}))
    s = load_scheme_file(p)
    assert size_class(3.0, s) == "petechia"
    assert size_class(3.01, s) == "purpura"
    assert size_class(25.0, s) == "borderline"  # a gap in the scheme is never forced


def spot(i=1, d=1.0, u=0.1, cnn="petechia", prob=0.9, x=10.0, y=10.0):
    return Spot(spot_id=i, x=x, y=y, bbox=(0, 0, 1, 1), area_px=1.0, diameter_px=(d or 1.0) * 10,
                diameter_mm=d, diameter_uncertainty_mm=u, cnn_label=cnn, cnn_prob=prob)


def test_size_decides_and_disagreement_is_flagged():
    out = apply_rules([spot(d=6.0, cnn="petechia")], "default")[0]
    assert out.label == "purpura" and out.size_class == "purpura"
    assert "cnn_size_disagree:cnn=petechia,size=purpura" in out.flags
    out = apply_rules([spot(d=1.0, cnn="purpura")], "default")[0]
    assert out.label == "petechia"
    assert "cnn_size_disagree:cnn=purpura,size=petechia" in out.flags
    out = apply_rules([spot(d=1.0, cnn="petechia")], "default")[0]
    assert out.label == "petechia" and out.flags == ()


def test_confident_other_stays_other_uncertain_other_is_flagged():
    out = apply_rules([spot(d=6.0, cnn="other", prob=0.8)], other_confidence=0.6)[0]
    assert out.label == "other" and out.size_class == "purpura"
    out = apply_rules([spot(d=6.0, cnn="other", prob=0.5)], other_confidence=0.6)[0]
    assert out.label == "purpura" and "cnn_uncertain_other" in out.flags


@pytest.mark.parametrize("d, u, flag", [(1.95, 0.1, "near_threshold:2mm"), (4.05, 0.1, "near_threshold:4mm"),
                                        (9.9, 0.2, "near_threshold:10mm"), (3.0, 0.1, None),
                                        (1.95, 0.0, None)])
def test_near_threshold_flag(d, u, flag):
    out = apply_rules([spot(d=d, u=u, cnn="petechia" if d < 3 else "purpura")])[0]
    near = [f for f in out.flags if f.startswith("near_threshold")]
    assert near == ([flag] if flag else [])


def test_no_scale_label_from_cnn_and_no_model_label_from_size():
    out = apply_rules([spot(d=None, cnn="purpura")], has_scale=False)[0]
    assert out.label == "purpura" and out.size_class is None
    assert "no_scale:label_from_cnn" in out.flags
    out = apply_rules([spot(d=12.0, cnn=None, prob=None)])[0]
    assert out.label == "ecchymosis" and "no_model:label_from_size" in out.flags
    out = apply_rules([spot(d=None, cnn=None, prob=None)], has_scale=False)[0]
    assert out.label in FINAL_LABELS and out.flags


def _no_scale_photo(pet_px, pur_px):
    """Spots of a photo without a scale: CNN petechiae and purpura of these diameters (px)."""
    spots = [dataclasses.replace(spot(i, d=None), diameter_px=float(d)) for i, d in enumerate(pet_px)]
    spots += [dataclasses.replace(spot(100 + i, d=None, cnn="purpura"), diameter_px=float(d))
              for i, d in enumerate(pur_px)]
    return apply_rules(spots, has_scale=False)


@pytest.mark.parametrize("pet_px, pur_px, want", [
    ((10, 11, 12, 12, 14), (24, 25), ("petechia", "purpura")),  # median 12: 24 px is 2.0x, 25 px is 2.1x
    ((10, 11, 12, 12), (15,), ("purpura",)),  # 4 petechiae are too few to be the reference
    ((10, 11, 12, 12, 14), (15, 60, 70, 80, 90, 99), ("purpura",) * 6),  # more purpura than petechiae
], ids=["twice-the-median", "too-few-petechiae", "purpura-the-majority"])
def test_no_scale_purpura_no_larger_than_the_photos_petechiae_is_a_petechia(pet_px, pur_px, want):
    out = _no_scale_photo(pet_px, pur_px)
    assert tuple(o.label for o in out if o.cnn_label == "purpura") == want
    assert all(o.label == "petechia" for o in out if o.cnn_label == "petechia")
    moved = [o for o in out if o.cnn_label == "purpura" and o.label == "petechia"]
    assert all("no_scale:petechia_by_relative_size:2.0x_median" in o.flags for o in moved)
    assert all(not any("relative_size" in f for f in o.flags) for o in out if o.label == "purpura")


def test_the_relative_size_rule_is_only_for_photos_without_a_scale():
    spots = [spot(i, d=1.0) for i in range(6)] + [spot(9, d=1.5, cnn="purpura")]
    out = apply_rules(spots)  # with a scale the size class decides: 1.5 mm is a petechia either way
    assert not any("relative_size" in f for o in out for f in o.flags)
    assert "cnn_size_disagree:cnn=purpura,size=petechia" in out[-1].flags


def test_densest_window_counts_points_in_a_25mm_square():
    scale = Scale(mm_per_px=0.1, source="manual")  # 25 mm = 250 px
    cluster = [(100 + 20 * i, 100 + 20 * j) for i in range(5) for j in range(4)]  # 20 within 80 px
    far = [(900, 900), (1200, 200)]
    got = densest_window(np.array(cluster + far, float), scale)
    assert got["count"] == 20
    cx, cy = got["center_px"]
    assert 40 < cx < 260 and 40 < cy < 260


def test_densest_window_respects_the_skin_mask():
    scale = Scale(mm_per_px=0.1, source="manual")
    skin = np.zeros((400, 800), bool)
    skin[:, 400:] = True  # skin only on the right half
    left = [(50 + 10 * i, 50) for i in range(10)]
    right = [(500 + 10 * i, 50) for i in range(3)]
    got = densest_window(np.array(left + right, float), scale, skin_mask=skin)
    assert got["count"] == 3


def test_photo_summary_counts_density_and_big_bruises():
    scale = Scale(mm_per_px=0.1, source="manual")
    spots = apply_rules([spot(1, 1.0), spot(2, 1.5, x=30), spot(3, 6.0, cnn="purpura"),
                         spot(4, 35.0, cnn="purpura", x=500, y=500)])
    s = photo_summary(spots, scale, skin_area_cm2=25.0, scheme="default")
    assert s["counts"] == {"petechia": 2, "purpura": 1, "ecchymosis": 1, "borderline": 0, "other": 0}
    assert s["petechiae_per_6_25cm2"] == pytest.approx(2 * 6.25 / 25.0)
    assert s["max_petechiae_6_25cm2"] == 2
    assert s["bruises_over_3cm"] == 1 and s["bruises_over_3cm_list"][0]["spot_id"] == 4
    assert s["scheme"] == "default" and s["scheme_source"]
    assert DISCLAIMER in s["notes"]


def test_photo_summary_without_scale():
    spots = apply_rules([spot(1, None, cnn="petechia")], has_scale=False)
    s = photo_summary(spots, Scale(mm_per_px=None, reason="no marker"))
    assert s["counts"]["petechia"] == 1
    assert s["petechiae_per_6_25cm2"] is None and s["max_petechiae_6_25cm2"] is None


# mm per px -> (resolved_from_mm, a resolution note?)
RESOLUTION_CASES = {
    "phone photo close up": (0.05, 0.3, False),
    "1 mm spots 6 px across": (1.0 / 6.0, 1.0, False),
    "1 mm spots just under 6 px": (0.17, 1.02, True),
    "small web JPEG": (0.3, 1.8, True),
    "no scale": (None, None, False),
}


@pytest.mark.parametrize("mm_per_px,resolved_mm,noted", RESOLUTION_CASES.values(), ids=RESOLUTION_CASES.keys())
def test_photo_summary_says_from_what_size_spots_are_resolved(mm_per_px, resolved_mm, noted):
    spots = apply_rules([spot(1, None if mm_per_px is None else 1.0)], has_scale=mm_per_px is not None)
    s = photo_summary(spots, Scale(mm_per_px=mm_per_px, source="manual" if mm_per_px else "none"))
    assert s["resolved_from_mm"] == (None if resolved_mm is None else pytest.approx(resolved_mm, abs=1e-3))
    notes = [n for n in s["notes"] if n.startswith("Resolution:")]
    assert len(notes) == int(noted)
    if noted:
        assert f"spots under {resolved_mm:.1f} mm are under 6 px" in notes[0]


# (spot CIELAB, skin CIELAB, CNN probability, flagged?, final label)
MELANIN_CASES = {
    "red petechia": ((50, 30, 15), (65, 12, 16), 0.65, False, "petechia"),      # da +18, db -1: hue -3 deg
    "purple purpura": ((45, 22, 2), (65, 12, 16), 0.65, False, "petechia"),     # hue -54 deg
    "brown freckle, unsure CNN": ((55, 14, 24), (65, 12, 16), 0.65, True, "other"),  # hue +76 deg
    "brown freckle, fairly sure CNN": ((55, 14, 24), (65, 12, 16), 0.7, True, "petechia"),
    "brown freckle, sure CNN": ((55, 14, 24), (65, 12, 16), 0.95, False, "petechia"),
    "no colour measured": ((0, 0, 0), (0, 0, 0), 0.65, False, "petechia"),
}


@pytest.mark.parametrize("lab, skin, prob, flagged, label", MELANIN_CASES.values(), ids=MELANIN_CASES.keys())
def test_melanin_like_colour_is_flagged_and_other_when_the_cnn_is_unsure(lab, skin, prob, flagged, label):
    sp = dataclasses.replace(spot(d=1.95, cnn="petechia", prob=prob, u=0.1), lab=lab, skin_lab=skin)
    out = apply_rules([sp], "default")[0]
    assert out.label == label and out.size_class == "petechia"
    assert any(f.startswith("colour_like_melanin:") for f in out.flags) == flagged
    assert ("melanin_colour_and_cnn_unsure:was=petechia" in out.flags) == (label == "other")
    # a spot labelled other carries no size-threshold flag; one that keeps its label does
    assert any(f.startswith("near_threshold") for f in out.flags) == (label != "other")
    other = apply_rules([dataclasses.replace(sp, cnn_label="other", cnn_prob=0.9)], "default")[0]
    assert not any(f.startswith("colour_like_melanin:") for f in other.flags)  # already other
