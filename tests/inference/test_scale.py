"""Reference scale on synthetic photos whose true mm per px is known by construction."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from spotscale.data.errors import ConfigError
from spotscale.inference.scale import PARTIAL_MARKER_NOTE, ScaleConfig, find_scale, plane_mm_per_px, reference_mask

SS = 4  # supersampling of the renders (anti-aliased edges)


def skin(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A skin-coloured RGB image with mild smooth texture."""
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 3) * 8
    img = np.array([200, 150, 125], np.float32)[None, None, :] + tex[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def plane_to_image(size, centre_px, mm_per_px, rot_deg=0.0, tilt=(0.0, 0.0)) -> np.ndarray:
    """Homography plane mm (origin at the marker centre) -> image px, with a perspective tilt."""
    w, h = size
    a = math.radians(rot_deg)
    s = 1.0 / mm_per_px
    rs = np.array([[s * math.cos(a), -s * math.sin(a), 0], [s * math.sin(a), s * math.cos(a), 0], [0, 0, 1]])
    p = np.array([[1, 0, 0], [0, 1, 0], [tilt[0] / (w / 2), tilt[1] / (h / 2), 1]])
    t = np.array([[1, 0, centre_px[0]], [0, 1, centre_px[1]], [0, 0, 1.0]])
    return t @ p @ rs


def true_scale(hom: np.ndarray) -> float:
    """sqrt|det J| of image->plane at the image of the plane origin."""
    c = hom @ [0, 0, 1.0]
    x, y = c[:2] / c[2]
    inv = np.linalg.inv(hom)
    w = inv[2, 0] * x + inv[2, 1] * y + inv[2, 2]
    return math.sqrt(abs(np.linalg.det(inv) / w ** 3))


def to_linear(img: np.ndarray) -> np.ndarray:
    """sRGB uint8 -> linear light float32 in 0-1."""
    v = img.astype(np.float32) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def to_srgb(lin: np.ndarray) -> np.ndarray:
    """Linear light 0-1 -> sRGB uint8."""
    v = np.clip(lin, 0, 1)
    s = np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)
    return np.clip(np.round(s * 255), 0, 255).astype(np.uint8)


def blur(img: np.ndarray, sigma_px: float) -> np.ndarray:
    """Optical blur: Gaussian in linear light."""
    return to_srgb(cv2.GaussianBlur(to_linear(img), (0, 0), sigma_px))


def paste(img: np.ndarray, art: np.ndarray, art_to_plane: np.ndarray, hom: np.ndarray) -> np.ndarray:
    """Warp grey `art` (art px -> plane mm via `art_to_plane`) onto `img` through plane->image `hom`.

    Compositing and pixel integration happen in linear light, as in a camera.
    """
    h, w = img.shape[:2]
    m = np.array([[SS, 0, (SS - 1) / 2], [0, SS, (SS - 1) / 2], [0, 0, 1.0]]) @ hom @ art_to_plane
    lin = to_linear(art)
    big = cv2.warpPerspective(lin, m, (w * SS, h * SS), flags=cv2.INTER_LINEAR, borderValue=0)
    cov = cv2.warpPerspective(np.ones_like(lin), m, (w * SS, h * SS), flags=cv2.INTER_NEAREST, borderValue=0)
    big = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)
    a = cv2.resize(cov, (w, h), interpolation=cv2.INTER_AREA)
    out = to_linear(img) * (1 - a[..., None]) + big[..., None]
    return to_srgb(out)


def with_marker(img, hom, side_mm=20.0, marker_id=7, res=20.0):
    """Paste an ArUco DICT_4X4_50 marker (black square side_mm, white quiet zone) at the plane origin."""
    side_px = int(round(side_mm * res))
    pad = side_px // 3
    art = cv2.aruco.generateImageMarker(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), marker_id, side_px)
    art = cv2.copyMakeBorder(art, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    off = (pad - 0.5) / res + side_mm / 2
    return paste(img, art, np.array([[1 / res, 0, -off], [0, 1 / res, -off], [0, 0, 1.0]]), hom)


def translated(hom, dx_mm, dy_mm):
    return hom @ np.array([[1, 0, -dx_mm], [0, 1, -dy_mm], [0, 0, 1.0]])


# ---- ArUco ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rot, tilt", [(0.0, (0.0, 0.0)), (33.0, (0.12, -0.08)), (-120.0, (-0.1, 0.15))],
                         ids=["flat", "tilted", "rotated-tilted"])
def test_marker_scale_within_0_1_percent(rot, tilt):
    hom = plane_to_image((900, 700), (430, 360), 0.07, rot, tilt)
    sc = find_scale(with_marker(skin(900, 700), hom))
    assert sc.source == "aruco" and sc.n_references == 1
    assert sc.mm_per_px == pytest.approx(true_scale(hom), rel=1e-3)
    assert 0 < sc.mm_per_px_uncertainty < 0.01 * sc.mm_per_px
    # the homography maps the marker centre to the plane origin and measures 20 mm sides
    h = np.asarray(sc.homography)
    c = hom @ [0, 0, 1.0]
    q = h @ [c[0] / c[2], c[1] / c[2], 1]
    assert np.hypot(*(q[:2] / q[2])) < 0.05
    assert plane_mm_per_px(sc, c[0] / c[2], c[1] / c[2]) == pytest.approx(sc.mm_per_px, rel=1e-5)


def test_marker_outline_masks_marker_and_quiet_zone():
    hom = plane_to_image((600, 500), (300, 250), 0.08, 20.0)
    sc = find_scale(with_marker(skin(600, 500), hom))
    mask = reference_mask(sc, (500, 600))
    corners = np.array([[-10, -10], [10, -10], [10, 10], [-10, 10], [-13, 0], [0, 13.5]], float)
    pts = np.c_[corners, np.ones(len(corners))] @ hom.T
    xs, ys = (pts[:, :2] / pts[:, 2:]).round().astype(int).T
    assert mask[ys, xs].all()
    assert not mask[20, 20] and not mask[480, 580]
    assert reference_mask(sc, (500, 600), margin_px=10).sum() > mask.sum()
    small = reference_mask(sc, (250, 300), px_scale=2.0)
    assert small.sum() == pytest.approx(mask.sum() / 4, rel=0.05)


def outline_on_plane(sc) -> np.ndarray:
    """The reference outline of `sc` in the marker's plane (mm from its centre, x and y)."""
    from spotscale.inference.scale import _apply_h
    return _apply_h(np.asarray(sc.homography, np.float64), np.asarray(sc.outline, np.float64))


@pytest.mark.parametrize("pad_mm", [3.0, 6.5, 9.0])
def test_marker_outline_follows_its_paper(pad_mm):
    """The excluded outline ends about 0.5 mm beyond the paper's edge, however wide the paper's margin."""
    res = 20.0
    side_px, pad = 400, int(round(pad_mm * res))
    art = cv2.aruco.generateImageMarker(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), 7, side_px)
    art = cv2.copyMakeBorder(art, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    off = (pad - 0.5) / res + 10.0
    hom = plane_to_image((700, 600), (350, 300), 0.1, 15.0, (0.05, -0.04))
    img = paste(skin(700, 600), art, np.array([[1 / res, 0, -off], [0, 1 / res, -off], [0, 0, 1.0]]), hom)
    sc = find_scale(img)
    assert sc.source == "aruco"
    half_extent = np.abs(outline_on_plane(sc)).max(axis=0)  # mm from the marker centre, x and y
    assert half_extent == pytest.approx([10.0 + pad_mm + 0.5] * 2, abs=0.3)


def test_marker_outline_keeps_the_fixed_margin_only_on_a_side_whose_paper_edge_is_unclear():
    """Paper 3 mm wide round the square; past its right side, 2 mm of skin, then a bright sheet (the
    paper-to-beyond step there is too small to tell). The other three sides still end 0.5 mm past the
    paper (13.5 mm from the centre), the right one at the fixed 0.4 x side (18 mm)."""
    res, side_px, pad = 20.0, 400, 60
    art = cv2.aruco.generateImageMarker(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), 7, side_px)
    art = cv2.copyMakeBorder(art, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    off = (pad - 0.5) / res + 10.0
    hom = plane_to_image((700, 600), (330, 300), 0.1)
    img = skin(700, 600)
    img[:, 330 + 150:] = (250, 248, 250)  # plane x >= 15 mm: 2 mm past the paper's right edge, 6 grey levels
    # under the paper (242, 238, 240, 16 under, was too small a step to tell before PAPER_MIN_STEP was 10)
    img = paste(img, art, np.array([[1 / res, 0, -off], [0, 1 / res, -off], [0, 0, 1.0]]), hom)
    sc = find_scale(img)
    assert sc.source == "aruco"
    plane = outline_on_plane(sc)
    left, top = -plane.min(axis=0)
    right, bottom = plane.max(axis=0)
    assert [left, top, bottom] == pytest.approx([13.5] * 3, abs=0.3)
    assert right == pytest.approx(18.0, abs=0.1)


def test_marker_outline_follows_an_off_white_paper_on_light_skin():
    """Off-white paper (grey 192) over light skin (grey ~178) with a margin of 1.7 mm: a step of 14, which
    the paper's edge gives on light skin (clinic renderer dev 957010). Each side ends 0.5 mm past the paper,
    not at the fixed 0.4 x side (18 mm), which kept 6 mm of skin round it from ever being looked at."""
    hom = plane_to_image((900, 700), (450, 350), 0.08, 25.0, (0.04, -0.03))
    img = blur(with_grey_paper(np.full((700, 900, 3), (196, 172, 160), np.uint8), hom, paper=192), 1.0)
    sc = find_scale(img)
    assert sc.source == "aruco"
    half_extent = np.abs(outline_on_plane(sc)).max(axis=0)
    assert half_extent == pytest.approx([10.0 + grey_paper_margin_mm() + 0.5] * 2, abs=0.3)


def test_no_marker_no_scale_with_reason():
    sc = find_scale(skin(640, 480))
    assert not sc.found and sc.source == "none"
    assert "no ArUco marker, ruler or sticker found" in sc.reason
    assert plane_mm_per_px(sc, 10, 10) is None


def affine_to_image(centre_px, mm_per_px_xy, rot_deg=0.0) -> np.ndarray:
    """Plane mm -> image px with another scale along the image's x than along its y (a camera tilted
    about one axis, far away), rotated by rot_deg in the plane first."""
    a = math.radians(rot_deg)
    rot = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1.0]])
    return np.array([[1 / mm_per_px_xy[0], 0, centre_px[0]], [0, 1 / mm_per_px_xy[1], centre_px[1]], [0, 0, 1.0]]) @ rot


@pytest.mark.parametrize("hom, rel, marker_id", [
    (plane_to_image((700, 500), (690, 250), 0.08, 10.0), 0.003, 7),  # half out: 2 corners in frame
    (plane_to_image((700, 500), (600, 250), 0.08, 45.0), 0.003, 7),  # one corner out: 3 in frame
    # strong perspective (the scale changes 2 % per 5 mm here): the scale of the part in frame, as
    # nearly as an affine map fitted to it gives it (1.3 % off; 4 % off the scale at the centre)
    (plane_to_image((700, 500), (690, 250), 0.08, 10.0, (0.12, -0.08)), 0.015, 7),
    # 0.080 mm/px across the side in frame, 0.086 along it: that side's length alone is 3.7 % off
    (affine_to_image((690, 250), (0.080, 0.086)), 0.003, 7),
    # a strong tilt: the cut sides 25 % longer than the side seen whole, so the cells placed from
    # that side's length were misread (dev 3704028); found with the cut sides stretched
    (affine_to_image((690, 250), (0.064, 0.080)), 0.005, 7),
    # marker 37's rows 0-2 in frame, row 2 cut at 0.64 cell: its one white cell (row 2) only partly in
    # frame, every inner cell wholly in frame black: read from the part in frame, or it is a dark card
    (plane_to_image((700, 500), (350, 515), 0.08, 0.0), 0.003, 37),
], ids=["half-out", "corner-out", "tilted", "anisotropic", "foreshortened", "white-cell-cut"])
def test_marker_partly_out_of_frame_is_measured_from_its_cells_in_frame(hom, rel, marker_id):
    sc = find_scale(with_marker(skin(700, 500), hom, marker_id=marker_id))
    assert sc.source == "aruco" and "partly out of frame" in sc.reason
    grid = np.array([[x, y] for x in np.linspace(-10, 10, 41) for y in np.linspace(-10, 10, 41)])
    img = np.c_[grid, np.ones(len(grid))] @ hom.T
    img = img[:, :2] / img[:, 2:]
    seen = grid[(img[:, 0] >= 0) & (img[:, 0] <= 699)].mean(axis=0)  # the square's part in frame, mm
    assert sc.mm_per_px == pytest.approx(true_scale(translated(hom, *-seen)), rel=rel)
    assert rel / 3 < sc.mm_per_px_uncertainty / sc.mm_per_px < 0.02
    on_square = [[-9.0, -9.0], [-9.0, 9.0], [9.0, -9.0], [-5.0, 0.0], [0.0, -9.0], [0.0, -5.0], [0.0, 9.0]]  # mm
    pts = np.c_[on_square, np.ones(len(on_square))] @ hom.T
    xs, ys = (pts[:, :2] / pts[:, 2:]).round().astype(int).T
    inside = (xs >= 0) & (xs < 700) & (ys >= 0) & (ys < 500)
    assert inside.sum() >= 3 and reference_mask(sc, (500, 700))[ys[inside], xs[inside]].all()


