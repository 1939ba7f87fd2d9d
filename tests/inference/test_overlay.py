"""Overlay drawing and result.json: colours by label, reference, header, scaling, JSON completeness."""
from __future__ import annotations

import json

import numpy as np
import pytest

from spotscale.data.types import DISCLAIMER, PhotoResult, Scale, Spot
from spotscale.inference.overlay import LABEL_COLOURS, REFERENCE_COLOUR, draw_overlay, write_result_json


def ring(cx: float, cy: float, r: float, n: int = 24) -> tuple[tuple[float, float], ...]:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return tuple((float(cx + r * np.cos(a)), float(cy + r * np.sin(a))) for a in t)


def result(w: int = 640, h: int = 480) -> PhotoResult:
    f = w / 640
    spots = (
        Spot(1, 100 * f, 100 * f, (int(90 * f), int(90 * f), int(20 * f), int(20 * f)), 314 * f * f, 20 * f,
             diameter_mm=1.5, contour=ring(100 * f, 100 * f, 10 * f), label="petechia", flags=("x",)),
        Spot(2, 400 * f, 300 * f, (int(360 * f), int(260 * f), int(80 * f), int(80 * f)), 5000 * f * f, 80 * f,
             diameter_mm=6.0, contour=ring(400 * f, 300 * f, 40 * f), label="purpura"),
    )
    scale = Scale(0.075 / f, 0.001, "aruco", ((500 * f, 50 * f), (600 * f, 50 * f), (600 * f, 150 * f),
                                              (500 * f, 150 * f)))
    return PhotoResult("p.jpg", w, h, scale, spots, summary={"counts": {"petechia": 1, "purpura": 1}})


def colour_pixels(img: np.ndarray, colour, tol: int = 40) -> int:
    """Pixels within tol (per channel) of colour: anti-aliased lines blend at their edges."""
    d = np.abs(img.astype(int) - np.array(colour)).max(axis=2)
    return int((d <= tol).sum())


@pytest.mark.parametrize("w, h", [(640, 480), (4000, 3000)])
def test_overlay_outlines_spots_and_reference_in_their_colours(w, h):
    img = np.full((h, w, 3), 200, np.uint8)
    out = draw_overlay(img, result(w, h))
    assert out.shape[1] == w and out.shape[0] > h  # header band above the photo
    band = out.shape[0] - h
    photo = out[band:]
    f = w / 640

    def near(cx: float, cy: float, r: float) -> np.ndarray:  # the photo around an object
        return photo[int((cy - r) * f):int((cy + r) * f), int((cx - r) * f):int((cx + r) * f)]

    assert colour_pixels(near(100, 100, 15), LABEL_COLOURS["petechia"]) > 10
    assert colour_pixels(near(400, 300, 45), LABEL_COLOURS["purpura"]) > 10
    assert colour_pixels(near(550, 100, 55), REFERENCE_COLOUR) > 10
    assert colour_pixels(near(400, 300, 45), LABEL_COLOURS["ecchymosis"], tol=10) == 0
    # the purpura outline passes through its ring, r = 40 px (scaled), right of the centre
    x, y = int(round(440 * f)), int(round(300 * f))
    win = photo[y - 3:y + 4, x - 3:x + 4]
    assert colour_pixels(win, LABEL_COLOURS["purpura"]) > 0
    assert band >= 40


def test_overlay_on_a_reduced_decode_and_downscaled():
    r = result(4000, 3000)
    small = np.full((750, 1000, 3), 200, np.uint8)  # the photo read at 1/4
    out = draw_overlay(small, r)
    assert out.shape[1] == 1000
    out = draw_overlay(np.full((3000, 4000, 3), 200, np.uint8), r, max_side_px=1600)
    assert out.shape[1] == 1600
    band = out.shape[0] - 1200
    x, y = int(round(440 * 2.5)), int(round(300 * 2.5))  # the purpura ring at 1600/640 = 2.5x
    assert colour_pixels(out[band + y - 3:band + y + 4, x - 3:x + 4], LABEL_COLOURS["purpura"]) > 0


def test_result_json_has_every_field(tmp_path):
    r = result()
    p = write_result_json(r, tmp_path / "sub" / "result.json")
    d = json.loads(p.read_text())
    assert d["path"] == "p.jpg" and d["width"] == 640 and len(d["spots"]) == 2
    assert d["spots"][0]["flags"] == ["x"] and d["spots"][1]["label"] == "purpura"
    assert d["scale"]["source"] == "aruco" and d["scale"]["found"] is True
    assert {"python", "numpy", "opencv", "spotscale"} <= set(d["software"])
    assert d["disclaimer"] == DISCLAIMER and "scheme" in d and "model" in d
    assert not list((tmp_path / "sub").glob(".*tmp"))  # written atomically, nothing left over
