"""Measurement: Feret diameters, areas and colours on shapes whose answer is known from geometry."""
from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest

from spotscale.data.types import Candidate, Scale
from spotscale.inference.measure import feret_diameters, measure, polygon_area, skin_area_cm2, to_plane_mm
from spotscale.inference.segment import SegmentConfig, segment
from tests.inference.test_segment import disc, finish, skin

MMPP = 0.05


def one_spot(img, scale):
    seg = segment(img, mm_per_px=scale.mm_per_px)
    spots = measure(img, seg.candidates, scale)
    assert len(spots) == 1
    return spots[0]


def test_feret_of_square_and_segment():
    sq = np.array([[0, 0], [16, 0], [16, 16], [0, 16]], float)
    dmax, dmin = feret_diameters(sq)
    assert dmax == pytest.approx(16 * math.sqrt(2))
    assert dmin == pytest.approx(16)
    assert polygon_area(sq) == pytest.approx(256)
    assert feret_diameters(np.array([[0, 0], [3, 4]], float)) == (pytest.approx(5), 0.0)


def test_disc_of_known_radius_at_known_scale():
    img = skin(seed=2)
    disc(img, 240.4, 170.2, 15.0)  # 1.5 mm diameter at 0.05 mm/px
    s = one_spot(finish(img), Scale(mm_per_px=MMPP, mm_per_px_uncertainty=MMPP * 0.001, source="manual"))
    assert abs(s.diameter_mm - 1.5) < 0.05
    assert abs(s.minor_mm - 1.5) < 0.05
    assert abs(s.eq_diameter_mm - 1.5) < 0.03
    assert s.area_mm2 == pytest.approx(math.pi * 0.75 ** 2, rel=0.04)
    assert (s.x, s.y) == (pytest.approx(240.4, abs=0.2), pytest.approx(170.2, abs=0.2))
    assert 0 < s.diameter_uncertainty_mm < 0.1
    assert s.spot_id == 1
    assert 3 <= len(s.contour) <= 64
    assert s.lab[1] > s.skin_lab[1] + 10  # spot is redder (a*) than the skin around it
    assert s.lab[0] < s.skin_lab[0]


def test_small_disc_size_within_a_pixel():
    img = skin(seed=4, gradient=False)
    disc(img, 100.5, 100.5, 4.0)  # 0.4 mm
    s = one_spot(finish(img), Scale(mm_per_px=MMPP))
    assert abs(s.diameter_mm - 0.4) < 0.05


def test_ellipse_feret_is_major_axis():
    img = skin(seed=6)
    disc(img, 240, 180, None, axes=(40, 15), angle=math.radians(30))
    s = one_spot(finish(img), Scale(mm_per_px=MMPP))
    assert s.diameter_mm == pytest.approx(80 * MMPP, abs=0.06)
    assert s.minor_mm == pytest.approx(30 * MMPP, abs=0.06)
    assert s.diameter_px == pytest.approx(80, abs=1.2)


def test_tilted_plane_measured_through_homography():
    # skin plane rendered at 20 px/mm holds a 3 mm disc; the camera sees it tilted (a homography)
    plane = skin(w=400, h=400, seed=8, gradient=False)
    disc(plane, 200, 200, 30.0)
    src = np.float32([[0, 0], [400, 0], [400, 400], [0, 400]])
    dst = np.float32([[40, 20], [420, 60], [400, 330], [70, 300]])
    img_from_plane = cv2.getPerspectiveTransform(src, dst)
    img = cv2.warpPerspective(finish(plane), img_from_plane, (480, 360), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)
    plane_mm_from_img = np.diag([MMPP, MMPP, 1.0]) @ np.linalg.inv(img_from_plane)
    H = plane_mm_from_img / plane_mm_from_img[2, 2]
    scale = Scale(mm_per_px=MMPP, homography=tuple(map(tuple, H)), source="aruco")
    corner = to_plane_mm(np.array([[40.0, 20.0]]), scale)[0]
    assert corner == pytest.approx([0.0, 0.0], abs=1e-6)
    s = one_spot(img, scale)
    assert s.diameter_mm == pytest.approx(3.0, abs=0.06)
    assert s.minor_mm == pytest.approx(3.0, abs=0.08)
    assert s.area_mm2 == pytest.approx(math.pi * 1.5 ** 2, rel=0.05)
    assert s.diameter_px != pytest.approx(s.diameter_mm / MMPP, abs=3)  # pixels are foreshortened


def test_no_scale_leaves_mm_empty_and_px_filled():
    img = skin(seed=10)
    disc(img, 200, 150, 10)
    im = finish(img)
    seg = segment(im)
    (s,) = measure(im, seg.candidates, Scale(mm_per_px=None, reason="no reference found"))
    assert s.diameter_mm is None and s.area_mm2 is None and s.minor_mm is None
    assert s.eq_diameter_mm is None and s.diameter_uncertainty_mm is None
    assert s.diameter_px == pytest.approx(20, abs=0.7)
    assert s.area_px == pytest.approx(math.pi * 100, rel=0.05)
    assert skin_area_cm2(seg, Scale(mm_per_px=None)) is None


