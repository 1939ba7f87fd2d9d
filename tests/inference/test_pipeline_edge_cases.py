"""Photos that are odd on purpose (issue 6): no skin, no spots, only spot colour, a marker filling the frame."""
from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest

from spotscale.data.errors import PhotoError
from spotscale.data.types import Scale
from spotscale.inference.pipeline import AnalysisConfig, analyze_image
from spotscale.inference.rules import NO_SKIN_NOTE
from spotscale.inference.scale import ScaleConfig
from spotscale.inference.segment import skin_mask
from spotscale.inference.tables import image_row


def _flat(rgb: tuple[int, int, int], noise: float = 3.0, shape=(600, 800)) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = np.full((*shape, 3), rgb, float) + rng.normal(0, noise, (*shape, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _marker_frame(margin_rgb: tuple[int, int, int] | None = None) -> np.ndarray:
    """A 480 px ArUco marker on white paper filling an 800 x 600 frame; its margin white, or
    margin_rgb with a little noise (skin)."""
    d = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    img = np.full((600, 800, 3), 255, np.uint8) if margin_rgb is None else _flat(margin_rgb)
    img[20:580, 120:680] = 255
    img[60:540, 160:640] = cv2.aruco.generateImageMarker(d, 3, 480)[..., None]
    return img


MANUAL = AnalysisConfig(model_path="none", scale=ScaleConfig(mm_per_px=0.1))

CASES = {
    # name: (image, config, expected skin area > 0, expected scale source)
    "blue sheet, no skin": (_flat((70, 110, 170)), MANUAL, False, "manual"),
    "bare skin, no spots": (_flat((205, 160, 140)), MANUAL, True, "manual"),
    "only spot colour": (_flat((110, 40, 70)), MANUAL, True, "manual"),
    # skin's hue but far more saturated than any skin (a red towel filling the frame)
    "saturated red, no skin": (_flat((200, 20, 0)), MANUAL, False, "manual"),
    # the printed card assumed round the marker (its outline) covers the whole frame: no skin is left
    "marker fills the frame, skin round it": (_marker_frame((205, 160, 140)), AnalysisConfig(model_path="none"),
                                              False, "aruco"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_odd_photos_give_no_spots_and_a_sensible_skin_area(name):
    img, config, has_skin, source = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no mean of an empty selection on the way
        result = analyze_image(img, config)
    assert result.spots == ()
    assert result.scale.source == source
    assert (result.skin_area_px > 0) == has_skin
    # "no spots" on a photo without skin would read as a finding: the summary says none was looked for
    assert (NO_SKIN_NOTE in result.notes) == (not has_skin)
    # and images.csv tells such photos apart in a batch, with or without a scale
    fraction = image_row("x.png", result, 0.0)["skin_fraction"]
    assert fraction == pytest.approx(result.skin_area_px / (600 * 800), abs=1e-4)
    assert (fraction > 0) == has_skin
    if has_skin:
        assert result.skin_area_cm2 == pytest.approx(result.skin_area_px * 0.01 / 100, rel=1e-6)


COLOURLESS = {
    "black frame": np.zeros((600, 800, 3), np.uint8),
    "white frame": np.full((600, 800, 3), 255, np.uint8),
    "grey noise": np.repeat(_flat((128, 128, 128), noise=20)[..., :1], 3, axis=2),
    "marker on white paper fills the frame": _marker_frame(),
}


@pytest.mark.parametrize("name", list(COLOURLESS))
def test_a_photo_without_colour_is_refused_with_its_cause(name):
    # no spot can be told from skin without colour: "no spots" would read as a finding
    with pytest.raises(PhotoError, match=r"^frame\.png: no colour \(a greyscale photo"):
        analyze_image(COLOURLESS[name], MANUAL, path="frame.png")


def test_marker_filling_the_frame_gives_its_scale():
    result = analyze_image(_marker_frame((205, 160, 140)), AnalysisConfig(model_path="none"))
    # 480 px for the 6 x 6 module marker image; its black square is 4+2 of 6 modules -> 20 mm over 480 px
    assert isinstance(result.scale, Scale)
    assert result.scale.mm_per_px == pytest.approx(20.0 / 480.0, rel=0.01)


def test_a_frame_without_skin_coloured_pixels_has_no_skin():
    assert not skin_mask(_flat((70, 110, 170))).any()
    assert skin_mask(_flat((205, 160, 140))).mean() > 0.9