def test_cut_marker_placed_by_its_sides_alone_states_an_uncertainty_that_covers_a_tilt(monkeypatch):
    """Where its cell edges do not place the square, the scale along the whole side is used, with an
    uncertainty that covers the scale across it being 7 % off (0.080 vs 0.086 mm/px here: 3.7 % off)."""
    import spotscale.inference.scale as scale_mod
    monkeypatch.setattr(scale_mod, "_fit_cut_cells", lambda *a, **k: None)
    hom = affine_to_image((690, 250), (0.080, 0.086))
    sc = find_scale(with_marker(skin(700, 500), hom))
    assert "scale along it" in sc.reason
    err = abs(sc.mm_per_px / true_scale(hom) - 1.0)
    assert 0.02 < err <= 2 * sc.mm_per_px_uncertainty / sc.mm_per_px


def test_blurred_marker_cut_by_the_border_is_measured():
    """Blur rounds the square's corners: each must still come out as one corner of its outline."""
    hom = plane_to_image((700, 500), (350, 450), 0.13, 4.0)  # bottom 30 % out, a 154 px side
    sc = find_scale(blur(with_marker(skin(700, 500), hom), 2.5))
    assert sc.source == "aruco" and "partly out of frame" in sc.reason
    assert sc.mm_per_px == pytest.approx(true_scale(hom), rel=0.01)


def test_marker_cut_by_the_border_with_a_side_in_frame_too_short_is_not_used():
    hom = plane_to_image((700, 500), (760, 250), 0.08, 60.0)  # one corner in frame: no whole side
    sc = find_scale(with_marker(skin(700, 500), hom))
    assert not sc.found
    assert "no ArUco marker partly in frame either" in sc.reason


def test_dark_card_cut_by_the_border_is_no_marker():
    """A black square on white paper, cut by the border, with no white cells: not a marker."""
    hom = plane_to_image((700, 500), (690, 250), 0.08, 10.0)
    card = np.zeros((400, 400), np.uint8)
    card = cv2.copyMakeBorder(card, 133, 133, 133, 133, cv2.BORDER_CONSTANT, value=255)
    off = (133 - 0.5) / 20.0 + 10.0
    img = paste(skin(700, 500), card, np.array([[1 / 20.0, 0, -off], [0, 1 / 20.0, -off], [0, 0, 1.0]]), hom)
    assert not find_scale(img).found


def qr_code_art(module_px: int = 20, seed: int = 3) -> np.ndarray:
    """A 21 x 21 QR-code-like pattern: three finder patterns (7 modules: a black ring, a white ring,
    a black 3 x 3 centre) behind 1-module white separators, random data modules, a 4-module quiet zone."""
    rng = np.random.default_rng(seed)
    black = rng.random((21, 21)) < 0.5
    finder = np.zeros((7, 7), bool)
    finder[0, :] = finder[-1, :] = finder[:, 0] = finder[:, -1] = True
    finder[2:5, 2:5] = True
    for oy, ox in ((0, 0), (0, 14), (14, 0)):
        black[max(oy - 1, 0):oy + 8, max(ox - 1, 0):ox + 8] = False
        black[oy:oy + 7, ox:ox + 7] = finder
    art = cv2.resize(np.where(black, 0, 255).astype(np.uint8), None, fx=module_px, fy=module_px,
                     interpolation=cv2.INTER_NEAREST)
    return cv2.copyMakeBorder(art, *[4 * module_px] * 4, cv2.BORDER_CONSTANT, value=255)


@pytest.mark.parametrize("cx, rot", [(690, 0.0), (700, 10.0), (710, 90.0)])
def test_qr_code_cut_by_the_border_is_no_marker(cx, rot):
    """Half a QR code's finder pattern passes for half a marker unless each cell must be of one tone:
    its rings are 1/7 of its side, the cells of a marker 1/6."""
    hom = plane_to_image((700, 500), (cx, 250), 0.08, rot)  # a finder pattern's centre on the border
    img = paste(skin(700, 500), qr_code_art(), np.array([[0.05, 0, -7.5], [0, 0.05, -7.5], [0, 0, 1.0]]), hom)
    assert not find_scale(img).found


def test_marker_partly_out_of_frame_of_another_id_than_configured_is_not_used():
    hom = plane_to_image((700, 500), (690, 250), 0.08, 10.0)
    img = with_marker(skin(700, 500), hom, marker_id=7)
    assert find_scale(img, ScaleConfig(marker_id=7)).found
    assert not find_scale(img, ScaleConfig(marker_id=5)).found


def test_two_consistent_markers_and_an_inconsistent_one():
    base = plane_to_image((1000, 700), (500, 350), 0.08, 15.0, (0.05, 0.0))
    img = with_marker(skin(1000, 700), translated(base, -20, -8), marker_id=3)
    img = with_marker(img, translated(base, 22, 8), marker_id=9)
    sc = find_scale(img)
    assert sc.source == "aruco" and sc.n_references == 2
    img3 = with_marker(img, translated(base, -19, 22), side_mm=8.0, marker_id=11)  # a smaller print
    sc3 = find_scale(img3)
    assert sc3.n_references == 2 and "marker id 11 refused" in sc3.reason
    only9 = find_scale(img, ScaleConfig(marker_id=9))
    assert only9.n_references == 1 and "id 9" in only9.reason


def test_blurred_marker_still_measured():
    hom = plane_to_image((800, 600), (400, 300), 0.06, 25.0, (0.05, 0.05))
    img = blur(with_marker(skin(800, 600), hom), 2.5)
    sc = find_scale(img)
    assert sc.source == "aruco"
    assert sc.mm_per_px == pytest.approx(true_scale(hom), rel=3e-3)


@pytest.mark.parametrize("mm_per_px, sigma", [(0.35, 3.0), (0.4, 2.5)])
def test_small_marker_blurred_over_a_third_of_its_cells_is_read(mm_per_px, sigma):
    # 57 and 50 px sides: cells of 8-10 px under a blur of 2.5-3 px; a bit read over its whole cell
    # (OpenCV's default margin) is misread and the marker missed
    hom = plane_to_image((800, 600), (400, 300), mm_per_px, 25.0, (0.05, 0.05))
    sc = find_scale(blur(with_marker(skin(800, 600), hom), sigma))
    assert sc.source == "aruco"
    assert sc.mm_per_px == pytest.approx(true_scale(hom), rel=0.015)


@pytest.mark.parametrize("sigma", [0.0, 1.0, 2.0, 3.0])
def test_blur_at_the_marker_is_measured_as_its_gaussian_sigma(sigma):
    # a sharp edge through the pixel and the sampling measures 0.5 px, which is taken off
    hom = plane_to_image((800, 600), (400, 300), 0.06, 25.0, (0.05, 0.05))
    img = with_marker(skin(800, 600), hom)
    sc = find_scale(blur(img, sigma) if sigma else img)
    assert sc.source == "aruco"
    assert sc.blur_px == pytest.approx(sigma, abs=0.3)  # the render itself adds 0.25 px (a bilinear warp)
    assert f"blur at the marker {sc.blur_px:.1f} px" in sc.reason


@pytest.mark.parametrize("sigma", [1.0, 2.5])
@pytest.mark.parametrize("centre", [(690, 250), (600, 250)], ids=["half-out", "corner-out"])
def test_blur_at_a_marker_partly_out_of_frame_is_measured_on_its_sides_in_frame(sigma, centre):
    # a blurred photo whose marker the frame cuts: without the blur its small spots came out about
    # 2 px too large (dev bench_rules photos 2010 and 2026: sigma 2.7 px, spots of 8-9 px measured +2-3 px)
    hom = plane_to_image((700, 500), centre, 0.08, 10.0 if centre[0] == 690 else 45.0)
    sc = find_scale(blur(with_marker(skin(700, 500), hom), sigma))
    assert sc.source == "aruco" and "partly out of frame" in sc.reason
    assert sc.blur_px == pytest.approx(sigma, abs=0.3)
    assert f"blur at the marker {sc.blur_px:.1f} px" in sc.reason

def test_marker_side_is_configurable():
    hom = plane_to_image((800, 600), (400, 300), 0.1, 40.0)
    sc = find_scale(with_marker(skin(800, 600), hom, side_mm=30.0), ScaleConfig(marker_side_mm=30.0))
    assert sc.mm_per_px == pytest.approx(true_scale(hom), rel=1e-3)


def test_reduced_search_image_gives_the_same_scale():
    hom = plane_to_image((1200, 900), (600, 450), 0.05, 12.0, (0.05, 0.05))
    img = with_marker(skin(1200, 900), hom)
    red = cv2.resize(img, (300, 225), interpolation=cv2.INTER_AREA)
    sc = find_scale(img, reduced=red, reduce=4)
    assert sc.mm_per_px == pytest.approx(true_scale(hom), rel=1e-3)


# ---- manual -----------------------------------------------------------------------------------


def test_manual_values_override_detection():
    hom = plane_to_image((600, 500), (300, 250), 0.08)
    img = with_marker(skin(600, 500), hom)
    sc = find_scale(img, ScaleConfig(mm_per_px=0.02))
    assert sc.source == "manual" and sc.mm_per_px == 0.02 and sc.homography is None
    assert find_scale(img, ScaleConfig(dpi=1200)).mm_per_px == pytest.approx(25.4 / 1200)
    assert plane_mm_per_px(sc, 5, 5) == 0.02


@pytest.mark.parametrize("kw, match", [
    ({"mm_per_px": 0}, "mm_per_px"), ({"mm_per_px": -0.1}, "mm_per_px"), ({"mm_per_px": float("nan")}, "nan"),
    ({"dpi": float("inf")}, "dpi"), ({"dpi": "abc"}, "dpi"), ({"mm_per_px": 0.1, "dpi": 300}, "not both"),
    ({"marker_side_mm": 0}, "marker_side_mm"), ({"aruco_dict": "DICT_9X9_1"}, "DICT_9X9_1"),
    ({"order": ("aruco", "laser")}, "laser"), ({"sticker_diameter_mm": 10, "sticker_color": "plaid"}, "plaid"),
])
def test_bad_config_is_a_config_error(kw, match):
    with pytest.raises(ConfigError, match=match):
        find_scale(skin(64, 48), ScaleConfig(**kw))


# ---- ruler and sticker ------------------------------------------------------------------------


def with_ruler(img, hom, length_mm=60, width_mm=15.0, res=20.0):
    """Paste a white ruler with 1 mm ticks (2 / 3.5 / 5 mm long at 1 / 5 / 10 mm), centred at the origin."""
    body = length_mm + 10.0
    art = np.full((int(width_mm * res), int(body * res)), 235, np.uint8)
    for i in range(length_mm + 1):
        x = int(round((5.0 + i) * res))
        tick = 5.0 if i % 10 == 0 else (3.5 if i % 5 == 0 else 2.0)
        cv2.rectangle(art, (x - 1, 0), (x + 1, int(tick * res)), 20, -1)
    off = np.array([[1 / res, 0, -body / 2 - 0.5 / res], [0, 1 / res, -width_mm / 2 - 0.5 / res], [0, 0, 1.0]])
    return paste(img, art, off, hom)


@pytest.mark.parametrize("rot", [0.0, 37.0, -100.0])
def test_ruler_at_an_angle_within_1_percent(rot):
    hom = plane_to_image((900, 700), (450, 350), 0.08, rot)
    sc = find_scale(blur(with_ruler(skin(900, 700), hom), 0.8))
    assert sc.source == "ruler"
    assert sc.mm_per_px == pytest.approx(0.08, rel=0.01)
    # the outline covers the ruler's centre and its tick row
    mask = reference_mask(sc, (700, 900))
    for p in ([0, 0], [0, -6.5], [25, -6.5], [-25, -6.5]):
        q = hom @ [p[0], p[1], 1.0]
        assert mask[int(round(q[1] / q[2])), int(round(q[0] / q[2]))]


