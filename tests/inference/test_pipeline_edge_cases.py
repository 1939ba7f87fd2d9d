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


def _scene_under_cast(gains: tuple[float, float, float] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, skin truth, white paper) of a leg beside a red-brown cloth with a sheet of white paper on
    the skin, the whole seen under a colour cast (R, G, B gains)."""
    rng = np.random.default_rng(3)
    img = np.full((300, 400, 3), (205, 160, 140), np.float32)
    skin = np.zeros((300, 400), bool)
    skin[:, :280] = True
    img[:, 280:] = (150, 45, 40)  # a red-brown cloth: under a cool cast the hue skin had
    paper = np.zeros_like(skin)
    paper[20:80, 20:80] = True
    img[paper] = 190  # exposed so that no channel of it clips under the casts below
    skin &= ~paper
    img += rng.normal(0, 3, img.shape)
    if gains is not None:
        img *= np.array(gains, np.float32)
    return np.clip(img, 0, 255).astype(np.uint8), skin, paper


@pytest.mark.parametrize("gains", [(0.8, 1.0, 1.3), (0.85, 1.25, 0.9)], ids=["cool", "green"])
def test_a_cast_that_hides_the_skin_is_undone_from_a_white_reference(gains):
    img, skin, paper = _scene_under_cast(gains)
    plain = skin_mask(_scene_under_cast(None)[0], white_from=paper)
    assert plain[skin].mean() > 0.95 and plain[:, 280:].mean() < 0.05
    # as seen, the cloth is the skin-coloured thing and the leg is not
    assert skin_mask(img)[:, 280:].mean() > 0.5 and skin_mask(img)[skin].mean() < 0.05
    # with the paper as white, the leg is skin again and the cloth is not
    found = skin_mask(img, white_from=paper)
    assert found[skin].mean() > 0.95 and found[:, 280:].mean() < 0.05


def test_a_warm_cast_keeps_the_photo_as_seen():
    img, skin, paper = _scene_under_cast((1.2, 1.0, 0.75))  # tungsten: skin stays in skin's hues
    assert np.array_equal(skin_mask(img, white_from=paper), skin_mask(img))
    assert skin_mask(img)[skin].mean() > 0.95


def test_without_a_white_reference_a_photo_without_skin_is_balanced_on_its_brightest_pixels():
    rng = np.random.default_rng(4)
    img = np.full((300, 400, 3), (205, 160, 140), np.float32)
    img[:, 300:] = 190  # a pale wall, no cloth
    img = np.clip((img + rng.normal(0, 3, img.shape)) * np.array((0.8, 1.0, 1.3), np.float32), 0, 255)
    found = skin_mask(img.astype(np.uint8))
    assert found[:, :300].mean() > 0.95 and found[:, 300:].mean() < 0.05


def test_a_photo_with_a_marker_under_a_cool_cast_gives_the_spots_it_gives_without():
    def scene(gains):
        rng = np.random.default_rng(5)
        img = np.full((600, 800, 3), (205, 160, 140), np.float32)
        img[:, 600:] = (150, 45, 40)  # red-brown cloth beside the leg
        d = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
        img[40:300, 40:300] = 190  # the marker's paper, exposed below clipping
        img[70:270, 70:270] = cv2.aruco.generateImageMarker(d, 7, 200)[..., None].astype(np.float32) * (190 / 255)
        for x, y in [(380, 120), (450, 300), (330, 420), (520, 500), (150, 450)]:
            cv2.circle(img, (x, y), 7, (120, 30, 45), -1)  # petechiae of 1.4 mm at 0.1 mm/px
        img = (img + rng.normal(0, 2, img.shape)) * np.array(gains, np.float32)
        return np.clip(img, 0, 255).astype(np.uint8)

    config = AnalysisConfig(model_path="none")
    plain = analyze_image(scene((1.0, 1.0, 1.0)), config)
    cast = analyze_image(scene((0.8, 1.0, 1.3)), config)
    assert plain.scale.source == cast.scale.source == "aruco"
    assert len(plain.spots) == 5
    assert sorted((round(s.x), round(s.y)) for s in cast.spots) == sorted((round(s.x), round(s.y)) for s in plain.spots)