def test_plain_candidate_measured_from_its_mask():
    mask = np.zeros((21, 21), bool)
    yy, xx = np.mgrid[0:21, 0:21]
    mask[np.hypot(xx - 10, yy - 10) <= 8] = True
    img = finish(skin(w=100, h=100))
    (s,) = measure(img, [Candidate(bbox=(30, 40, 21, 21), mask=mask)], Scale(mm_per_px=0.1))
    assert (s.x, s.y) == (pytest.approx(40), pytest.approx(50))
    assert s.diameter_mm == pytest.approx(1.7, abs=0.1)


def test_skin_area_cm2():
    im = finish(skin(w=800, h=600, gradient=False))
    seg = segment(im, config=SegmentConfig(work_max_side=400))
    assert skin_area_cm2(seg, Scale(mm_per_px=0.1)) == pytest.approx(80 * 60 / 100, rel=0.01)
    H = ((0.2, 0.0, 0.0), (0.0, 0.2, 0.0), (0.0, 0.0, 1.0))
    assert skin_area_cm2(seg, Scale(mm_per_px=0.2, homography=H)) == pytest.approx(160 * 120 / 100, rel=0.01)


def test_batched_ferets_equal_one_at_a_time():
    from spotscale.inference.measure import _ferets
    rng = np.random.default_rng(3)
    sets = [rng.normal(0, s, (n, 2)) for n, s in ((3, 5.0), (40, 2.0), (7, 30.0), (100, 9.0))] * 10
    sets += [np.array([[0.0, 0], [16, 0], [16, 16], [0, 16]]),  # square: 16 sqrt 2 and 16
             np.array([[0.0, 0], [3, 4]]), np.array([[0.0, 0], [1, 1], [2, 2]]), np.array([[5.0, 5]])]
    dmax, dmin = _ferets(sets)
    for pts, a, b in zip(sets, dmax, dmin):
        assert (a, b) == feret_diameters(pts)
    assert (dmax[-4], dmin[-4]) == (pytest.approx(16 * math.sqrt(2)), pytest.approx(16))
    assert (dmax[-3], dmin[-3]) == (pytest.approx(5), 0.0) and dmin[-2] == 0.0 and dmax[-1] == 0.0


def test_a_spot_whose_blur_is_undone_carries_the_deblurs_gain_in_its_uncertainty():
    # a 2 px disc's half-maximum outline is mostly our own smoothing's width: undoing it, a pixel of
    # outline error is up to several px of diameter (the table's slope), which the uncertainty now holds;
    # a 30 px disc's is a pixel's
    from spotscale.inference.segment import _deblur_gain
    assert _deblur_gain(2.0) == pytest.approx(0.5 / (2.024 - 1.89), rel=1e-6)  # table between 1.0 and 1.5 px discs
    assert _deblur_gain(1.0) == pytest.approx(0.5 / (1.89 - 1.814), rel=1e-6)  # under the table: its first slope
    assert _deblur_gain(12.0) == 1.0 and _deblur_gain(12.0, blur_px=4.0) > 1.5  # wide, unless the photo's blur is
    mmpp = 0.2  # a 0.4 mm petechia and a 6 mm purpura
    sc = Scale(mm_per_px=mmpp, mm_per_px_uncertainty=0.0, source="manual")
    img = skin(seed=2, gradient=False)
    disc(img, 120.3, 170.6, 1.0)
    disc(img, 320.4, 170.2, 15.0)
    photo = finish(img)
    seg = segment(photo, mm_per_px=mmpp)
    small, big = sorted(measure(photo, seg.candidates, sc), key=lambda s: s.diameter_mm)
    c_small = min(seg.candidates, key=lambda c: c.area_px)
    assert c_small.size_gain > 1.5 and max(c.size_gain for c in seg.candidates if c is not c_small) == 1.0
    pixel = 0.5 * mmpp
    assert small.diameter_uncertainty_mm >= c_small.size_gain * pixel > 1.5 * pixel
    assert big.diameter_uncertainty_mm < 2 * pixel  # half a pixel and half a sharp edge's width


def test_a_spot_far_from_a_small_marker_is_given_the_marker_perspectives_uncertainty():
    # its scale there is the marker's perspective extrapolated: the diameter's uncertainty says so
    from tests.inference.test_scale import _marker_scale_at
    sc = _marker_scale_at((300, 300), 60)
    mask = np.zeros((21, 21), bool)
    yy, xx = np.mgrid[0:21, 0:21]
    mask[np.hypot(xx - 10, yy - 10) <= 8] = True
    img = finish(skin(w=1600, h=1200))
    near, far = measure(img, [Candidate(bbox=(390, 290, 21, 21), mask=mask),
                              Candidate(bbox=(1450, 1050, 21, 21), mask=mask)], sc)
    flat = dataclasses.replace(sc, reference_points=())  # the marker's own uncertainty only, everywhere
    near0, far0 = measure(img, [Candidate(bbox=(390, 290, 21, 21), mask=mask),
                                Candidate(bbox=(1450, 1050, 21, 21), mask=mask)], flat)
    assert near.diameter_uncertainty_mm == pytest.approx(near0.diameter_uncertainty_mm, rel=0.05)
    assert far.diameter_uncertainty_mm > 1.5 * far0.diameter_uncertainty_mm