def test_yellow_ruler_as_light_as_the_skin_is_outlined_on_its_own_body():
    """Grown in grey, the outline went over the skin beside the ticks and 9 mm past the ruler's end
    (masking spots there) and stopped short of its far edge, on an independent renderer's photo."""
    hom = plane_to_image((900, 700), (450, 350), 0.08, 20.0)
    img = skin(900, 700)  # grey about 162; the ruler's yellow about 168
    ruled = with_ruler(img, hom, length_mm=50, width_mm=24.0)
    body = with_ruler(np.zeros_like(img), hom, length_mm=50, width_mm=24.0).max(axis=2) > 10
    yellow = np.array([215, 165, 60]) * (ruled.astype(np.float32) / 235.0)
    img = np.where(body[..., None], np.clip(yellow, 0, 255), img).astype(np.uint8)
    sc = find_scale(blur(img, 0.8))
    assert sc.source == "ruler" and sc.mm_per_px == pytest.approx(0.08, rel=0.01)
    mask = reference_mask(sc, (700, 900))

    def at(x_mm, y_mm):
        q = hom @ [x_mm, y_mm, 1.0]
        return bool(mask[int(round(q[1] / q[2])), int(round(q[0] / q[2]))])

    assert all(at(x, y) for x in (-28, 0, 28) for y in (-11, 0, 11))  # the ticks' edge, middle, far edge
    assert not any(at(x, -12 - 3) for x in (-20, 0, 20))  # skin 3 mm beyond the tick edge
    assert not any(at(sign * (30 + 3), 0) for sign in (-1, 1))  # skin 3 mm beyond each end


def test_ruler_colour_is_read_between_its_ticks_when_the_band_straddles_its_edge():
    """A tick band picked half on the ruler, half on the skin: its median is neither; the colour
    between the ticks on the rows where they show is the ruler's."""
    from spotscale.inference.scale import _Ticks, _ticked_rows
    img = np.zeros((200, 400, 3), np.uint8)
    img[:100] = (225, 228, 235)  # a white ruler above y = 100 ...
    img[100:] = (166, 149, 141)  # ... and pale skin below it
    xs = np.arange(20.0, 380.0, 10.0)
    for x in xs:  # ticks 10 px apart, from the ruler's edge 12 px up
        img[88:100, int(x) - 1:int(x) + 1] = (40, 40, 40)
    ticks = _Ticks(10.0, 0.01, len(xs), xs, np.arange(len(xs)), -1.0)
    a, u, n = np.array([0.0, 0.0]), np.array([1.0, 0.0]), np.array([0.0, 1.0])
    (lo, hi), base = _ticked_rows(img, a, u, n, ticks, (86.0, 114.0))
    assert 86 <= lo <= 90 and 97 <= hi <= 100  # the rows with ticks, none of the skin
    assert np.allclose(base, (225, 228, 235), atol=3)


def test_longer_clutter_edges_do_not_crowd_out_a_rulers_sides():
    # a background's border, a sleeve and a watermark's baseline can all be longer than a ruler: on a
    # dev photo five such lines came first and the ruler's sides (6th and 7th) were never searched
    from spotscale.inference.scale import _edge_lines, _gray
    img = skin(1200, 900)
    for poly in ([(0, 0), (1199, 0), (1199, 40), (0, 90)], [(0, 899), (1199, 899), (1199, 800), (0, 860)],
                 [(0, 120), (120, 120), (0, 700)], [(1199, 100), (1199, 760), (1020, 760)],
                 [(300, 200), (900, 160), (900, 230), (300, 230)]):
        cv2.fillPoly(img, [np.array(poly, np.int32)], (60, 45, 40))
    cv2.rectangle(img, (560, 420), (640, 700), (235, 235, 235), -1)  # the ruler's body, 280 px long
    lines = _edge_lines(_gray(img), img)
    sides = [x for x in (560, 640) if any(abs(s[0] - s[2]) < 4 and abs(s[0] - x) < 3 for s in lines)]
    assert sides == [560, 640]


def test_ruler_search_can_be_switched_off():
    hom = plane_to_image((900, 700), (450, 350), 0.08, 20.0)
    sc = find_scale(with_ruler(skin(900, 700), hom), ScaleConfig(ruler=False))
    assert not sc.found


def with_disc(img, centre, radius_px, rgb):
    """Draw an anti-aliased disc (in linear light) of known radius."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h * SS, 0:w * SS]
    r = np.hypot((xx - (SS - 1) / 2) / SS - centre[0], (yy - (SS - 1) / 2) / SS - centre[1])
    cov = cv2.resize((r <= radius_px).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    col = to_linear(np.array(rgb, np.uint8).reshape(1, 1, 3))
    return to_srgb(to_linear(img) * (1 - cov[..., None]) + col * cov[..., None])


@pytest.mark.parametrize("colour", ["blue", (40, 170, 70), None])
def test_disc_of_known_radius_within_1_percent(colour):
    rgb = (40, 170, 70) if colour == (40, 170, 70) else (30, 90, 210)
    img = blur(with_disc(skin(800, 600), (300.3, 310.7), 95.0, rgb), 1.0)
    sc = find_scale(img, ScaleConfig(sticker_diameter_mm=15.0, sticker_color=colour))
    assert sc.source == "sticker"
    assert sc.mm_per_px == pytest.approx(15.0 / 190.0, rel=0.01)
    mask = reference_mask(sc, (600, 800))
    assert mask[310, 300] and mask[310, 300 + 93] and not mask[310, 300 + 110]


def test_white_sticker_under_warm_light_is_found_and_bright_skin_is_not():
    # a white sticker photographed under warm light is cream (chroma 18, over the strict white limit of 14)
    img = blur(with_disc(skin(800, 600), (400.4, 300.6), 80.0, (250, 240, 205)), 1.0)
    sc = find_scale(img, ScaleConfig(sticker_diameter_mm=10.0, sticker_color="white"))
    assert sc.source == "sticker" and sc.mm_per_px == pytest.approx(10.0 / 160.0, rel=0.01)
    # a round patch of bright, warm skin (lightness 90 % of white's) is no white sticker
    skin_disc = blur(with_disc(skin(800, 600), (400.4, 300.6), 80.0, (236, 214, 190)), 1.0)
    assert not find_scale(skin_disc, ScaleConfig(sticker_diameter_mm=10.0, sticker_color="white")).found


def test_a_white_ring_is_no_white_sticker():
    """The "0" of a burnt-in date stamp is a fine white ellipse outline, but not a filled disc."""
    img = skin(800, 600)
    for x in (200, 330, 460):
        cv2.ellipse(img, (x, 200), (16, 24), 0, 0, 360, (250, 250, 250), 6, cv2.LINE_AA)
    cfg = ScaleConfig(sticker_diameter_mm=16.0, sticker_color="silver")
    assert not find_scale(blur(img, 1.0), cfg).found
    # beside a real sticker, the rings are not it either; a sticker printed with a ring and a dot is one
    sticker = with_disc(img, (420.4, 420.6), 40.0, (200, 200, 200))
    printed = sticker.copy()
    cv2.circle(printed, (420, 421), 28, (40, 40, 40), 4, cv2.LINE_AA)
    cv2.circle(printed, (420, 421), 4, (40, 40, 40), -1, cv2.LINE_AA)
    for art in (sticker, printed):
        sc = find_scale(blur(art, 1.0), cfg)
        assert sc.source == "sticker" and sc.mm_per_px == pytest.approx(16.0 / 80.0, rel=0.01)


@pytest.mark.parametrize("sigma", [0.0, 1.0, 2.0, 3.0])
def test_blur_at_a_stickers_rim_is_measured_as_its_gaussian_sigma(sigma):
    # as at a marker: the small spots' outlines are deblurred by it
    img = with_disc(skin(800, 600), (300.3, 310.7), 95.0, (30, 90, 210))
    sc = find_scale(blur(img, sigma) if sigma else img, ScaleConfig(sticker_diameter_mm=15.0, sticker_color="blue"))
    assert sc.source == "sticker"
    assert sc.blur_px == pytest.approx(sigma, abs=0.3)
    assert f"blur at its rim {sc.blur_px:.1f} px" in sc.reason


@pytest.mark.parametrize("sigma", [0.0, 1.0, 2.0, 3.0])
def test_blur_at_a_rulers_sides_is_measured_as_its_gaussian_sigma(sigma):
    """As at a marker or a sticker: the outlines of small spots are deblurred by it."""
    img = with_ruler(skin(900, 700), plane_to_image((900, 700), (450, 350), 0.08, 20.0))
    sc = find_scale(blur(img, sigma) if sigma else img)
    assert sc.source == "ruler"
    assert sc.blur_px == pytest.approx(sigma, abs=0.3)
    assert f"blur at its sides {sc.blur_px:.1f} px" in sc.reason


def test_a_ruler_side_softer_than_the_photos_blur_does_not_set_it():
    """The sharper side gives the blur: a bevelled or worn side (here one blurred 3 px more) is softer
    than the camera's blur, which is what the spots have."""
    hom = plane_to_image((900, 700), (450, 350), 0.08, 0.0)
    img = blur(with_ruler(skin(900, 700), hom), 1.0)
    soft = blur(img, 3.0)
    img[350 + 80:350 + 110] = soft[350 + 80:350 + 110]  # the band over the lower side (15 mm: +-94 px)
    sc = find_scale(img)
    assert sc.source == "ruler"
    assert sc.blur_px == pytest.approx(1.0, abs=0.3)


@pytest.mark.parametrize("sigma", [0.0, 1.0])
@pytest.mark.parametrize("rgb", [(30, 90, 210), (60, 160, 60)])
def test_stickers_rim_blur_is_not_widened_by_jpeg_colour_subsampling(rgb, sigma):
    # JPEG stores colour at half resolution: measured on the colour, a sharp blue rim read 1.1 px
    img = with_disc(skin(800, 600), (300.3, 310.7), 60.0, rgb)
    bgr = cv2.cvtColor(blur(img, sigma) if sigma else img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 75, cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                                         cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420])
    jpeg = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    sc = find_scale(jpeg, ScaleConfig(sticker_diameter_mm=15.0))
    assert sc.source == "sticker"
    assert sc.blur_px == pytest.approx(sigma, abs=0.45)


@pytest.mark.parametrize("quality", [50, 75])
@pytest.mark.parametrize("rgb, base", [((220, 30, 30), None), ((30, 90, 210), None), ((150, 30, 30), (120, 85, 70))])
def test_a_small_coloured_sticker_in_a_web_jpeg_is_measured_on_its_luma(rgb, base, quality):
    """A 30 px red or blue sticker in a JPEG with colour at half resolution: read on the colour
    difference its rim moved outwards or inwards (red on brown skin: +10.0 % at quality 75, red on
    light skin -3.5 %, blue -1.9 %); read on the luma, unmixed, it is within 1 %."""
    img = skin(320, 240)
    if base is not None:
        img = np.clip(img.astype(np.float32) - (200, 150, 125) + base, 0, 255).astype(np.uint8)
    img = blur(with_disc(img, (150.3, 120.7), 15.0, rgb), 0.7)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [
        cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420])
    jpeg = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    colour = "red" if rgb[0] > rgb[2] else "blue"
    sc = find_scale(jpeg, ScaleConfig(sticker_diameter_mm=3.0, sticker_color=colour))
    assert sc.source == "sticker"
    assert sc.mm_per_px == pytest.approx(0.1, rel=0.01)
    # a rim placed to 0.3 px at best: 1 % of a 30 px sticker, whatever its fit's own scatter
    assert sc.mm_per_px_uncertainty >= 0.01 * sc.mm_per_px


def test_luma_unmixing_reads_back_the_share_of_each_colour_in_a_blended_px():
    """A px that mixes the sticker's and the skin's light in a known share (as blur does, in linear
    light) is read back at that share from its gamma-encoded luma alone."""
    from spotscale.inference.scale import _linear, _luma_unmixed
    sticker, skin_rgb = np.array([[[220, 30, 30]]], np.uint8), np.array([[[200, 150, 125]]], np.uint8)
    a, b = _linear(sticker)[0, 0], _linear(skin_rgb)[0, 0]
    share = np.linspace(0, 1, 11, dtype=np.float32)
    lin = a[None, :] + share[:, None] * (b - a)[None, :]
    rgb = np.round(255 * np.where(lin / 255 <= 0.0031308, 12.92 * lin / 255, 1.055 * (lin / 255) ** (1 / 2.4) - 0.055))
    got = _luma_unmixed(rgb.astype(np.uint8)[None], a, b)[0]
    assert got == pytest.approx(share, abs=0.01)
    assert _luma_unmixed(rgb.astype(np.uint8)[None], a, a + 1.0) is None  # no luma step: not read on it


def test_a_pink_sticker_is_found_by_its_colour_name():
    """Pink dot stickers are common; named, the colour finds one a whole-disc search without a colour
    would have to judge by its look alone."""
    img = blur(with_disc(skin(800, 600), (300.3, 310.7), 60.0, (245, 135, 160)), 1.0)
    sc = find_scale(img, ScaleConfig(sticker_diameter_mm=12.0, sticker_color="pink"))
    assert sc.source == "sticker"
    assert sc.mm_per_px == pytest.approx(0.1, rel=0.01)


