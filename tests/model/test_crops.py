"""Crops: physical size preserved, the mask channel marks the spot asked about, fallbacks."""
import cv2
import numpy as np
import pytest

from spotscale.data.types import Spot
from spotscale.model.crops import CropConfig, crop_batch, cut_crops, extract_crops, local_mm_per_px


def _disc_photo(diameter_px: float, size=(400, 300), centre=(200.0, 150.0)):
    img = np.full((size[1], size[0], 3), (215, 175, 155), np.uint8)
    m = np.zeros(img.shape[:2], np.uint8)
    cv2.circle(m, (int(centre[0] * 16), int(centre[1] * 16)), int(diameter_px / 2 * 16), 1, -1, shift=4)
    img[m > 0] = (140, 30, 50)
    ys, xs = np.nonzero(m)
    bbox = (int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)
    crop = m[bbox[1]:bbox[1] + bbox[3], bbox[0]:bbox[0] + bbox[2]].astype(bool)
    return img, (centre[0], centre[1], bbox, crop)


def _span_px(channel: np.ndarray) -> int:
    """Width of the region above half height along the middle row."""
    row = channel[channel.shape[0] // 2]
    return int(np.sum(row > 0.5))


@pytest.mark.parametrize("mm_per_px", [0.04, 0.1])
def test_a_2mm_disc_spans_the_same_crop_px_at_any_photo_scale(mm_per_px):
    cfg = CropConfig()  # 0.25 mm per crop px: 2 mm -> 8 crop px
    img, item = _disc_photo(2.0 / mm_per_px)
    crops = extract_crops(img, [item], mm_per_px, cfg)
    assert crops.shape == (1, 4, cfg.size_px, cfg.size_px) and crops.dtype == np.float32
    assert abs(_span_px(crops[0, 3]) - 2.0 / cfg.mm_per_crop_px) <= 1
    # the colour channels see the same disc (red drops relative to skin inside it)
    assert abs(_span_px(-crops[0, 1]) - 8) <= 1


def test_a_field_wider_than_max_field_mm_is_narrowed_but_keeps_min_context_round_the_spot():
    # a 60 mm bruise at context 2 makes a 120 mm field; capped at 80 mm it is narrowed to 80 mm, and a
    # 100 mm one to 1.2 x 100 mm (its edge and some skin stay in view); a 10 mm spot is not touched
    mm_per_px = 0.5
    for d_mm, field_mm in [(60.0, 80.0), (100.0, 120.0), (10.0, 20.0)]:
        img, item = _disc_photo(d_mm / mm_per_px, size=(500, 500), centre=(250.0, 250.0))
        plain = crop_batch(img, [item], mm_per_px, CropConfig())
        capped = crop_batch(img, [item], mm_per_px, CropConfig(max_field_mm=80.0))
        size = CropConfig().size_px
        assert abs(_span_px(capped.images[0, 3]) - size * d_mm / field_mm) <= 1, (d_mm, field_mm)
        if d_mm * CropConfig().context <= 80.0:
            np.testing.assert_array_equal(capped.images, plain.images)
        else:
            assert _span_px(capped.images[0, 3]) > _span_px(plain.images[0, 3]) + 2
        np.testing.assert_array_equal(capped.scalars, plain.scalars)  # the size feature is the spot's


def test_size_scalar_is_log_of_half_the_diameter():
    img, item = _disc_photo(40)
    b = crop_batch(img, [item], 0.1, CropConfig())  # 4 mm
    assert b.scalars[0, 0] == pytest.approx(np.log(2.0), abs=0.06)
    assert b.scalars[0, 1] == 1.0


def test_the_mask_channel_marks_the_spot_asked_about_in_a_cluster():
    img = np.full((200, 200, 3), 210, np.uint8)
    items = []
    for cx in (95, 105):  # two close petechiae, 10 px apart
        m = np.zeros((7, 7), bool)
        m[1:6, 1:6] = True
        img[100 - 3:100 + 4, cx - 3:cx + 4][m] = (150, 40, 50)
        items.append((float(cx), 100.0, (cx - 3, 97, 7, 7), m))
    crops = extract_crops(img, items, 0.2, CropConfig())  # 1 mm spots, 2 mm apart
    c = CropConfig().size_px // 2
    for k in range(2):
        mask = crops[k, 3]
        ys, xs = np.nonzero(mask > 0.5)
        assert abs(xs.mean() - (c - 0.5)) < 1 and abs(ys.mean() - (c - 0.5)) < 1  # centred
        # the other spot is visible in the colour channels but not in the mask channel
        other_x = int(round(c - 0.5 + (10 if k == 0 else -10) * 0.2 / 0.25))
        assert crops[k, 1, c, other_x] < -0.5 and mask[c, other_x] < 0.1


def test_spots_use_their_contour_as_mask():
    img, item = _disc_photo(20)
    x, y, bbox, _ = item
    contour = tuple((x + 10 * np.cos(t), y + 10 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 40, endpoint=False))
    spot = Spot(spot_id=1, x=x, y=y, bbox=bbox, area_px=314.0, diameter_px=20.0, contour=contour)
    a = extract_crops(img, [spot], 0.1, CropConfig())
    b = extract_crops(img, [item], 0.1, CropConfig())
    assert np.abs(a[0, 3] - b[0, 3]).mean() < 0.05


def test_unknown_scale_normalises_by_the_spot_size():
    cfg = CropConfig()
    spans = []
    for d in (10, 30):
        img, item = _disc_photo(d)
        b = crop_batch(img, [item], None, cfg)
        assert b.scalars[0, 0] == 0 and b.scalars[0, 1] == 0
        spans.append(_span_px(b.images[0, 3]))
    assert spans[0] == pytest.approx(spans[1], abs=1)  # same relative size
    assert spans[0] == pytest.approx(cfg.size_px / cfg.unknown_context, abs=1.5)


def test_spots_at_the_border_and_per_item_scales():
    img, _ = _disc_photo(10)
    items = [(0.0, 0.0, (0, 0, 3, 3), np.ones((3, 3), bool)), (399.0, 299.0, (397, 297, 3, 3), np.ones((3, 3), bool))]
    raw = cut_crops(img, items, [0.1, None], CropConfig(pad_px=4))
    assert raw.rgb.shape == (2, 40, 40, 3) and raw.mask.shape == (2, 40, 40)
    assert raw.size_feats[0, 1] == 1 and raw.size_feats[1, 1] == 0
    with pytest.raises(ValueError, match="3 mm_per_px values for 2 items"):
        cut_crops(img, items, [0.1, 0.1, 0.1], CropConfig())


def test_local_scale_of_a_homography():
    h = [[0.1, 0, 0], [0, 0.2, 0], [0, 0, 1]]  # anisotropic: sqrt(0.1 * 0.2)
    assert local_mm_per_px(h, 10, 20) == pytest.approx(np.sqrt(0.02))


def test_spot_without_a_usable_outline_gets_the_ellipse_of_its_box():
    """A spot whose contour is empty (or degenerate) is cropped with the ellipse inscribed in its bbox."""
    from spotscale.data.types import Spot
    from spotscale.model.crops import as_item

    spot = Spot(spot_id=1, x=15.0, y=12.0, bbox=(10, 8, 11, 9), area_px=60.0, diameter_px=11.0, contour=())
    x, y, bbox, mask = as_item(spot)
    assert (x, y, bbox) == (15.0, 12.0, (10, 8, 11, 9))
    assert mask.shape == (9, 11)
    assert mask[4, 5] and not mask[0, 0] and not mask[8, 10]
    assert 0.6 < mask.mean() < 0.95  # an ellipse fills pi/4 of its box, roughly


@pytest.mark.parametrize("x0, y0, side", [(-5, -3, 20), (60, 40, 20), (-10, 30, 25), (10, 10, 20),
                                          (-40, -40, 45), (65, -2, 10), (-200, 5, 30)])
def test_padded_window_reflects_like_the_index_path(x0, y0, side):
    from spotscale.model.crops import _padded_window, _reflect_index
    img = np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    xs, ys = _reflect_index(np.arange(x0, x0 + side), 70), _reflect_index(np.arange(y0, y0 + side), 50)
    assert np.array_equal(_padded_window(img, x0, y0, side), img[ys[:, None], xs[None, :]])


def test_size_scalar_is_the_max_feret_not_the_bounding_box_side():
    # a 1-px wide diagonal line of 30 px: bounding box 30 px, Feret over pixel corners 30 * sqrt(2)
    img = np.full((100, 100, 3), 210, np.uint8)
    m = np.eye(30, dtype=bool)
    img[30:60, 30:60][m] = (150, 40, 50)
    b = crop_batch(img, [(44.5, 44.5, (30, 30, 30, 30), m)], 0.1, CropConfig())
    assert np.exp(b.scalars[0, 0]) * 2 == pytest.approx(30 * np.sqrt(2) * 0.1, rel=1e-4)


def test_size_scalar_of_one_pixel_is_its_diagonal():
    img = np.full((50, 50, 3), 210, np.uint8)
    b = crop_batch(img, [(25.0, 25.0, (25, 25, 1, 1), np.ones((1, 1), bool))], 0.5, CropConfig())
    assert np.exp(b.scalars[0, 0]) * 2 == pytest.approx(np.sqrt(2) * 0.5, rel=1e-4)


def test_without_a_scale_a_field_wider_than_max_field_frac_of_the_photo_is_narrowed():
    # unknown scale: the field is 4 x the spot (unknown_context). In a 600 x 400 photo capped at 0.1 x
    # its shorter side (40 px), a 20 px spot is seen in 40 px (2 x), a 40 px one in 1.2 x 40 = 48 px
    # (min_context keeps some skin round it), and an 8 px one (32 px field) is not touched
    cfg, size = CropConfig(), CropConfig().size_px
    for d_px, field_px in [(20.0, 40.0), (40.0, 48.0), (8.0, 32.0)]:
        img, item = _disc_photo(d_px, size=(600, 400), centre=(300.0, 200.0))
        plain = crop_batch(img, [item], None, cfg)
        capped = crop_batch(img, [item], None, CropConfig(max_field_frac=0.1))
        assert abs(_span_px(capped.images[0, 3]) - size * d_px / field_px) <= 1, (d_px, field_px)
        if d_px * cfg.unknown_context <= 40.0:
            np.testing.assert_array_equal(capped.images, plain.images)
        else:
            assert _span_px(capped.images[0, 3]) > _span_px(plain.images[0, 3]) + 2
        np.testing.assert_array_equal(capped.scalars, plain.scalars)


def test_max_field_frac_leaves_crops_with_a_scale_alone():
    img, item = _disc_photo(60.0, size=(600, 400), centre=(300.0, 200.0))
    np.testing.assert_array_equal(crop_batch(img, [item], 0.1, CropConfig(max_field_frac=0.1)).images,
                                  crop_batch(img, [item], 0.1, CropConfig()).images)