def test_a_spot_deblurred_by_the_photos_blur_keeps_its_size_as_seen():
    # under a blur of 1.0 px a 4 px disc is measured near its true size and looks a little larger; a
    # 2 px disc (two sigma: its size is near the deblur's floor) looks over a px larger than measured;
    # a 30 px disc looks as it measures (a blur changes nothing there)
    from tests.inference.test_scale import blur
    img = skin(seed=4, gradient=False)
    disc(img, 120.3, 170.6, 2.0)
    disc(img, 200.6, 170.3, 1.0)
    disc(img, 320.4, 170.2, 15.0)
    photo = finish(blur(np.clip(img, 0, 255).astype(np.uint8), 1.0).astype(np.float32), noise=1.0)
    seg = segment(photo, mm_per_px=0.1, config=SegmentConfig(camera_blur_px=1.0))
    tiny, small, big = sorted(measure(photo, seg.candidates, Scale(None)), key=lambda s: s.diameter_px)
    assert small.diameter_px == pytest.approx(4.0, abs=0.5) and small.seen_diameter_px > small.diameter_px + 0.2
    assert tiny.seen_diameter_px > tiny.diameter_px + 1.0
    assert big.seen_diameter_px == pytest.approx(big.diameter_px, rel=1e-6)


def _disc_with_tail(cx: float, cy: float, r: float, tail_len: float, tail_w: float) -> np.ndarray:
    """Outline (64 x 2 px) of a disc with a straight strip running out of it to the right."""
    u = 16
    m = np.zeros((int((cy + r + 4) * u), int((cx + r + tail_len + 4) * u)), np.uint8)
    cv2.circle(m, (int(cx * u), int(cy * u)), int(r * u), 1, -1)
    cv2.rectangle(m, (int(cx * u), int((cy - tail_w / 2) * u)), (int((cx + r + tail_len) * u), int((cy + tail_w / 2) * u)), 1, -1)
    cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = cs[0].reshape(-1, 2) / u
    return c[np.linspace(0, len(c), 64, endpoint=False).astype(int)].astype(np.float64)


def _ellipse(a: float, b: float) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    return np.stack([30.3 + a * np.cos(t), 20.6 + b * np.sin(t)], axis=1)


@pytest.mark.parametrize("aspect", [1.0, 1.5, 2.0, 2.5])
def test_round_and_oval_outlines_keep_their_length(aspect):
    from spotscale.inference.measure import _without_tails
    pts = _ellipse(4.0 * aspect, 4.0)
    out, kept = _without_tails(pts)
    assert kept == 1.0 and out is pts


def test_a_thin_tail_is_taken_off_a_spots_outline_unless_it_would_still_be_large():
    # a petechia's outline run on along a hair or into a faint neighbour: 8 px across, a 5 px strip of
    # 1.2 px; the max Feret was the strip's whole length
    from spotscale.inference.measure import _without_tails
    pts = _disc_with_tail(12.0, 12.0, 4.0, 5.0, 1.2)
    assert feret_diameters(pts)[0] == pytest.approx(13.0, abs=0.2)
    out, kept = _without_tails(pts)
    assert feret_diameters(out)[0] == pytest.approx(8.0, abs=0.4) and 0.8 <= kept < 0.95
    same, k = _without_tails(pts, max_feret_px=7.0)  # a spot that large is measured with its lobes
    assert same is pts and k == 1.0
    wide, k = _without_tails(_disc_with_tail(12.0, 12.0, 4.0, 5.0, 6.0))  # a lobe as wide as the spot: kept
    assert k == 1.0


@pytest.mark.parametrize("mm_per_px, diameter_mm", [(0.1, 0.8), (1.0, 13.0)])
def test_measure_takes_a_tail_off_spots_under_4_mm_only(mm_per_px, diameter_mm):
    from spotscale.inference.segment import RefinedCandidate
    pts = _disc_with_tail(12.0, 12.0, 4.0, 5.0, 1.2)
    mask = np.zeros((24, 26), bool)
    cand = RefinedCandidate(bbox=(0, 0, 26, 24), mask=mask, contour=tuple(map(tuple, pts.tolist())),
                            area_px=polygon_area(pts))
    spot = measure(np.full((24, 26, 3), 180, np.uint8), [cand], Scale(mm_per_px, 0.0, source="manual"))[0]
    assert spot.diameter_mm == pytest.approx(diameter_mm, rel=0.06)
    assert spot.contour == cand.contour  # drawn, and cut for the CNN, as segmented
    if mm_per_px == 0.1:
        assert spot.area_px < 0.95 * polygon_area(pts) and spot.x == pytest.approx(12.0, abs=0.4)