def test_a_sticker_not_found_without_its_colour_says_what_was_looked_for():
    # without a colour, a disc on a cloth or cut by the frame is not sought (_looks_like_sticker,
    # _cut_sticker): the reason says so and how to widen the search
    img = skin(640, 480)
    img[360:] = (230, 230, 235)  # the disc on a white sheet
    img = with_disc(img, (320.2, 420.4), 30.0, (60, 160, 90))
    sc = find_scale(blur(img, 0.8), ScaleConfig(sticker_diameter_mm=20.0, order=("sticker",)))
    assert not sc.found and "give its colour" in sc.reason
    sc = find_scale(blur(img, 0.8), ScaleConfig(sticker_diameter_mm=20.0, sticker_color="green", order=("sticker",)))
    assert sc.found and sc.mm_per_px == pytest.approx(20.0 / 60.0, rel=0.02)


def test_sticker_search_is_off_without_a_diameter():
    img = with_disc(skin(400, 300), (200, 150), 60.0, (30, 90, 210))
    assert not find_scale(img).found


def test_blurred_ruler_with_nearly_sinusoidal_ticks():
    # 6.5 px per mm, blur sigma 2 px: the mm ticks are a low-contrast near-sine with no usable skew
    hom = plane_to_image((1000, 700), (500, 350), 1 / 6.5, 33.0)
    sc = find_scale(blur(with_ruler(skin(1000, 700), hom, length_mm=80), 2.0))
    assert sc.source == "ruler"
    assert sc.mm_per_px == pytest.approx(1 / 6.5, rel=0.015)


def test_watermark_text_is_not_a_ruler():
    img = skin(1000, 700, seed=3)
    for y in (200, 420):
        cv2.putText(img, "www.skinatlas.example.com", (60, y), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (220, 200, 60), 3,
                    cv2.LINE_AA)
    sc = find_scale(img)
    assert not sc.found and sc.source == "none"


def hairy(img: np.ndarray, n: int = 400, seed: int = 5) -> np.ndarray:
    """Dark straight hairs (long collinear edges everywhere: the clutter that hid rulers from edge search)."""
    rng = np.random.default_rng(seed)
    out = img.copy()
    h, w = img.shape[:2]
    for _ in range(n):
        p = rng.uniform((0, 0), (w, h))
        a = rng.uniform(0, np.pi)
        q = p + rng.uniform(40, 160) * np.array([np.cos(a), np.sin(a)])
        cv2.line(out, tuple(int(v) for v in p), tuple(int(v) for v in q), (70, 50, 40), 1, cv2.LINE_AA)
    return out


def test_ruler_on_hairy_skin_within_1_5_percent():
    hom = plane_to_image((1000, 750), (520, 330), 1 / 7.0, 12.0)
    img = hairy(with_ruler(skin(1000, 750), hom, length_mm=50))
    sc = find_scale(blur(img, 0.7))
    assert sc.source == "ruler"
    assert sc.mm_per_px == pytest.approx(1 / 7.0, rel=0.015)


@pytest.mark.parametrize("visible_mm, found", [(24.0, True), (17.0, True), (10.0, False)],
                         ids=["24mm-in-frame", "17mm-in-frame", "10mm-in-frame"])
def test_ruler_partly_out_of_frame(visible_mm, found):
    # a 60 mm ruler (ticks at -30..30 mm) whose right end leaves the frame; `visible_mm` of ticks stay inside;
    # >= 15 mm of ticks are needed
    res = 6.0  # px per mm
    x_edge = 900 - 1
    centre_x = x_edge - (visible_mm - 30.0) * res
    hom = plane_to_image((900, 600), (centre_x, 300), 1 / res, 0.0)
    sc = find_scale(blur(with_ruler(skin(900, 600), hom, length_mm=60), 0.7))
    assert sc.found == found
    if found:
        assert sc.source == "ruler" and sc.mm_per_px == pytest.approx(1 / res, rel=0.015)
    else:
        assert "no ruler found" in sc.reason


@pytest.mark.parametrize("exposure", [1.0, 0.14])
def test_marker_in_an_underexposed_photo_is_measured(exposure):
    """At 0.14x exposure the marker's paper is at sRGB 36 (linear 4.6): its sides' steps were under the
    12 linear units asked of a well-lit marker, and it was refused as washed out (from 0.18x down)."""
    hom = plane_to_image((800, 600), (400, 300), 0.06, 20.0, (0.04, 0.0))
    img = with_marker(skin(800, 600), hom)
    dim = np.clip(img.astype(np.float32) * exposure, 0, 255).astype(np.uint8)
    sc = find_scale(dim)
    assert sc.source == "aruco", sc.reason
    assert sc.mm_per_px == pytest.approx(true_scale(hom), rel=2e-3)


def test_marker_under_glare_is_measured_or_refused_clearly():
    hom = plane_to_image((800, 600), (400, 300), 0.06, 20.0, (0.04, 0.0))
    img = with_marker(skin(800, 600), hom)
    # a saturated specular highlight over one side of the marker
    lin = to_linear(img)
    yy, xx = np.mgrid[0:600, 0:800]
    q = hom @ [8.0, -8.0, 1.0]
    spot = np.exp(-(((xx - q[0] / q[2]) ** 2 + (yy - q[1] / q[2]) ** 2) / (2 * 60.0 ** 2)))
    img = to_srgb(lin + 3.0 * spot[..., None])
    sc = find_scale(img)
    if sc.source == "aruco":
        assert sc.mm_per_px == pytest.approx(true_scale(hom), rel=5e-3)
    else:
        assert not sc.found and "glare" in sc.reason


def test_ruler_leaving_the_frame_on_hairy_skin():
    # the tick row leaves through the bottom edge: strip rows beside it run out of the image before the
    # ticks do (those stretches were dropped whole, and hair outweighed what was left)
    res = 6.0
    hom = plane_to_image((900, 600), (700, 580), 1 / res, 30.0)
    img = blur(hairy(with_ruler(skin(900, 600), hom, length_mm=80), 500), 0.7)
    sc = find_scale(img)
    assert sc.source == "ruler" and sc.mm_per_px == pytest.approx(1 / res, rel=0.015)


def test_ruler_with_its_middle_hidden_is_measured_from_a_visible_run():
    res = 7.0
    hom = plane_to_image((1000, 700), (500, 350), 1 / res, 20.0)
    img = with_ruler(skin(1000, 700), hom, length_mm=60)
    q = hom @ [0, -6.5, 1.0]  # a skin-coloured occluder (a finger) over 10 mm of the tick row
    cv2.ellipse(img, (int(q[0] / q[2]), int(q[1] / q[2])), (35, 63), 20.0, 0, 360, (195, 145, 120), -1, cv2.LINE_AA)
    sc = find_scale(blur(img, 0.7))
    assert sc.source == "ruler" and sc.mm_per_px == pytest.approx(1 / res, rel=0.01)


def brown_skin(w: int, h: int, seed: int = 0) -> np.ndarray:
    """Darker skin whose grey level equals a mid blue's: a blue disc on it shows in hue, not in grey."""
    return np.clip(skin(w, h, seed).astype(np.int16) - np.array([80, 75, 70]), 0, 255).astype(np.uint8)


def test_plain_disc_of_another_hue_under_a_hair_without_a_colour():
    # blue (45, 85, 190) on brown (120, 75, 55): grey levels within a few units; a hair crosses the disc
    img = with_disc(brown_skin(800, 600), (420.4, 280.2), 80.0, (45, 85, 190))
    cv2.line(img, (300, 180), (560, 400), (60, 40, 30), 2, cv2.LINE_AA)
    sc = find_scale(blur(img, 0.8), ScaleConfig(sticker_diameter_mm=12.0))
    assert sc.source == "sticker"
    assert sc.mm_per_px == pytest.approx(12.0 / 160.0, rel=0.01)


def test_sticker_that_differs_from_the_skin_in_hue_alone_is_found_without_its_colour(monkeypatch):
    # a blue sticker as light as the skin (L* 65, the skin's 66) whose rim fades out over its top 140 deg
    # (blurred by 10 px there): no closed outline, no arc over 2/3 of it, no circle in L* (clinic renderer
    # dev 957012's web copy, under the limb's shaded edge); a circle in b* finds it
    import spotscale.inference.scale as scale_mod
    from spotscale.inference.scale import ScaleConfig
    img = skin(800, 600)
    cv2.circle(img, (400, 300), 120, (104, 160, 238), -1, cv2.LINE_AA)
    band = np.zeros((600, 800), np.float32)
    cv2.ellipse(band, (400, 300), (120, 120), 0, 200, 340, 1.0, 40)
    band = cv2.GaussianBlur(band, (0, 0), 5)[..., None]
    img = blur(np.clip(img * (1 - band) + cv2.GaussianBlur(img, (0, 0), 10) * band, 0, 255).astype(np.uint8), 1.0)
    cfg = ScaleConfig(sticker_diameter_mm=24.0, order=("sticker",))
    sc = find_scale(img, cfg)
    assert sc.source == "sticker" and sc.mm_per_px == pytest.approx(24.0 / 240.0, rel=0.01)
    monkeypatch.setattr(scale_mod, "HOUGH_EDGE", (150.0,))  # L* alone
    assert find_scale(img, cfg).source == "none"


def test_grainy_sticker_is_found_without_a_colour(monkeypatch):
    # a light blue sticker on brown skin with a phone's grain (sd 6 per channel, pixel to pixel): its
    # roughness, 0.10 of its contrast, is the grain's, not a mole's mottling (clinic renderer dev
    # 952001, 952002, 952023: 0.05-0.07, clear stickers refused); after a 1 px blur it is 0.03
    import spotscale.inference.scale as scale_mod
    img = np.clip(skin(640, 480).astype(np.int16) - np.array([85, 75, 70]), 0, 255).astype(np.uint8)
    img = blur(with_disc(img, (300.4, 240.7), 50.0, (125, 175, 230)), 1.0)
    img = np.clip(img + np.random.default_rng(1).normal(0, 6.0, img.shape), 0, 255).astype(np.uint8)
    cfg = ScaleConfig(sticker_diameter_mm=13.0, order=("sticker",))
    sc = find_scale(img, cfg)
    assert sc.source == "sticker" and sc.mm_per_px == pytest.approx(0.13, rel=0.01)
    monkeypatch.setattr(scale_mod, "_GRAIN_SIGMA_PX", 0.01)  # the grain counted in full
    assert not find_scale(img, cfg).found


