"""classify(): every spot gets a label and calibrated probabilities in one batched pass."""
import cv2
import numpy as np
import pytest
import torch

from spotscale.data.types import Scale, Spot
from spotscale.inference.classify import classify, spot_mm_per_px
from spotscale.model.checkpoint import load_checkpoint, save_checkpoint
from spotscale.model.net import build_net


def _spot(i, x, y, r):
    contour = tuple((x + r * np.cos(t), y + r * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 24, endpoint=False))
    return Spot(spot_id=i, x=x, y=y, bbox=(int(x - r), int(y - r), int(2 * r + 1), int(2 * r + 1)),
                area_px=np.pi * r * r, diameter_px=2 * r, contour=contour)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path_factory.mktemp("m") / "m.pt", build_net(width=8),
                           {"arch_kwargs": {"width": 8}, "temperature": 2.0})
    return load_checkpoint(path)


def test_labels_and_probabilities(model):
    net, meta = model
    img = np.full((200, 300, 3), 200, np.uint8)
    spots = [_spot(1, 50, 50, 3), _spot(2, 150, 100, 20), _spot(3, 299, 199, 5)]
    for s in spots:
        cv2.circle(img, (int(s.x), int(s.y)), int(s.diameter_px / 2), (120, 30, 60), -1)
    out = classify(img, spots, Scale(mm_per_px=0.1, source="manual"), net, meta)
    assert [s.spot_id for s in out] == [1, 2, 3]
    for s in out:
        assert s.cnn_label in ("petechia", "purpura", "other")
        assert sum(s.cnn_probs) == pytest.approx(1.0, abs=1e-5)
        assert s.cnn_prob == pytest.approx(max(s.cnn_probs))
        assert s.cnn_label == meta["classes"][int(np.argmax(s.cnn_probs))]
    # batch size does not change the answer; no scale still gives labels
    again = classify(img, spots, Scale(mm_per_px=0.1), net, meta, batch_size=1)
    np.testing.assert_allclose([s.cnn_probs for s in again], [s.cnn_probs for s in out], atol=1e-5)
    assert all(s.cnn_label for s in classify(img, spots, Scale(mm_per_px=None), net, meta))
    assert classify(img, [], Scale(mm_per_px=0.1), net, meta) == []


def test_local_scale_from_a_homography():
    h = ((0.1, 0.0, 0.0), (0.0, 0.1, 0.0), (0.0, 0.0, 1.0))
    spots = [_spot(1, 10, 10, 2)]
    assert spot_mm_per_px(spots, Scale(mm_per_px=0.1, homography=h)) == pytest.approx([0.1])
    assert spot_mm_per_px(spots, Scale(mm_per_px=None)) == [None]


def test_averaged_views_do_not_depend_on_the_crops_orientation():
    # a spot has no up or left: 8 views (mirrorings and transposes) give the same logits for a crop
    # turned by 90 degrees or mirrored, 4 views for a mirrored one; a single view does not
    from spotscale.inference.classify import logits_of
    from spotscale.inference.pipeline import AnalysisConfig, load_model
    net, _ = load_model(AnalysisConfig())  # the shipped model (an untrained one barely sees orientation)
    rng = np.random.default_rng(3)
    x = rng.random((5, 4, 32, 32)).astype(np.float32)
    x[:, :, :, :16] += 3.0 * np.linspace(0, 1, 16, dtype=np.float32)  # a lopsided crop
    s = rng.random((5, 3)).astype(np.float32)
    turned = np.ascontiguousarray(np.rot90(x, 1, axes=(2, 3)))
    mirrored = np.ascontiguousarray(x[..., ::-1])
    np.testing.assert_allclose(logits_of(net, turned, s, views=8), logits_of(net, x, s, views=8), atol=1e-5)
    np.testing.assert_allclose(logits_of(net, mirrored, s, views=4), logits_of(net, x, s, views=4), atol=1e-5)
    assert np.abs(logits_of(net, turned, s) - logits_of(net, x, s)).max() > 1e-3
    with pytest.raises(ValueError, match="views must be one of"):
        logits_of(net, x, s, views=3)


@pytest.mark.parametrize("mm_per_px, radius_px, setting, value", [
    # a 100 mm spot at context 2 would be cropped 200 mm wide, past the limb; classify caps the field
    # at MAX_FIELD_MM (never under 1.2 x the spot), as the crops of model.crops do when asked
    (0.5, 100, "max_field_mm", 80.0),
    # no scale: the field is 4 x the spot, so a 50 px spot would be cropped 200 px wide in a 400 px
    # photo (past a limb's edge); classify caps it at NO_SCALE_MAX_FIELD_FRAC of the shorter side
    (None, 25, "max_field_frac", 0.1),
], ids=["bruise_wider_than_training_showed", "no_scale_share_of_the_photo"])
def test_the_crop_of_a_large_spot_is_narrowed(model, monkeypatch, mm_per_px, radius_px, setting, value):
    import spotscale.inference.classify as classify_mod
    from spotscale.model.crops import CropConfig, crop_batch
    net, meta = model
    seen = []

    def spy(img, items, mpp, cfg):
        seen.append(cfg)
        return crop_batch(img, items, mpp, cfg)
    monkeypatch.setattr(classify_mod, "crop_batch", spy)
    img = np.full((400, 400, 3), 200, np.uint8)
    spot = _spot(1, 200, 200, radius_px)
    cv2.circle(img, (200, 200), radius_px, (120, 30, 60), -1)
    classify(img, [spot], Scale(mm_per_px=mm_per_px, source="manual" if mm_per_px else "none"), net, meta)
    assert getattr(seen[0], setting) == value
    assert (classify_mod.MAX_FIELD_MM, classify_mod.NO_SCALE_MAX_FIELD_FRAC) == (80.0, 0.1)
    mask = crop_batch(img, [spot], mm_per_px, seen[0]).images[0, 3]
    wide = crop_batch(img, [spot], mm_per_px, CropConfig.from_dict(meta.get("crop", {}))).images[0, 3]
    assert (mask > 0.5).mean() > 1.5 * (wide > 0.5).mean()  # the spot fills more of the narrowed crop
