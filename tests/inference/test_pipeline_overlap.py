"""Overlapped reading: the analysis started on the 1/4 JPEG while a thread decodes it gives the plain result."""
from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from spotscale.data.errors import PhotoError
from spotscale.data.types import Scale
from spotscale.inference.pipeline import (AnalysisConfig, PendingImage, _run_overlapped, analyze_photo,
                                          reference_exclusion)
from spotscale.inference.scale import reference_mask
from tests.inference.test_pipeline import disc_photo

MM_PER_PX = 0.1  # 1600 x 1200 px = 160 x 120 mm: large enough for the 1/4 working image
DISCS = ((300, 300, 1.5), (500, 900, 3.0), (1100, 350, 6.0), (1300, 900, 5.0), (820, 620, 0.8))


def _with_marker(img: np.ndarray, x: int, y: int, side_px: int = 200) -> np.ndarray:
    """An axis-aligned ArUco DICT_4X4_50 marker (20 mm at 0.1 mm/px) with its white quiet zone."""
    d = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    pad = side_px // 4
    art = cv2.copyMakeBorder(cv2.aruco.generateImageMarker(d, 5, side_px), pad, pad, pad, pad,
                             cv2.BORDER_CONSTANT, value=255)
    img[y - pad:y - pad + art.shape[0], x - pad:x - pad + art.shape[1]] = art[..., None]
    return img


def _with_ruler(img: np.ndarray, x: int, y: int, length_mm: int = 80) -> np.ndarray:
    """A white ruler with 1 mm ticks (2 / 3.5 / 5 mm long at 1 / 5 / 10 mm), 10 px per mm."""
    art = np.full((150, (length_mm + 10) * 10), 235, np.uint8)
    for i in range(length_mm + 1):
        tick = 50 if i % 10 == 0 else (35 if i % 5 == 0 else 20)
        art[:tick, (5 + i) * 10 - 1:(5 + i) * 10 + 2] = 20
    img[y:y + art.shape[0], x:x + art.shape[1]] = cv2.GaussianBlur(art, (0, 0), 0.8)[..., None]
    return img


def _jpeg(path, img: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])


def _both(path):
    """Results of the overlapped and the plain (sequential decode) path, timings dropped."""
    cfg = AnalysisConfig(model_path="none")
    out = []
    before = cv2.getNumThreads()
    cv2.setNumThreads(max(2, before))  # the decode thread is only started when OpenCV may use 2 threads
    try:
        for overlap in (True, False):
            r = analyze_photo(path, dataclasses.replace(cfg, overlap_decode=overlap))
            out.append((dataclasses.replace(r, timings={}), r.timings))
    finally:
        cv2.setNumThreads(before)
    return out


@pytest.mark.parametrize("reference", ["marker", "ruler"])
def test_overlapped_decode_gives_the_plain_result(tmp_path, reference):
    img = disc_photo(1600, 1200, DISCS, MM_PER_PX)
    img = _with_marker(img, 700, 80) if reference == "marker" else _with_ruler(img, 150, 1000)
    p = tmp_path / "photo.jpg"
    _jpeg(p, img)
    (over, t_over), (plain, t_plain) = _both(p)
    assert over.scale.source == {"marker": "aruco", "ruler": "ruler"}[reference]
    assert over.scale.mm_per_px == pytest.approx(MM_PER_PX, rel=0.015)
    assert over == plain  # every spot, the scale, the summary: the same values
    assert len(over.spots) >= 4
    assert "decode_wait" in t_over and "background_decode" in t_over and "decode_wait" not in t_plain


def test_overlapped_decode_is_not_used_for_png(tmp_path):
    p = tmp_path / "photo.png"
    cv2.imwrite(str(p), cv2.cvtColor(_with_marker(disc_photo(1600, 1200, DISCS, MM_PER_PX), 700, 80),
                                     cv2.COLOR_RGB2BGR))
    (over, t_over), (plain, _) = _both(p)
    assert over == plain and "decode_wait" not in t_over
    assert over.scale.source == "aruco"


def test_truncated_jpeg_fails_with_a_photo_error_on_either_path(tmp_path):
    p = tmp_path / "cut.jpg"
    _jpeg(p, disc_photo(1600, 1200, DISCS, MM_PER_PX))
    p.write_bytes(p.read_bytes()[:20000])
    for overlap in (True, False):
        with pytest.raises(PhotoError, match="cut.jpg"):
            analyze_photo(p, AnalysisConfig(model_path="none", overlap_decode=overlap))


def test_pending_image_gives_its_shape_at_once_and_pixels_when_decoded():
    img = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)

    def slow() -> tuple[np.ndarray, None, float]:
        time.sleep(0.2)
        return img, None, 0.2

    with ThreadPoolExecutor(1) as pool:
        pending = PendingImage(pool.submit(slow), img.shape)
        t0 = time.perf_counter()
        assert pending.shape[:2] == (4, 5) and pending.ndim == 3 and pending.size == 60
        assert time.perf_counter() - t0 < 0.1  # no waiting for the shape
        assert np.array_equal(pending[1:3, 2:4], img[1:3, 2:4])
        assert pending.waited > 0.1 and pending.decode_seconds == 0.2
        assert np.array_equal(np.asarray(pending), img) and pending.mean() == img.mean()


def test_a_step_handing_the_whole_pending_image_to_opencv_is_rerun_on_the_decoded_array():
    img = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    calls = []

    def step(image, sigma):
        calls.append(type(image).__name__)
        return cv2.GaussianBlur(image, (0, 0), sigma)  # OpenCV takes only real arrays

    with ThreadPoolExecutor(1) as pool:
        pending = PendingImage(pool.submit(lambda: (img, None, 0.0)), img.shape)
        out = _run_overlapped(step, pending, 1.5)
    assert np.array_equal(out, cv2.GaussianBlur(img, (0, 0), 1.5))
    assert calls == ["PendingImage", "ndarray"]


@pytest.mark.parametrize("outline", [
    ((100.3, 80.7), (160.2, 95.1), (150.9, 150.4), (90.6, 140.2)),  # tilted quad inside
    ((-5.5, 190.0), (30.2, 185.3), (35.7, 230.8), (-2.1, 239.9)),  # cut by the left and bottom edges
])
def test_reference_exclusion_equals_the_whole_image_mask(outline):
    scale = Scale(0.1, 0.0, "aruco", outline)
    for margin in (0, 6):
        fast = reference_exclusion(scale, (240, 320), margin)
        assert np.array_equal(fast, reference_mask(scale, (240, 320), margin_px=margin)) and fast.any()


def test_no_decode_thread_when_opencv_is_held_to_one_thread(tmp_path):
    p = tmp_path / "photo.jpg"
    _jpeg(p, _with_marker(disc_photo(1600, 1200, DISCS, MM_PER_PX), 700, 80))
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)  # what batch workers do: one core each
    try:
        r = analyze_photo(p, AnalysisConfig(model_path="none"))
    finally:
        cv2.setNumThreads(before)
    assert "decode_wait" not in r.timings and r.scale.source == "aruco"