@pytest.mark.parametrize("colour", [None, "#783296"])
def test_a_dot_of_a_polka_dot_print_is_no_sticker_but_a_lone_sticker_is(monkeypatch, colour):
    # purple dots printed all over (generated dev 6336, a dotted sheet and no reference: one dot, 4 mm,
    # was taken for a 20 mm sticker, +370 %): each is as round, flat and sharp as a sticker, but a
    # reference is one disc; the same dot alone is the sticker
    import spotscale.inference.scale as scale_mod
    img = skin(800, 600)
    dots = img.copy()
    for y in range(60, 600, 80):
        for x in range(50 + (y // 80 % 2) * 40, 800, 80):
            cv2.circle(dots, (x, y), 18, (120, 50, 150), -1, cv2.LINE_AA)
    lone = with_disc(img, (400.3, 300.6), 18.0, (120, 50, 150))
    cfg = ScaleConfig(sticker_diameter_mm=20.0, sticker_color=colour, order=("sticker",))
    assert not find_scale(blur(dots, 0.8), cfg).found
    sc = find_scale(blur(lone, 0.8), cfg)
    assert sc.source == "sticker" and sc.mm_per_px == pytest.approx(20.0 / 36.0, rel=0.02)
    monkeypatch.setattr(scale_mod, "_PATTERN_REPEATS", 1000)  # never a pattern
    assert find_scale(blur(dots, 0.8), cfg).found


def test_round_mottled_mole_is_not_a_sticker_without_a_colour():
    # a round brown mole: soft edge, mottled inside; with no colour given only a flat step-edged disc passes
    rng = np.random.default_rng(3)
    h, w = 600, 800
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(xx - 400, yy - 300)
    cover = np.clip((70 - r) / 14 + 0.5, 0, 1)  # 14 px soft edge on a 70 px radius
    mottle = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 4) * 60
    mole = np.clip(np.array([110, 70, 50], np.float32) + mottle[..., None], 0, 255)
    img = skin(w, h) * (1 - cover[..., None]) + mole * cover[..., None]
    sc = find_scale(np.clip(img, 0, 255).astype(np.uint8), ScaleConfig(sticker_diameter_mm=12.0))
    assert not sc.found


def with_coin(img, centre, radius_px, rgb):
    """A coin: relief (6 concentric rings, +-15 %), a rim darkened by 35 % next to its edge, a sheen
    across it and a soft contact shadow on the skin around."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h * SS, 0:w * SS]
    dx, dy = (xx - (SS - 1) / 2) / SS - centre[0], (yy - (SS - 1) / 2) / SS - centre[1]
    rr = cv2.resize(np.hypot(dx, dy).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    cov = cv2.resize((np.hypot(dx, dy) <= radius_px).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    sheen = 0.85 + 0.25 * ((np.arange(w)[None, :] - centre[0]) - (np.arange(h)[:, None] - centre[1])) / (2 * radius_px)
    relief = 0.85 + 0.15 * np.cos(rr / radius_px * math.pi * 6)
    rim = np.where((rr > 0.92 * radius_px) & (rr < 0.97 * radius_px), 0.65, 1.0)
    coin = to_linear(np.array(rgb, np.uint8).reshape(1, 1, 3)) * (relief * rim * sheen)[..., None]
    shadow = 1 - 0.25 * np.exp(-np.maximum(rr - radius_px, 0) / (0.05 * radius_px))
    under = to_linear(img) * shadow[..., None]
    return to_srgb(np.clip(under * (1 - cov[..., None]) + coin * cov[..., None], 0, 1))


@pytest.mark.parametrize("rgb", [(150, 150, 150), (180, 150, 80)])
def test_coin_with_relief_and_a_dark_rim_is_found_without_a_colour(rgb):
    # a coin is not flat inside (relief, rim, sheen: roughness 0.1-0.3 of its contrast) but its outline is a
    # step: it must pass where a mottled mole fading into the skin does not (test below)
    img = blur(with_coin(skin(800, 600), (380.4, 290.6), 110.0, rgb), 1.2)
    sc = find_scale(img, ScaleConfig(sticker_diameter_mm=21.0))
    assert sc.source == "sticker"
    assert sc.mm_per_px == pytest.approx(21.0 / 220.0, rel=0.015)


def with_shaded_disc(img, centre, radius_px, rgb, floor, lit=0.75):
    """A disc whose colour fades towards the skin's (to `floor` of its own) at its lower left, as a
    coin's sheen meets bright skin: that part of its outline is too faint to close an edge contour."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h * SS, 0:w * SS]
    r = np.hypot((xx - (SS - 1) / 2) / SS - centre[0], (yy - (SS - 1) / 2) / SS - centre[1])
    cov = cv2.resize((r <= radius_px).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    diag = (np.arange(w)[None, :] - centre[0]) - (np.arange(h)[:, None] - centre[1])
    t = np.clip(lit + diag / (2.0 * radius_px), floor, 1)[..., None]
    skin_lin = to_linear(np.array([200, 150, 125], np.uint8).reshape(1, 1, 3))
    disc = skin_lin * (1 - t) + to_linear(np.array(rgb, np.uint8).reshape(1, 1, 3)) * t
    return to_srgb(to_linear(img) * (1 - cov[..., None]) + disc * cov[..., None])


@pytest.mark.parametrize("lit", [0.75, 0.5])
def test_disc_whose_outline_fades_on_one_side_is_found(lit):
    # lit 0.75: about a quarter of the outline fades (an arc remains); 0.5: about half (a Hough circle)
    img = blur(with_shaded_disc(skin(800, 600), (400.3, 300.6), 100.0, (120, 120, 125), 0.2, lit), 1.0)
    sc = find_scale(img, ScaleConfig(sticker_diameter_mm=20.0))
    assert sc.source == "sticker"
    assert sc.mm_per_px == pytest.approx(0.1, rel=0.01)


def test_elongated_dark_blob_is_no_sticker_seen_at_a_tilt():
    # a flat dark ellipse 16 x 40 px: on the reduced search image its outline fits 13 x 23 px, but a
    # round sticker seen at over 60 deg of tilt (axes under 1:2) is not one to measure by
    img = skin(1600, 1200)
    cv2.ellipse(img, ((800.3, 600.6), (16, 40), 30.0), (70, 60, 60), -1, cv2.LINE_AA)
    sc = find_scale(blur(img, 1.5), ScaleConfig(sticker_diameter_mm=20.0))
    assert not sc.found


def camera_tilt_homography(size, offset_px, mm_per_px, rot_deg, p_xy) -> np.ndarray:
    """Plane mm -> image px: rotation + scale, the plane origin `offset_px` from the image centre, then a
    perspective x -> x / (1 + p.x) about the image centre (where a phone's principal point sits)."""
    w, h = size
    a = math.radians(rot_deg)
    s = 1.0 / mm_per_px
    rs = np.array([[s * math.cos(a), -s * math.sin(a), offset_px[0]], [s * math.sin(a), s * math.cos(a), offset_px[1]],
                   [0, 0, 1.0]])
    p = np.array([[1, 0, 0], [0, 1, 0], [p_xy[0], p_xy[1], 1.0]])
    c = np.array([[1, 0, (w - 1) / 2], [0, 1, (h - 1) / 2], [0, 0, 1.0]])
    return c @ p @ rs


@pytest.mark.parametrize("rot", [0.0, 180.0])
def test_ruler_under_tilt_gives_the_isotropic_scale(rot):
    # scale changes by 6 % from the centre to the right edge; the ruler lies 330 px right of the centre, so
    # its scale along x differs from sqrt|det J| there by 1.6 %: the tick period's trend corrects that
    size = (1200, 900)
    hom = camera_tilt_homography(size, (330, 40), 0.1, rot, (0.06 / 600, 0.0))
    sc = find_scale(blur(with_ruler(skin(*size), hom, length_mm=50), 0.7))
    assert sc.source == "ruler"
    truth = true_scale(hom)
    assert sc.mm_per_px == pytest.approx(truth, rel=0.006)
    assert "tilt" in sc.reason
    assert sc.mm_per_px_uncertainty > 0


def mark_profile(period_samples: float, n_marks: int, half_way: bool) -> np.ndarray:
    """1-D grey profile (light ruler, dark Gaussian marks), optionally with a fainter mark half-way between."""
    x = np.arange(int(period_samples * (n_marks + 2)), dtype=np.float64)
    prof = np.full(len(x), 200.0)
    for i in range(n_marks):
        c = period_samples * (i + 1) + 0.37
        prof -= 80.0 * np.exp(-0.5 * ((x - c) / 2.0) ** 2)
        if half_way and i < n_marks - 1:
            prof -= 40.0 * np.exp(-0.5 * ((x - c - period_samples / 2) / 2.0) ** 2)
    return prof.astype(np.float32)


def test_5_mm_marks_alone_give_their_period():
    from spotscale.inference.scale import _major_fits
    fits = _major_fits(mark_profile(44.0, 13, False), 0.5, 0.0)  # 13 marks, 22 px apart: 60 mm at 4.4 px/mm
    assert fits and fits[0].unit_mm == 5.0 and fits[0].n_ticks == 13
    assert fits[0].period_px == pytest.approx(22.0, rel=0.002)
    # a fainter mark half-way between marks is no 5 mm period: then the marks come every half period
    half = _major_fits(mark_profile(44.0, 13, True), 0.5, 0.0)
    assert all(f.period_px == pytest.approx(11.0, rel=0.01) for f in half)


def test_every_tick_of_a_long_ruler_under_strong_perspective_is_numbered():
    """101 ticks whose spacing grows 46 -> 52 samples end to end (a 100 mm ruler seen obliquely)."""
    from spotscale.inference.scale import _number_ticks
    i = np.arange(101, dtype=np.float64)
    pos = 500.0 + 46.0 * i / (1.0 - 6.1e-4 * i)  # a straight line's ticks under a projective map
    pos += np.random.default_rng(0).normal(0.0, 0.4, len(i))
    idx, keep, coef, sd = _number_ticks(pos, 47.5)
    assert keep.all() and (np.diff(idx) == 1).all()
    assert sd < 0.6


def test_thin_ticks_on_whole_pixels_are_numbered_across_their_pixel_slips(monkeypatch):
    """Dark ticks 3.87 px apart, each peaked on a whole pixel: 4 px apart, then 3 px every ~8 ticks (dev
    6031's ruler slips so). Numbered with tolerances that are fractions of the period alone, no run of
    dark ticks passes; with each tick allowed its half pixel, all 125 are numbered, at the true period."""
    import spotscale.inference.scale as scale_mod
    t = np.arange(0.0, 500.0, 0.5)  # samples of 0.5 px
    ticks = np.round(10.3 + 3.87 * np.arange(125))
    prof = 0.8 - 0.3 * np.exp(-0.5 * ((t[:, None] - ticks[None, :]) / 0.6) ** 2).sum(axis=1)
    prof += np.random.default_rng(0).normal(0.0, 0.01, len(t))
    dark = [f for f in scale_mod._tick_fit(prof, 7.74, 0.5, 0.0) if f.polarity < 0]
    assert len(dark) == 1 and dark[0].n_ticks == 125 and dark[0].period_px == pytest.approx(3.87, rel=1e-3)
    monkeypatch.setattr(scale_mod, "_TICK_PIXEL_OFF_PX", 0.0)
    assert not [f for f in scale_mod._tick_fit(prof, 7.74, 0.5, 0.0) if f.polarity < 0]


def test_watermark_letters_are_not_read_as_slipping_ruler_ticks():
    # clinic dev photo 952022 (640x480, a coin, no ruler): the strokes of its watermark "Dermatology
    # Clinic" were numbered as 17 of 24 mm ticks 3.2 px apart, each allowed its pixel's slip, and read
    # as a ruler at +172 %; the rulers that slip so hold 24+ ticks and 0.79+ of their numbers
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import clinic_render
    photo = clinic_render.render(952_022, reference="sticker")
    assert photo.image.shape == (480, 640, 3)
    assert not find_scale(photo.image, ScaleConfig(order=("ruler",))).found


def test_watermark_letters_are_not_read_as_5_mm_marks():
    # generated dev photo 6201 (no reference): the letters "www.skinatlas.example" at its foot were
    # taken for 7 marks 18 px apart, alternating long and short, and read as a ruler at +86.7 %; each
    # is over half a period wide at half its height, where a ruler's marks are 0.37 at most
    from spotscale.data.synth import render_photo
    from tests.inference.test_segment import jpeg
    photo = render_photo(6201, size=(1200, 900), scale="none")
    assert not find_scale(jpeg(photo.image, 92)).found


@pytest.mark.parametrize("bar_px, wide", [(2, False), (6, False), (11, True)])
def test_mark_width_is_a_share_of_the_period(bar_px, wide):
    from spotscale.inference.scale import _MAX_MARK_WIDTH, _mark_width, _Ticks
    img = np.full((60, 400, 3), 220, np.uint8)
    xs = 20.0 + 20.0 * np.arange(18)
    for x in xs:
        img[20:40, int(x - bar_px / 2):int(x - bar_px / 2) + bar_px] = 40
    ticks = _Ticks(20.0, 0.01, len(xs), xs, np.arange(len(xs)), -1.0, unit_mm=5.0)
    w = _mark_width(img, np.array([0.0, 0.0]), np.array([1.0, 0.0]), np.array([0.0, 1.0]), ticks, (22.0, 38.0))
    assert w == pytest.approx((bar_px + 0.5) / 20.0, abs=0.05) and (w > _MAX_MARK_WIDTH) == wide


def test_inch_scale_is_not_read_as_5_mm_marks():
    # marks every 1/8 inch (1 / 2 / 4 / 8 in the length hierarchy): alternate 1/4 " marks are longer, as a
    # ruler's 10 mm marks are, but a mark sits half-way between them: not a mm ruler
    res, inch = 20.0, 25.4
    body = 4 * inch + 10.0
    art = np.full((int(15 * res), int(body * res)), 235, np.uint8)
    for i in range(33):
        x = int(round((5.0 + i * inch / 8) * res))
        tick = 6.0 if i % 8 == 0 else (4.5 if i % 4 == 0 else (3.5 if i % 2 == 0 else 2.5))
        cv2.rectangle(art, (x - 2, 0), (x + 2, int(tick * res)), 20, -1)
    hom = plane_to_image((1000, 700), (500, 350), 0.2, 10.0)
    off = np.array([[1 / res, 0, -body / 2 - 0.5 / res], [0, 1 / res, -7.5 - 0.5 / res], [0, 0, 1.0]])
    sc = find_scale(blur(paste(skin(1000, 700), art, off, hom), 1.5))
    assert not sc.found or abs(sc.mm_per_px / 0.2 - 1) < 0.015


def test_faint_5_mm_marks_between_strong_10_mm_marks_give_the_5_mm_period():
    # the 10 mm marks correlate far more than the faint 5 mm marks, so the strongest lags are 10 and 20 mm;
    # a fit at 10 mm is refused for its mark half-way, and the half lag then gives the 5 mm period
    x = np.arange(int(44.0 * 12), dtype=np.float64)
    prof = np.full(len(x), 200.0)
    for i in range(11):
        prof -= 80.0 * np.exp(-0.5 * ((x - 44.0 * (i + 0.5) - 0.37) / 2.0) ** 2)
        if i < 10:
            prof -= 35.0 * np.exp(-0.5 * ((x - 44.0 * (i + 1.0) - 0.37) / 2.0) ** 2)
    from spotscale.inference.scale import _autocorr_lags, _major_fits
    assert all(abs(lag / 22.0 - 1) > 0.1 for lag in _autocorr_lags(prof.astype(np.float32), 20.0, 2))
    fits = _major_fits(prof.astype(np.float32), 0.5, 0.0)
    assert fits and fits[0].period_px == pytest.approx(11.0, rel=0.01) and fits[0].n_ticks == 21


def test_5_mm_marks_a_quarter_as_strong_as_the_10_mm_marks_on_a_50_mm_ruler():
    # mm ticks blurred away; a 50 mm ruler has only 6 10-mm marks, fewer than the 7 a fit needs, so the
    # fainter 5 mm marks must count (at 1/4 of the 10 mm marks' depth they were below the peak threshold)
    x = np.arange(int(44.0 * 12), dtype=np.float64)
    prof = np.full(len(x), 200.0)
    for i in range(11):
        depth = 80.0 if i % 2 == 0 else 20.0
        prof -= depth * np.exp(-0.5 * ((x - 44.0 * (i + 0.5) - 0.37) / 2.0) ** 2)
    from spotscale.inference.scale import _major_fits
    fits = _major_fits(prof.astype(np.float32), 0.5, 0.0)
    assert fits and fits[0].period_px == pytest.approx(22.0, rel=0.01) and fits[0].n_ticks == 11


@pytest.mark.parametrize("lengths_px, ruler", [([23, 16] * 5 + [23], True),
                                               ([28, 14, 16, 20, 14, 12, 26, 22, 24, 16, 24], False)],
                         ids=["10-and-5-mm-marks", "stripes-of-random-length"])
def test_5_mm_marks_need_their_10_mm_marks_to_stand_out_of_the_scatter(lengths_px, ruler):
    # the stripes of a cloth cut slantwise by a limb's edge: every other one is 1.3x longer on average
    # by chance, and alike in the 4-mark check, but the scatter within each class is as large (t 1.7):
    # read as 5 / 10 mm marks, they had put a ruler 50 % off before a 25 mm sticker on a dev photo
    from spotscale.inference.scale import _ruler_marks, _Ticks
    img = np.full((200, 400, 3), (200, 150, 125), np.uint8)
    xs = 30.0 + 23.0 * np.arange(len(lengths_px))
    for x, length in zip(xs, lengths_px):
        cv2.line(img, (int(round(x)), 40), (int(round(x)), 40 + length), (60, 40, 40), 2)
    ticks = _Ticks(23.0, 0.01, len(xs), xs, np.arange(len(xs)), -1.0, unit_mm=5.0)
    assert _ruler_marks(img, np.array([0.0, 40.0]), np.array([1.0, 0.0]), np.array([0.0, 1.0]), ticks,
                        (0.0, 20.0)) is ruler


@pytest.mark.parametrize("angle_deg, period_px, staircase", [(11.8, 4.885, True), (11.8, 9.77, True),
                                                             (11.8, 6.0, False), (0.0, 4.885, False)],
                         ids=["stair", "twice-stair", "other-period", "axis-aligned"])
def test_an_edge_staircase_is_not_a_tick_run(monkeypatch, angle_deg, period_px, staircase):
    # a sharp straight edge at angle theta steps one pixel every 1 / sin(theta) px along itself (a marker's
    # border gave "35 mm ticks" at 4.88 px, +165 % off); the ruler-mark check itself is stubbed to pass here
    import spotscale.inference.scale as scale
    monkeypatch.setattr(scale, "_ruler_marks", lambda *a: True)
    u = np.array([math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))])
    ticks = scale._Ticks(period_px, 0.01, 30, np.arange(30) * period_px, np.arange(30), -1.0)
    ok = scale._printed_ticks(np.zeros((10, 10, 3), np.uint8), np.zeros(2), u, np.array([-u[1], u[0]]), ticks,
                              (0.0, 12.0))
    assert ok is not staircase


@pytest.mark.parametrize("rot, tick_grey, mm_per_px", [(-15.5, 120, 0.25), (22.0, 170, 0.3)])
def test_faint_ticks_beside_a_sharp_slanted_edge_are_found_at_full_resolution(rot, tick_grey, mm_per_px):
    # a 1200 px photo is searched at full size, where a white ruler's sharp edge on dark skin steps in a
    # pixel staircase (period 1 / sin(theta) px) more periodic than faint grey ticks: the band of rows
    # picked was the edge, refused as not printed, and the ruler was not found
    body = 110.0
    art = np.full((int(16.0 * 20), int(body * 20)), 235, np.uint8)
    for i in range(101):
        x = int(round((5.0 + i) * 20))
        cv2.rectangle(art, (x - 1, 0), (x + 1, int((5.0 if i % 10 == 0 else 3.5 if i % 5 == 0 else 2.0) * 20)),
                      tick_grey, -1)
    off = np.array([[1 / 20, 0, -body / 2 - 0.5 / 20], [0, 1 / 20, -8.0 - 0.5 / 20], [0, 0, 1.0]])
    dark = (skin(1200, 900).astype(np.float32) * 0.35).astype(np.uint8)
    sc = find_scale(paste(dark, art, off, plane_to_image((1200, 900), (600, 450), mm_per_px, rot)))
    assert sc.source == "ruler" and sc.mm_per_px == pytest.approx(mm_per_px, rel=0.005)


def test_reported_uncertainty_includes_each_reference_kinds_model_error():
    # a fit's own residuals miss what the reference itself gets wrong (its print, a ruler's tilt
    # across it): a clean ruler still reports >= 1 %, a clean marker >= 0.03 %
    hom = plane_to_image((900, 700), (450, 350), 0.08, 37.0)
    ruler = find_scale(blur(with_ruler(skin(900, 700), hom), 0.8))
    assert ruler.source == "ruler" and ruler.mm_per_px_uncertainty >= 0.01 * ruler.mm_per_px
    marker = find_scale(with_marker(skin(800, 600), plane_to_image((800, 600), (400, 300), 0.06, 20.0)))
    assert marker.source == "aruco"
    assert 0.0003 * marker.mm_per_px <= marker.mm_per_px_uncertainty < 0.01 * marker.mm_per_px


def test_blurred_disc_edge_converges_from_a_poor_start():
    # one refinement round from an ellipse 15 % too small stops short of a blurred disc's edge; repeated
    # rounds reach it (a black 8 mm sticker had come out 8 % small)
    from spotscale.inference.scale import _converged_disc, _refine_disc
    img = blur(with_disc(skin(600, 500, seed=2), (300.4, 250.7), 47.0, (25, 25, 28)), 4.0)
    start = ((300.0, 251.0), (80.0, 80.0), 0.0)
    diameter = lambda fit: math.sqrt(fit[0][1][0] * fit[0][1][1])
    assert diameter(_refine_disc(img, start)) < 0.97 * 94.0
    assert diameter(_converged_disc(img, start)) == pytest.approx(94.0, rel=0.006)


def test_marker_crossed_by_a_watermark_word_is_found_and_measured():
    # a generated photo: a yellow "SAMPLE" over the marker's side and bits, blur 1.6 px. The marker
    # was read only at some search scales (not at 1/2), and the letters' steps pulled a side's
    # least-squares line so far (a corner by 26 px) that the marker was refused
    from spotscale.data.synth import render_photo
    photo = render_photo(71022, size=(1600, 1200), scale="aruco")
    sc = find_scale(photo.image)
    assert sc.source == "aruco"
    assert sc.mm_per_px == pytest.approx(photo.meta["mm_per_px"], rel=2e-3)


def test_marker_whose_border_white_letters_cut_is_found_and_measured(monkeypatch):
    # a web copy's white watermark line across the marker's black border and cells (clinic renderer
    # dev 957003 at 1024x768): the detector found no square at either search scale; with the
    # letters' strokes wiped by an opening it does, and the sides are fitted on the photo itself
    import spotscale.inference.scale as scale_mod
    from tests.inference.test_segment import jpeg
    hom = plane_to_image((800, 600), (430, 300), 0.1, 35.0)
    img = with_marker(skin(800, 600), hom)
    over = img.copy()  # drawn as bench_independent's web copies draw theirs: 2 px strokes, blended at 0.6
    cv2.putText(over, "(c) DermAtlas 2019", (240, 250), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (255, 255, 255), 2, cv2.LINE_AA)
    img = jpeg(cv2.addWeighted(over, 0.6, img, 0.4, 0), 85)
    sc = find_scale(img)
    assert sc.source == "aruco"
    assert sc.mm_per_px == pytest.approx(true_scale(hom), rel=3e-3)
    monkeypatch.setattr(scale_mod, "TEXT_STROKE_PX", 1)  # an opening by one px changes nothing
    assert find_scale(img).source != "aruco"


def ruler_photo_scale(seed: int, size: tuple[int, int]):
    """A generated ruler photo (dev seed) as a JPEG q92 would hold it, and the scale found on it."""
    from spotscale.data.synth import render_photo
    from tests.inference.test_segment import jpeg
    photo = render_photo(seed, size=size, scale="ruler")
    return photo, find_scale(jpeg(photo.image, 92))


def test_line_consensus_leaves_out_a_run_of_steps_off_the_line():
    from spotscale.inference.scale import _line_consensus
    t = np.arange(60, dtype=float)
    pts = np.stack([t, 0.3 * t + 5 + 0.1 * np.sin(t)], 1)
    pts[10:34, 1] += np.linspace(3, 9, 24)  # 40 % of the side on a letter
    keep = _line_consensus(pts, 1.0)
    assert not keep[10:34].any() and keep[:10].all() and keep[34:].all()


def grey_paper_margin_mm(margin_cells=0.5, side_mm=20.0, res=20.0) -> float:
    """Width (mm) of the paper that with_grey_paper leaves round the black square."""
    return int(round(int(round(side_mm * res)) / 6 * margin_cells)) / res


def with_grey_paper(img, hom, paper=150, margin_cells=0.5, side_mm=20.0, res=20.0):
    """A marker printed on grey paper (its white cells grey too) with a narrow margin, at the plane origin."""
    side_px = int(round(side_mm * res))
    pad = int(round(grey_paper_margin_mm(margin_cells, side_mm, res) * res))
    art = cv2.aruco.generateImageMarker(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), 7, side_px)
    art = cv2.copyMakeBorder(np.where(art > 127, paper, 12).astype(np.uint8), pad, pad, pad, pad,
                             cv2.BORDER_CONSTANT, value=paper)
    off = (pad - 0.5) / res + side_mm / 2
    return paste(img, art, np.array([[1 / res, 0, -off], [0, 1 / res, -off], [0, 0, 1.0]]), hom)


@pytest.mark.parametrize("margin_cells", [0.3, 0.5, 0.7])
@pytest.mark.parametrize("inside_cells", [0.0, 0.3])
def test_marker_on_grey_paper_on_brighter_skin_is_fitted_to_its_black_edge(margin_cells, inside_cells):
    # the paper's own edge onto brighter skin is a dark-to-light step too; taken as the outermost
    # step, it moved the corners 17-39 px out (a clinic-style photo: a marker 35 px too large, refused)
    from spotscale.inference.scale import _refine_quad
    hom = plane_to_image((900, 700), (430, 360), 0.07, 20.0, (0.08, -0.05))
    img = blur(with_grey_paper(np.full((700, 900, 3), (245, 238, 232), np.uint8), hom, margin_cells=margin_cells), 1.0)
    true = cv2.perspectiveTransform(np.array([[[-10, -10]], [[10, -10]], [[10, 10]], [[-10, 10]]], np.float64),
                                    hom).reshape(4, 2)
    start = true.mean(axis=0) + (true - true.mean(axis=0)) * (1 - inside_cells / 3)  # the detector's, inside
    quad, _ = _refine_quad(img, start)
    assert np.abs(quad - true).max() < 0.1


@pytest.mark.parametrize("gamma", [0.7, 1.4])
def test_marker_under_a_tone_curve_is_measured_from_its_cell_pitch(gamma, monkeypatch):
    # a tone curve the sRGB formula does not undo moves every 50 % crossing of a blurred edge into the
    # black or the white: the side alone came out 0.6 % off; the border's width tells by how much
    import spotscale.inference.scale as scale_mod
    hom = plane_to_image((900, 700), (430, 360), 0.07, 20.0, (0.08, -0.05))
    img = blur(with_marker(skin(900, 700), hom), 3.0)
    img = np.clip(np.round((img / 255.0) ** gamma * 255), 0, 255).astype(np.uint8)
    assert find_scale(img).mm_per_px == pytest.approx(true_scale(hom), rel=2e-3)
    monkeypatch.setattr(scale_mod, "_tone_corrected", lambda image, quad, sigma, cells: (quad, sigma))
    assert abs(find_scale(img).mm_per_px / true_scale(hom) - 1) > 4e-3


def test_marker_in_linear_tone_is_left_as_fitted():
    from spotscale.inference.scale import _marker_cells, _tone_corrected
    hom = plane_to_image((900, 700), (430, 360), 0.07, 20.0, (0.08, -0.05))
    img = blur(with_marker(skin(900, 700), hom), 2.0)
    true = cv2.perspectiveTransform(np.array([[[-10, -10]], [[10, -10]], [[10, 10]], [[-10, 10]]], np.float64),
                                    hom).reshape(4, 2)
    cells = _marker_cells(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), 7)
    assert cells[0].sum() == 0 and cells[1:5, 1:5].any()  # a black border around white bits
    quad, sigma = _tone_corrected(img, true, 0.05, cells)
    assert np.array_equal(quad, true) and sigma == 0.05


def test_tick_hierarchy_must_stand_out_of_the_ticks_scatter():
    from spotscale.inference.scale import MIN_HIERARCHY_T, _hierarchy_t
    # "tick" lengths of a bed sheet's stripes cut slantwise by a limb (a clinic-style photo without a
    # reference): one class of five is 1.36x the rest by chance, which passed for a ruler's 5 mm ticks
    idx = np.r_[-1:4, 5:23]
    sheet = np.array([40, 30, 30, 32, 49, 42, 40, 39, 34, 24, 19, 30, 33, 40, 30, 32, 19, 20, 26, 13, 10, 19, 21.0])
    top = int(np.argmax([sheet[idx % 5 == r].mean() for r in range(5)]))
    assert _hierarchy_t(sheet, idx % 5, top) < MIN_HIERARCHY_T
    ruler = np.where(idx % 5 == 0, 16.0, 9.0) + np.random.default_rng(0).normal(0, 1.5, len(idx))
    assert _hierarchy_t(ruler, idx % 5, 0) > 3 * MIN_HIERARCHY_T


def test_striped_sheet_beside_a_limb_is_not_a_ruler(tmp_path):
    from spotscale.inference.pipeline import AnalysisConfig, analyze_photo
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import clinic_render
    photo = clinic_render.render(950_033)  # as bench_independent renders it
    assert photo.reference == "none" and photo.image.shape == (1200, 1600, 3)
    path = tmp_path / "sheet.jpg"
    path.write_bytes(photo.jpeg)
    assert not analyze_photo(path, AnalysisConfig(), None).scale.found


def test_disc_refit_from_a_start_20_percent_too_large():
    # a bright yellow sticker on dark skin, found on a coarse copy 15-20 % too large: its edge lay at the
    # end of the narrow radial profiles, too little contrast crossed them, and it was not found
    from spotscale.inference.scale import _converged_disc
    img = blur(with_disc(np.full((240, 300, 3), (70, 45, 35), np.uint8), (150.0, 120.0), 32.0, (235, 200, 40)), 1.5)
    fit = _converged_disc(img, ((150.0, 120.0), (78.0, 78.0), 0.0))
    assert fit is not None
    (cx, cy), (a, b), _ = fit[0]
    assert math.sqrt(a * b) == pytest.approx(64.0, abs=0.5) and math.hypot(cx - 150, cy - 120) < 0.3


@pytest.mark.parametrize("rot, interp, found", [(0.0, cv2.INTER_NEAREST, True), (3.0, cv2.INTER_NEAREST, True),
                                                (0.0, cv2.INTER_LINEAR, False)])
def test_ticks_aliased_by_a_naive_downscale_are_not_read_every_other_one(rot, interp, found):
    # a photo shrunk 3x without smoothing (nearest or 2-tap linear, as some web tools do) keeps mm ticks
    # 3.5 px apart alternately deep and faint or gone: the profile repeats every 2 mm, and a fit every
    # other tick passed the 5 / 10 mm check too (10 mm = 5 x 2 mm), giving half the scale
    mm_per_px, k = 1 / 3.5, 3
    hom = plane_to_image((700 * k, 450 * k), (350 * k, 225 * k), mm_per_px / k, rot)
    big = with_ruler(skin(700 * k, 450 * k), hom, length_mm=80, width_mm=14.0)
    sc = find_scale(cv2.resize(big, (700, 450), interpolation=interp))
    if found:
        assert sc.source == "ruler" and sc.mm_per_px == pytest.approx(mm_per_px, rel=0.005)
    else:  # the 5 mm marks fell between samples with the odd ticks: no way to tell 1 from 2 mm ticks
        assert not sc.found or sc.mm_per_px == pytest.approx(mm_per_px, rel=0.01)


@pytest.mark.parametrize("long_px, alternate", [
    ([17, 22, 18, 24, 18, 24, 17, 20, 17, 15, 14], True),  # a web copy's 5 / 10 mm marks, shortening far off
    ([8] * 8, False),  # every long tick alike: the 10 mm marks of a 2 mm fit (5 mm marks aliased away)
    ([9, 8, 9, 8], True),  # fewer than 3 triples: not judged
])
def test_long_ticks_must_alternate_5_and_10_mm_marks(long_px, alternate):
    # long ticks are every 5th; a trend along the ruler (the band drifting off it) must not hide the
    # alternation: compared by class means (within 15 %), the first ruler was refused
    from spotscale.inference.scale import _marks_alternate
    index = np.arange(4, 4 + 5 * len(long_px), 5)
    assert _marks_alternate(np.array(long_px, float), index, 4) is alternate


def test_a_blurred_rulers_side_is_found_at_half_size():
    # Canny's thresholds miss an edge blurred over sigma 2.3 px (a dev photo's 150 mm ruler had no
    # edge line and no scale); at half size its gradient doubles and the side is found
    from spotscale.inference.scale import _edge_lines, _gray
    img = skin(1200, 900)
    body = cv2.boxPoints(((600.0, 450.0), (700.0, 90.0), 50.0)).astype(np.int32)  # 700 x 90 px, 50 degrees
    cv2.fillPoly(img, [body], (235, 185, 160))  # 35 grey levels lighter than the skin
    img = cv2.GaussianBlur(img, (0, 0), 2.3)
    d = np.array([math.cos(math.radians(50)), math.sin(math.radians(50))])
    off = [abs(float(d[0] * (450.0 - s[1]) - d[1] * (600.0 - s[0]))) for s in _edge_lines(_gray(img), img)
           if abs(float(np.dot(d, (s[2:] - s[:2]) / np.linalg.norm(s[2:] - s[:2])))) > 0.999]
    assert any(abs(o - 45.0) < 3.0 for o in off)  # a long side, 45 px from the body's axis


# Generated ruler photos (dev seeds, JPEG q92) that each once had no scale: (seed, size, read from the
# 5 / 10 mm marks alone, relative tolerance)
RULER_PHOTOS = {
    # thin grey ticks 3.63 px apart, sharp: their peaks fall on whole pixels, so the gaps are 3 or 4 px;
    # the commonest gap (4.0 px) numbered them wrongly, while the autocorrelation's period was 3.62 px
    "mm_ticks_under_4_px_by_their_sub_pixel_period": (6044, (1200, 900), False, 0.01),
    # 640x480: mm ticks 2.6 px apart are gone; the 5 / 10 mm marks 12.9 px apart, on whole pixels and
    # moved by JPEG, scatter by 0.58 px: over 4 % of their period
    "5_mm_marks_13_px_apart_scattered_by_whole_pixels": (6141, (640, 480), True, 0.015),
    # ticks 3.87 px apart: the commonest gap, 4.0 px, is 3.5 % off, and a fit numbered from it keeps
    # only a dozen ticks; the autocorrelation's period (3.86 px) was tried only when 5 % off
    "mm_ticks_3_9_px_apart_by_their_sub_pixel_period": (6031, (1200, 900), False, 0.01),
    # a clear 150 mm ruler at 50 degrees, blur sigma 2.3 px: its sides are found only at half size
    "blurred_rulers_sides_at_half_size": (6050, (1200, 900), False, 0.015),
    # a yellow ruler, blur sigma 2.3 px: mm ticks 5.4 px apart merge into a grey band whose rows show
    # no period; the longer 5 / 10 mm marks stand alone in the rows past it
    "5_mm_marks_beside_merged_mm_ticks": (6047, (1200, 900), True, 0.015),
}


# Known defects: case of RULER_PHOTOS -> what goes wrong, each kept failing here until fixed (strict xfail:
# the mark goes once the photo is read again). None at present. 6031 was one from cb1f29d (denser
# petechiae) on: its band of ticks was found, but no tick fit passed: its thin ticks peak on whole pixels
# and slip by one every ~10 mm, which broke the chain of peaks one period apart (+-20 %) that seeds
# _number_ticks; read since such slips are allowed where no fit passes without (_TICK_PIXEL_OFF_PX).
# 6180, which changed the same way, is test_10_mm_marks_are_not_read_as_5_mm_marks'
RULER_DEFECTS: dict[str, str] = {}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=RULER_DEFECTS[c]))
                                  if c in RULER_DEFECTS else c for c in sorted(RULER_PHOTOS)])
def test_generated_ruler_photo_is_read(case):
    seed, size, marks_only, rel = RULER_PHOTOS[case]
    photo, sc = ruler_photo_scale(seed, size)
    assert sc.source == "ruler" and ("5 / 10 mm marks" in sc.reason) == marks_only
    assert sc.mm_per_px == pytest.approx(photo.meta["mm_per_px"], rel=rel)


@pytest.mark.parametrize("rot", [0.0, -65.0])
def test_5_mm_marks_of_a_blurred_ruler_whose_ends_step_through_the_rows_are_read(rot):
    # blur sigma 2.3 px wipes out mm ticks 5.6 px apart; the rows past them hold the 5 / 10 mm marks,
    # but also the steps at the ruler's ends: a running mean left those in the detrended profile, where
    # they set the peak threshold above the fainter 5 mm marks; and the end marks, next to the
    # ruler's ends, reached further across than the other 10 mm marks
    hom = plane_to_image((1200, 900), (600, 450), 0.18, rot)
    sc = find_scale(blur(with_ruler(skin(1200, 900), hom, length_mm=60), 2.3))
    assert sc.source == "ruler" and "5 / 10 mm marks" in sc.reason
    assert sc.mm_per_px == pytest.approx(0.18, rel=0.01)


def test_marks_of_a_ruler_whose_tick_band_was_found_past_its_end_are_read_along_its_edge():
    # a generated 1200x900 photo (dev seed): a yellow ruler with faint ticks; the line along its edge
    # was right, but the stretch of it with the most periodic rows lay in the skin past the ruler's
    # end, so the rows beside the band held no marks. Read along the edge's own stretch, in narrow
    # windows of rows, its 5 / 10 mm marks give the scale
    photo, sc = ruler_photo_scale(5100007, (1200, 900))
    assert sc.source == "ruler" and "5 / 10 mm marks" in sc.reason
    assert sc.mm_per_px == pytest.approx(photo.meta["mm_per_px"], rel=0.03)


@pytest.mark.parametrize("seed", [6198, 6180])
def test_10_mm_marks_are_not_read_as_5_mm_marks(seed):
    # generated 640x480 photos (dev seeds) read at -49.9 % and -50.5 %: 6198's rows past the 5 mm marks'
    # length hold only the 10 mm marks, which alternate with the numbers; 6180's 5 mm marks are 7.4 px
    # apart, under the 10 px marks need, and its 10 mm marks passed for 5 mm marks. A fit with marks
    # half-way between its marks, above the mm ticks' level there, is now refused: 6180's fit came from
    # the rows beside its tick band, which were asked only about their own side of the band until the
    # petechiae of cb1f29d moved its edges by a few px; they are now asked about both sides (no scale)
    photo, sc = ruler_photo_scale(seed, (640, 480))
    assert not sc.found or sc.mm_per_px == pytest.approx(photo.meta["mm_per_px"], rel=0.05)



def test_every_third_5_mm_mark_is_not_read_as_5_mm_marks():
    # generated 640x480 dev photo 8011: a forearm at 0.55 mm per px, its 5 mm marks 9 px apart (under
    # the 10 px a period of marks needs) were fitted every third mark, 27 px apart, and read as 5 mm
    # marks (-66.5 %, on the photo as rendered; its JPEG q92 copy happens not to be fitted so); the
    # marks a third and two thirds of the way between them now refuse that fit
    from spotscale.data.synth import render_photo
    photo = render_photo(8011, size=(640, 480), scale="ruler")
    sc = find_scale(photo.image)
    assert not sc.found or sc.mm_per_px == pytest.approx(photo.meta["mm_per_px"], rel=0.05)

def with_ellipse(img, centre, axes_px, angle_deg, rgb):
    """Draw an anti-aliased filled ellipse (semi-axes axes_px, rotated angle_deg) in linear light."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h * SS, 0:w * SS]
    dx, dy = (xx - (SS - 1) / 2) / SS - centre[0], (yy - (SS - 1) / 2) / SS - centre[1]
    a = math.radians(angle_deg)
    u, v = dx * math.cos(a) + dy * math.sin(a), -dx * math.sin(a) + dy * math.cos(a)
    cov = cv2.resize(((u / axes_px[0]) ** 2 + (v / axes_px[1]) ** 2 <= 1).astype(np.float32), (w, h),
                     interpolation=cv2.INTER_AREA)
    col = to_linear(np.array(rgb, np.uint8).reshape(1, 1, 3))
    return to_srgb(to_linear(img) * (1 - cov[..., None]) + col * cov[..., None])


@pytest.mark.parametrize("centre, axes, angle", [
    ((770.0, 300.4), (95.0, 95.0), 0.0),    # half of it in frame, at the right border
    ((745.3, 590.0), (95.0, 95.0), 0.0),    # a corner's worth more: 60 % in frame, at the bottom
    ((30.2, 250.6), (100.0, 88.0), 30.0),   # tilted (an ellipse), at the left border
], ids=["half-right", "bottom", "tilted-left"])
def test_sticker_cut_by_the_border_is_measured_from_its_rim_in_frame(centre, axes, angle):
    img = blur(with_ellipse(skin(800, 600), centre, axes, angle, (30, 90, 210)), 1.0)
    sc = find_scale(img, ScaleConfig(sticker_diameter_mm=15.0, sticker_color="blue"))
    assert sc.source == "sticker" and PARTIAL_MARKER_NOTE in sc.reason
    truth = 15.0 / (2 * math.sqrt(axes[0] * axes[1]))
    assert sc.mm_per_px == pytest.approx(truth, rel=0.01)
    assert abs(sc.mm_per_px / truth - 1) <= 2 * sc.mm_per_px_uncertainty / sc.mm_per_px + 0.002
    mask = reference_mask(sc, (600, 800))
    inside = (int(min(799, centre[0])), int(min(599, centre[1])))
    assert mask[inside[1], inside[0]]



@pytest.mark.parametrize("sigma", [1.0, 2.5])
def test_blur_at_a_stickers_rim_cut_by_the_border_is_measured_on_its_part_in_frame(sigma):
    # as at a marker cut by the frame (9afa35f): without it a blurred photo's small spots are not deblurred
    img = blur(with_ellipse(skin(800, 600), (770.0, 300.4), (95.0, 95.0), 0.0, (30, 90, 210)), sigma)
    sc = find_scale(img, ScaleConfig(sticker_diameter_mm=15.0, sticker_color="blue"))
    assert sc.source == "sticker" and PARTIAL_MARKER_NOTE in sc.reason
    assert sc.blur_px == pytest.approx(sigma, abs=0.3)
    assert f"blur at its rim {sc.blur_px:.1f} px" in sc.reason

def test_sticker_cut_by_the_border_is_not_used_without_its_colour_or_when_small():
    img = blur(with_disc(skin(800, 600), (770.0, 300.4), 95.0, (30, 90, 210)), 1.0)
    assert not find_scale(img, ScaleConfig(sticker_diameter_mm=15.0)).found  # any round thing cut by the border
    small = blur(with_disc(skin(800, 600), (790.0, 300.4), 20.0, (30, 90, 210)), 1.0)  # 40 px across
    assert not find_scale(small, ScaleConfig(sticker_diameter_mm=15.0, sticker_color="blue")).found


def test_cut_sticker_beats_a_small_dot_of_its_colour_but_not_a_whole_sticker_of_its_size():
    dot = with_disc(skin(800, 600), (300.3, 310.7), 14.0, (25, 25, 28))  # a dark round mole, 28 px
    img = blur(with_disc(dot, (770.0, 300.4), 95.0, (25, 25, 28)), 1.0)  # a black sticker, half in frame
    sc = find_scale(img, ScaleConfig(sticker_diameter_mm=15.0, sticker_color="black"))
    assert PARTIAL_MARKER_NOTE in sc.reason and sc.mm_per_px == pytest.approx(15.0 / 190.0, rel=0.01)
    whole = blur(with_disc(with_disc(skin(800, 600), (300.3, 310.7), 90.0, (30, 90, 210)),
                           (770.0, 300.4), 95.0, (30, 90, 210)), 1.0)
    sc = find_scale(whole, ScaleConfig(sticker_diameter_mm=15.0, sticker_color="blue"))
    assert PARTIAL_MARKER_NOTE not in sc.reason and sc.mm_per_px == pytest.approx(15.0 / 180.0, rel=0.01)


def test_cut_blob_of_the_stickers_colour_that_is_not_round_or_is_a_printed_stickers_inner_disc_is_not_used():
    cloth = skin(800, 600)
    cloth[100:400, 700:] = (30, 90, 210)  # a blue sleeve at the border
    assert not find_scale(blur(cloth, 1.0), ScaleConfig(sticker_diameter_mm=15.0, sticker_color="blue")).found
    # a white sticker printed with a dark ring whose outer band is broken by a hair: its inner disc
    # is not the sticker (that gave 45 % on dev 3305004); measured right, or not at all
    img = with_disc(skin(800, 600), (770.0, 300.4), 95.0, (235, 235, 235))
    cv2.circle(img, (770, 300), 66, (40, 40, 40), 6, cv2.LINE_AA)
    cv2.line(img, (690, 180), (720, 420), (60, 40, 30), 4, cv2.LINE_AA)
    sc = find_scale(blur(img, 1.0), ScaleConfig(sticker_diameter_mm=15.0, sticker_color="white"))
    assert not sc.found or sc.mm_per_px == pytest.approx(15.0 / 190.0, rel=0.015)


def test_a_purpura_is_not_taken_for_a_red_sticker_but_a_red_sticker_is_found():
    """With a red sticker configured and none in the photo, a round purpura (mottled inside, its rim
    fading over a quarter of its radius: taken for one before) is no sticker; a plain crisp red disc is."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:600, 0:800].astype(np.float32)
    r = np.hypot(xx - 400.3, yy - 300.6)
    mottle = cv2.GaussianBlur(rng.normal(0, 1, (600, 800)).astype(np.float32), (0, 0), 6)
    cover = np.clip(1.0 - (r - 45) / 16.0, 0, 1) * np.clip(0.8 + 0.2 * mottle / mottle.std(), 0, 1)
    od = np.log(to_linear(np.array([[[200, 150, 125]]], np.uint8)) / to_linear(np.array([[[150, 30, 50]]], np.uint8)))
    purpura = to_srgb(to_linear(skin(800, 600)) * np.exp(-cover[..., None] * od))
    cfg = ScaleConfig(order=("sticker",), sticker_diameter_mm=15.0, sticker_color="red")
    assert not find_scale(purpura, cfg).found
    sticker = blur(with_disc(skin(800, 600), (400.3, 300.6), 55.0, (200, 30, 40)), 1.0)
    sc = find_scale(sticker, cfg)
    assert sc.source == "sticker" and sc.mm_per_px == pytest.approx(15.0 / 110.0, rel=0.01)


@pytest.mark.parametrize("radius, sigma, ring", [(18.0, 1.5, False), (32.0, 0.8, True)], ids=["small-blurred", "printed"])
def test_black_sticker_small_and_blurred_or_printed_with_a_light_ring_is_no_lesion(radius, sigma, ring):
    """The lesion test must not refuse a black sticker whose rim a blur widens to a fifth of its
    radius, nor one whose light printed ring makes it rough inside (dev 3800002, 3900005)."""
    img = with_disc(skin(800, 600, seed=3), (400.3, 300.6), radius, (25, 25, 28))
    if ring:
        cv2.circle(img, (400, 301), int(0.7 * radius), (150, 150, 150), 3, cv2.LINE_AA)
        cv2.circle(img, (400, 301), 3, (150, 150, 150), -1, cv2.LINE_AA)
    sc = find_scale(blur(img, sigma), ScaleConfig(order=("sticker",), sticker_diameter_mm=8.0, sticker_color="black"))
    assert sc.source == "sticker" and sc.mm_per_px == pytest.approx(8.0 / (2 * radius), rel=0.02)


def _far_corner_scale_errors(seeds: range) -> np.ndarray:
    """Relative error of the local mm per px at the far corner of a 1600 x 1200 photo whose 20 mm
    marker (67 px, tilted) sits near the opposite corner, blurred and noisy, one per seed."""
    errs = []
    for seed in seeds:
        hom = plane_to_image((1600, 1200), (300, 300), 0.3, 17.0 + seed, (0.15, 0.1))
        img = blur(with_marker(skin(1600, 1200, seed), hom), 1.2)
        img = np.clip(img + np.random.default_rng(seed).normal(0, 3, img.shape), 0, 255).astype(np.uint8)
        inv = np.linalg.inv(hom)
        w = inv[2, 0] * 1500 + inv[2, 1] * 1100 + inv[2, 2]
        errs.append(plane_mm_per_px(find_scale(img), 1500, 1100) / math.sqrt(abs(np.linalg.det(inv) / w ** 3)) - 1)
    return np.array(errs)


def test_a_small_markers_perspective_is_fitted_on_its_whole_square(monkeypatch):
    # a marker's perspective is extrapolated over the whole photo: fitted side by side, a 67 px
    # marker put the far corner's scale 4.1 % off (rms of 8 seeds), fitted as one square 1.5 %
    import spotscale.inference.scale as scale_mod
    seeds = range(8)
    assert np.sqrt(np.mean(_far_corner_scale_errors(seeds) ** 2)) < 0.025
    monkeypatch.setattr(scale_mod, "_square_fitted", lambda image, quad, sigma: (quad, sigma))
    assert np.sqrt(np.mean(_far_corner_scale_errors(seeds) ** 2)) > 0.025


def _marker_scale_at(centre_px, side_px: float, rel0: float = 0.002, tilt=(0.1, 0.05)):
    """A Scale as find_scale reports a 20 mm marker of about `side_px` at `centre_px` (1600 x 1200 photo)."""
    from spotscale.data.types import Scale
    hom = plane_to_image((1600, 1200), centre_px, 20.0 / side_px, 10.0, tilt)
    corners = cv2.perspectiveTransform(np.array([[[-10, -10]], [[10, -10]], [[10, 10]], [[-10, 10]]], np.float64),
                                       hom).reshape(4, 2)
    inv = np.linalg.inv(hom)
    return Scale(true_scale(hom), rel0 * true_scale(hom), "aruco", homography=tuple(map(tuple, inv / inv[2, 2])),
                 reference_points=tuple(map(tuple, corners)))


def test_local_scale_uncertainty_grows_away_from_a_marker_and_more_for_a_small_one():
    from spotscale.inference.scale import local_scale_rel_sd
    small, large = _marker_scale_at((300, 300), 60), _marker_scale_at((300, 300), 240)
    near, far = (320, 320), (1500, 1100)
    assert local_scale_rel_sd(small, *near) == pytest.approx(0.002, rel=0.6)  # the marker's own, there
    assert local_scale_rel_sd(small, *far) > 5 * local_scale_rel_sd(small, *near)
    assert local_scale_rel_sd(small, *far) > 3 * local_scale_rel_sd(large, *far)
    xs, ys = np.array([320.0, 1500.0]), np.array([320.0, 1100.0])
    assert local_scale_rel_sd(small, xs, ys) == pytest.approx([local_scale_rel_sd(small, *near),
                                                               local_scale_rel_sd(small, *far)])


def test_local_scale_uncertainty_of_a_ruler_grows_with_the_unseen_tilt_a_manual_one_does_not():
    from spotscale.data.types import Scale
    from spotscale.inference.scale import PERSPECTIVE_FOCAL_PER_SIDE, PERSPECTIVE_TILT_SD_DEG, local_scale_rel_sd
    ruler = Scale(0.1, 0.001, "ruler", outline=((100, 100), (500, 100), (500, 160), (100, 160)))
    grad = 1.5 * math.tan(math.radians(PERSPECTIVE_TILT_SD_DEG)) / (PERSPECTIVE_FOCAL_PER_SIDE * 1600)
    assert local_scale_rel_sd(ruler, 300, 130, (1200, 1600)) == pytest.approx(0.01)
    assert local_scale_rel_sd(ruler, 300, 1130, (1200, 1600)) == pytest.approx(math.hypot(0.01, 1000 * grad))
    assert 0.05 < 1000 * grad < 0.3  # 6 deg at 0.75 x the long side: ~13 % at 1000 px of 1600
    manual = Scale(0.1, 0.0, "manual")
    assert local_scale_rel_sd(manual, 1500, 1100, (1200, 1600)) == 0.0
    assert local_scale_rel_sd(Scale(None), 10, 10) is None


@pytest.mark.parametrize("seed", [5005, 5009, 5010])
def test_a_rulers_tick_trend_carries_its_tilt_across_the_photo(seed):
    # the tick period's trend along a tilted ruler is the tilt along it: the scale changes that way across
    # the photo too (one scale everywhere was 6.2 % rms off over dev photo 5010, 1.2 % with the trend)
    from spotscale.data.synth import render_photo
    from spotscale.data.synth_geometry import jacobian_scale
    photo = render_photo(seed, size=(1200, 900), scale="ruler")
    sc = find_scale(photo.image)
    assert sc.source == "ruler" and sc.homography is not None
    hom = np.array(photo.meta["image_to_plane"])
    pts = [(x, y) for x in np.linspace(60, 1140, 5) for y in np.linspace(45, 855, 4)]
    true = np.array([jacobian_scale(hom, x, y) for x, y in pts])
    with_trend = np.array([plane_mm_per_px(sc, x, y) for x, y in pts]) / true - 1
    one_scale = sc.mm_per_px / true - 1
    assert np.sqrt(np.mean(with_trend ** 2)) < 0.6 * np.sqrt(np.mean(one_scale ** 2))
