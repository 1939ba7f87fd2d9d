"""One photo's way through: read -> scale -> reference mask -> segment -> measure -> classify -> rules.

`analyze_photo(path, config)` is what `spotscale analyze` and batch scoring both call. Everything is
passed explicitly (config, model bundle, debug folder); nothing is global and nothing shells out.

Reading: the file is read once; a JPEG of 1600 px or more is decoded at 1/4 by libjpeg's DCT scaling
for the scale search and, in a second thread, at full size (then area-averaged to 1/4: the
segmentation's working image). The scale search starts on the 1/4 decode and waits for the full
decode only for its final sub-pixel fit (`PendingImage`), so the decode (the benchmark's unit of
time) overlaps the analysis instead of preceding it. `AnalysisConfig(overlap_decode=False)` decodes
the same images one after the other: same result, no thread. Other formats (and smaller photos) are
decoded once, and the area-averaged 1/4 serves both searches.

Photos with more than `analysis_max_pixels` (default 40 MP) are analysed at 1/2, 1/4 or 1/8
resolution instead of exhausting memory; every coordinate and the scale are then mapped back to the
stored image.
"""
from __future__ import annotations

import dataclasses
import math
import time
import tomllib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from spotscale.data.errors import ConfigError, PhotoError
from spotscale.data.photo import DEFAULT_MAX_PIXELS, PhotoFile, choose_reduce, open_photo
from spotscale.data.types import DISCLAIMER, PhotoResult, Scale, Spot
from spotscale.inference import rules
from spotscale.inference.classify import VIEWS
from spotscale.inference.colour import is_colourless
from spotscale.inference.segment import SegmentConfig

if TYPE_CHECKING:
    from collections.abc import Sequence

    from spotscale.data.types import Candidate
    from spotscale.inference.motion import Shake

NO_COLOUR = ("no colour (a greyscale photo, or one too dark to show any): red and purple spots cannot "
             "be told from skin without it")
WORK_REDUCE = 4  # the working image is the photo decoded at 1/4 (about 1000 px for 12 MP)
MIN_SIDE_FOR_REDUCED = 1600  # smaller photos are their own working image
MIN_SEARCH_SIDE = 1000  # a 1/4 image smaller than this is not searched for the scale: a 1600 px photo's
# 400 px quarter puts a ruler's mm ticks 1-3 px apart (the 1/4 decode of a 12 MP photo is 1000 px)


def _default_scale_config() -> Any:
    from spotscale.inference.scale import ScaleConfig
    return ScaleConfig()


@dataclass
class AnalysisConfig:
    """How one photo is analysed; defaults in code, a TOML file may override, then CLI flags."""

    scale: Any = field(default_factory=_default_scale_config)  # inference.scale.ScaleConfig
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    scheme: str = "default"
    scheme_file: str | None = None
    other_confidence: float = 0.6  # a CNN `other` at least this sure stays other
    cnn_views: int = 4  # mirrored views of each crop averaged by the CNN: 1, 4 or 8 (costs as many passes)
    max_pixels: int = DEFAULT_MAX_PIXELS  # refuse larger photos (decompression bombs)
    analysis_max_pixels: int = 40_000_000  # larger photos are analysed at reduced resolution
    model_path: str | None = None  # None = the shipped default model; "none" = no CNN
    reference_margin_px: int = 3  # the reference outline grown by this much is never a spot (6 -> 3: at 0.1-0.35 mm/px
    #                               6 px, on top of the paper's 0.5 mm, hid petechiae lying by a marker; benchmarks/known_limits.md)
    texture_min_snr: float = 5.0  # a candidate under this contrast over the skin's texture at its own scale
    texture_other_confidence: float = 0.9  # ...that the CNN calls other this surely is skin, not a spot: dropped
    min_measured_fraction: float = 0.5  # a spot measured under this fraction of segment.min_diameter_mm is dropped
    min_measured_px: float = 1.0  # ...and, without a scale, one measured under this many px across
    min_speck_contrast: float = 4.0  # under segment.min_diameter_mm and less darker (L*) + redder (a*)
    # than its skin by this: a speck, dropped
    min_visible_contrast: float = 4.0  # any size, under texture_min_snr and less darker + redder than this
    # (two just-noticeable colour differences or so): not a visible spot, dropped
    undo_shake: bool = True  # spots smeared by camera shake are measured across the smear (inference.motion)
    overlap_decode: bool = True  # search the scale on a 1/4 JPEG decode while a thread decodes it in full
    # (not when OpenCV is held to one thread, as in batch workers: the thread would share their core)

    def scheme_obj(self) -> rules.Scheme:
        """The threshold scheme this config names (file wins over name)."""
        return rules.get_scheme(self.scheme, self.scheme_file)


_SECTIONS = {"scale", "segment"}


def load_config(path: str | Path, base: AnalysisConfig | None = None) -> AnalysisConfig:
    """An AnalysisConfig from a TOML file: top-level keys plus [scale] and [segment] tables."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config ({e.strerror or e})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    cfg = base or AnalysisConfig()
    top = {k: v for k, v in data.items() if k not in _SECTIONS}
    cfg = _replace_checked(p, cfg, top, "")
    if cfg.cnn_views not in VIEWS:
        raise ConfigError(f"{p}: cnn_views = {cfg.cnn_views!r}: must be one of {', '.join(map(str, VIEWS))}")
    for section in _SECTIONS & data.keys():
        if not isinstance(data[section], dict):
            raise ConfigError(f"{p}: [{section}] must be a table")
        sub = _replace_checked(p, getattr(cfg, section), data[section], f"{section}.")
        cfg = dataclasses.replace(cfg, **{section: sub})
    return cfg


def _replace_checked(p: Path, obj: Any, values: dict, prefix: str) -> Any:
    names = {f.name: f for f in dataclasses.fields(obj)}
    for k, v in values.items():
        if k not in names or k in _SECTIONS:
            raise ConfigError(f"{p}: unknown setting {prefix}{k!r}")
        cur = getattr(obj, k)
        if isinstance(cur, bool) != isinstance(v, bool) or (
                isinstance(cur, (int, float)) and not isinstance(v, (int, float))):
            raise ConfigError(f"{p}: {prefix}{k} = {v!r} has the wrong type (default {cur!r})")
    return dataclasses.replace(obj, **values)


def config_from_args(args: Any) -> AnalysisConfig:
    """AnalysisConfig from `--config` TOML (if any), then the CLI flags that are set."""
    cfg = load_config(args.config) if getattr(args, "config", None) else AnalysisConfig()
    sc = cfg.scale
    for flag, attr in (("mm_per_px", "mm_per_px"), ("dpi", "dpi"), ("marker_mm", "marker_side_mm"),
                       ("sticker_mm", "sticker_diameter_mm")):
        v = getattr(args, flag, None)
        if v is not None:
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"--{flag.replace('_', '-')} {v}: must be a positive finite number")
            sc = dataclasses.replace(sc, **{attr: float(v)})
    if getattr(args, "sticker_colour", None):
        sc = dataclasses.replace(sc, sticker_color=args.sticker_colour)
    cfg = dataclasses.replace(cfg, scale=sc)
    if getattr(args, "scheme", None):
        cfg = dataclasses.replace(cfg, scheme=args.scheme)
    if getattr(args, "scheme_file", None):
        cfg = dataclasses.replace(cfg, scheme_file=str(args.scheme_file))
    if getattr(args, "model", None):
        cfg = dataclasses.replace(cfg, model_path=str(args.model))
    if getattr(args, "max_pixels", None):
        cfg = dataclasses.replace(cfg, max_pixels=int(args.max_pixels))
    cfg.scheme_obj()  # an unknown scheme or bad scheme file fails now, in one line
    return cfg


def load_model(config: AnalysisConfig) -> tuple[Any, dict] | None:
    """(net, meta) of config.model_path (None = default model), or None for "none"."""
    if config.model_path is not None and str(config.model_path).lower() == "none":
        return None
    from spotscale.model.checkpoint import load_checkpoint, load_default_model
    if config.model_path is None:
        return load_default_model()
    return load_checkpoint(config.model_path)


# --------------------------------------------------------------------------------- analysis


def analyze_photo(path: str | Path, config: AnalysisConfig | None = None, net_bundle: Any = None,
                  debug_dir: str | Path | None = None) -> PhotoResult:
    """Analyse one photo file; net_bundle None loads config.model_path (unless it is "none")."""
    return analyze_photo_and_image(path, config, net_bundle, debug_dir)[0]


def analyze_photo_and_image(path: str | Path, config: AnalysisConfig | None = None, net_bundle: Any = None,
                            debug_dir: str | Path | None = None) -> tuple[PhotoResult, np.ndarray]:
    """analyze_photo, plus the decoded image it analysed (full size, or 1/k for huge photos)."""
    cfg = config or AnalysisConfig()
    t0 = time.perf_counter()
    photo = open_photo(path, cfg.max_pixels)
    width, height = photo.size
    k = choose_reduce(width, height, cfg.analysis_max_pixels) if width * height > cfg.analysis_max_pixels else 1
    t_load = 0.0
    if net_bundle is None:
        t1 = time.perf_counter()
        net_bundle = load_model(cfg)
        t_load = time.perf_counter() - t1
    # a process whose OpenCV is held to one thread (batch workers, one core each) decodes in turn
    overlap = cfg.overlap_decode and cv2.getNumThreads() > 1
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="spotscale-decode") as pool:
        image, reduced, search = _decode(photo, k, pool if overlap else None)
        t_read = time.perf_counter() - t0 - t_load
        result = _analyze(image, _config_at_reduce(cfg, k), net_bundle, reduced, debug_dir, str(path), search)
        image = image.result() if isinstance(image, PendingImage) else image
    if k > 1:
        result = rescale_result(result, k, width, height)
    timings = {"read": round(t_read, 4), **({"load_model": round(t_load, 4)} if t_load else {}), **result.timings}
    timings["total"] = round(time.perf_counter() - t0, 4)
    return dataclasses.replace(result, timings=timings), image


def _decode(photo: PhotoFile, k: int, pool: ThreadPoolExecutor | None) -> tuple[np.ndarray | PendingImage,
                                                                                np.ndarray | None,
                                                                                np.ndarray | None]:
    """(image at 1/k, working image of the segmentation, image of the scale search) of a photo file.

    The working image is the area-averaged 1/4 of the decoded image (None for small photos). A JPEG
    large enough for one is also decoded at 1/4 by libjpeg's DCT scaling, for the scale search,
    which then needs the full image only for its final sub-pixel fit on a crop. With a pool the
    full decode (and the working image) come from its thread while the caller searches for the
    scale (libjpeg and OpenCV release the GIL); the image is then a PendingImage, and the working
    image is its `working()`. (The DCT-scaled 1/4 keeps more noise than area averaging: used as the
    segmentation's working image it gave 6 false candidates and 25 % more segmentation time on the
    benchmark's busy photo.)
    """
    w, h = (-(-v // k) for v in photo.size)
    if not (k == 1 and photo.dct_scalable and max(w, h) >= MIN_SIDE_FOR_REDUCED):
        image = photo.decode(k)
        work = working_image(image)
        return image, work, work
    if pool is None:
        image = photo.decode(1)
        return image, working_image(image), photo.decode(WORK_REDUCE)
    future = pool.submit(_decode_full, photo)
    return PendingImage(future, (h, w, 3)), None, photo.decode(WORK_REDUCE)


def _decode_full(photo: PhotoFile) -> tuple[np.ndarray, np.ndarray | None, float]:
    """(full image, its working image, seconds) for a PendingImage."""
    t0 = time.perf_counter()
    image = photo.decode(1)
    return image, working_image(image), time.perf_counter() - t0


class PendingImage:
    """The full-size photo while another thread decodes it: its shape now, its pixels once decoded.

    A step that reads only `shape` / `ndim` / `size` and slices crops (`image[y0:y1, x0:x1]`) can
    start on a reduced image before the full decode has finished and waits only when it first
    needs full-resolution pixels; indexing, `np.asarray` and every other array attribute wait for
    the decode. OpenCV functions do not take it (it is not an ndarray): a step that hands the whole
    image to OpenCV fails and is rerun on the decoded array (see _run_overlapped), same result.
    The future gives (image, working image or None, decode seconds).
    """

    ndim = 3
    dtype = np.dtype(np.uint8)

    def __init__(self, future: Future, shape: tuple[int, int, int]) -> None:
        self._future = future
        self.shape = shape
        self.size = shape[0] * shape[1] * shape[2]
        self.waited = 0.0  # seconds callers spent blocked on the decode
        self.decode_seconds = 0.0  # the decode's own time (in its thread)

    def _done(self) -> tuple[np.ndarray, np.ndarray | None, float]:
        if not self._future.done():
            t0 = time.perf_counter()
            self._future.result()
            self.waited += time.perf_counter() - t0
        out = self._future.result()
        self.decode_seconds = out[2]
        return out

    def result(self) -> np.ndarray:
        """The decoded array (waits for the decode; raises its PhotoError)."""
        return self._done()[0]

    def working(self) -> np.ndarray | None:
        """The working image made from the decoded array in the decode's thread (waits for it)."""
        return self._done()[1]

    def __getitem__(self, key: Any) -> np.ndarray:
        return self.result()[key]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self.result()
        return a if dtype is None else a.astype(dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def __getattr__(self, name: str) -> Any:  # only for names not defined above
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.result(), name)


def _run_overlapped(step: Any, image: np.ndarray | PendingImage, *args: Any, **kw: Any) -> Any:
    """step(image, ...) started on a PendingImage; rerun on the decoded array if it needs it whole."""
    if not isinstance(image, PendingImage):
        return step(image, *args, **kw)
    try:
        return step(image, *args, **kw)
    except (cv2.error, TypeError):  # the whole image went to OpenCV (or to code wanting an ndarray)
        return step(image.result(), *args, **kw)


def working_image(image_rgb: np.ndarray) -> np.ndarray | None:
    """The photo at 1/4 (area-averaged) for the scale search and segmentation; None if small.

    Large JPEG files also get a 1/4 DCT-scaled decode for the scale search (see _decode).
    """
    h, w = image_rgb.shape[:2]
    if max(h, w) < MIN_SIDE_FOR_REDUCED:
        return None
    size = (-(-w // WORK_REDUCE), -(-h // WORK_REDUCE))
    return cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA)


def analyze_image(image_rgb: np.ndarray, config: AnalysisConfig | None = None, net_bundle: Any = None,
                  reduced: np.ndarray | None = None, debug_dir: str | Path | None = None,
                  path: str = "") -> PhotoResult:
    """Analyse an RGB uint8 image already in memory (net_bundle None = no CNN here)."""
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise ConfigError(f"{path or 'image'}: expected an RGB uint8 array, got {image_rgb.shape} {image_rgb.dtype}")
    return _analyze(image_rgb, config, net_bundle, reduced, debug_dir, path)


def _analyze(image: np.ndarray | PendingImage, config: AnalysisConfig | None, net_bundle: Any,
             reduced: np.ndarray | None, debug_dir: str | Path | None, path: str,
             search: np.ndarray | None = None) -> PhotoResult:
    """analyze_image on an array or on a photo still being decoded (the scale search starts early).

    `reduced`: the segmentation's working image (a PendingImage brings its own); `search`: the
    scale search's reduced image (default: `reduced`).
    """
    from spotscale.inference.measure import skin_area_cm2
    from spotscale.inference.scale import find_scale
    from spotscale.inference.segment import segment
    cfg = config or AnalysisConfig()
    scheme = cfg.scheme_obj()
    h, w = image.shape[:2]
    pending = image if isinstance(image, PendingImage) else None
    if pending is None and reduced is None:
        reduced = working_image(image)
    search = reduced if search is None else search
    coarse = None
    if search is not None and max(search.shape[:2]) < MIN_SEARCH_SIDE:
        coarse, search = search, None  # too coarse for mm ticks: find_scale reduces the photo itself
    clock = _Clock(image)
    scale = _run_overlapped(find_scale, image, cfg.scale, reduced=search,
                            reduce=1 if search is None else max(1, round(w / search.shape[1])))
    if not scale.found and coarse is not None:  # a reference whose edges only the coarse image shows
        again = _run_overlapped(find_scale, image, cfg.scale, reduced=coarse, reduce=max(1, round(w / coarse.shape[1])))
        scale = again if again.found else scale
    exclude = reference_exclusion(scale, (h, w), cfg.reference_margin_px) if scale.outline else None
    if pending is not None:
        image, reduced = pending.result(), pending.working()
    if is_colourless(reduced if reduced is not None else image):
        raise PhotoError(path or "image", NO_COLOUR)
    clock.lap("scale")
    seg_cfg = cfg.segment
    blur, blur_from = camera_blur(image, scale, seg_cfg)
    if blur and not seg_cfg.camera_blur_px:
        seg_cfg = dataclasses.replace(seg_cfg, camera_blur_px=blur)
    seg = segment(image, exclude=exclude, mm_per_px=scale.mm_per_px, config=seg_cfg, reduced=reduced,
                  debug_dir=debug_dir, white_from=exclude if scale.source == "aruco" else None)  # its paper is white
    clock.lap("segment")
    spots, shake = measure_unshaken(image, seg.candidates, scale, cfg.undo_shake)
    spots, n_fragments = drop_fragments(spots, cfg)
    spots, n_specks = drop_specks(spots, cfg)
    area_cm2 = skin_area_cm2(seg, scale)
    clock.lap("measure")
    spots, model_note = _classify(image, spots, scale, net_bundle, cfg.cnn_views)
    spots, n_texture = drop_skin_texture(spots, cfg.texture_min_snr, cfg.texture_other_confidence)
    clock.lap("classify")
    spots = rules.apply_rules(spots, scheme, scale.found, cfg.other_confidence)
    summary = rules.photo_summary(spots, scale, area_cm2, seg.skin_mask, 1.0 / seg.work_scale, scheme)
    summary.update(scale_source=scale.source, scale_reason=scale.reason, model=model_note,
                   camera_blur_px=None if blur is None else round(blur, 2), camera_blur_from=blur_from,
                   dropped_as_skin_texture=n_texture, dropped_as_fragments=n_fragments, dropped_as_specks=n_specks,
                   camera_shake=shake.describe() if shake else None)
    if shake:
        summary["notes"] = list(summary["notes"]) + [SHAKE_NOTE.format(length=shake.length_px, direction=shake.direction_deg)]
    clock.lap("rules")
    notes = (DISCLAIMER,) + tuple(n for n in summary["notes"] if n != DISCLAIMER)
    result = PhotoResult(path=path, width=w, height=h, scale=scale, spots=tuple(spots),
                         skin_area_cm2=area_cm2, skin_area_px=seg.skin_area_px, summary=summary,
                         timings=clock.timings, notes=notes)
    if debug_dir is not None:
        _write_debug(Path(debug_dir), image, reduced, seg, result)
    return result


def camera_blur(image: np.ndarray, scale: Scale, seg_cfg: SegmentConfig) -> tuple[float | None, str | None]:
    """The photo's blur (gaussian sigma, full px) that small spots are deblurred by, and where it comes
    from: the user's setting (`config`), the reference's edges (`reference`), else, with a scale, the
    photo's own sharpest edges (`photo_edges`, blur.photo_blur); (None, None) when none is read.

    Without a scale no size is reported, and the CNN cuts a spot's crop at its size in px: deblurred
    there, its crops were tighter than those it was trained on (the segmenter's outlines of photos
    without a reference), and 16 more of the clinic renderer's held-out petechiae were called `other`
    (label accuracy without a scale 0.688 -> 0.676).
    """
    if seg_cfg.camera_blur_px:
        return float(seg_cfg.camera_blur_px), "config"
    if scale.blur_px is not None:
        return float(scale.blur_px), "reference"
    if not scale.found:
        return None, None
    from spotscale.inference.blur import photo_blur
    b = photo_blur(image)
    return (b, "photo_edges") if b is not None else (None, None)


def reference_exclusion(scale: Scale, shape: tuple[int, int], margin_px: int) -> np.ndarray:
    """scale.reference_mask(scale, shape, margin_px), drawn only in the reference's bounding box.

    Same pixels as drawing and dilating over the whole photo (integer shifts are exact), without
    two full-size passes (~35 ms at 12 MP).
    """
    from spotscale.inference.scale import reference_mask
    h, w = int(shape[0]), int(shape[1])
    mask = np.zeros((h, w), bool)
    pts = np.asarray(scale.outline, np.float64).reshape(-1, 2)
    if len(pts) < 3 or not np.isfinite(pts).all():
        return reference_mask(scale, (h, w), margin_px=margin_px)
    pad = max(0, int(margin_px)) + 2
    x0, y0 = (max(0, int(math.floor(v)) - pad) for v in pts.min(0))
    x1, y1 = (min(n, int(math.ceil(v)) + pad + 1) for v, n in zip(pts.max(0), (w, h)))
    if x1 <= x0 or y1 <= y0:
        return mask
    local = dataclasses.replace(scale, outline=tuple((x - x0, y - y0) for x, y in pts.tolist()))
    mask[y0:y1, x0:x1] = reference_mask(local, (y1 - y0, x1 - x0), margin_px=margin_px)
    return mask


class _Clock:
    """Seconds per stage, in order; time blocked on a PendingImage's decode goes to `decode_wait`."""

    def __init__(self, image: Any = None) -> None:
        self.timings: dict[str, float] = {}
        self._pending = image if isinstance(image, PendingImage) else None
        self._waited = 0.0
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        wait = 0.0
        if self._pending is not None:
            wait, self._waited = self._pending.waited - self._waited, self._pending.waited
            if wait > 0 or "decode_wait" not in self.timings:
                self.timings["decode_wait"] = round(self.timings.get("decode_wait", 0.0) + wait, 4)
            if self._pending.decode_seconds:
                self.timings["background_decode"] = round(self._pending.decode_seconds, 4)
        self.timings[name] = round(now - self._t - wait, 4)
        self._t = now


def _classify(image_rgb: np.ndarray, spots: list[Spot], scale: Scale, net_bundle: Any,
              views: int = 1) -> tuple[list[Spot], dict]:
    """CNN labels when a model is given; the note says which model (or none)."""
    if net_bundle is None:
        return spots, {"name": "none", "note": "no CNN: labels from size alone"}
    net, meta = net_bundle
    from spotscale.inference.classify import classify
    info = {k: meta.get(k) for k in ("path", "version", "arch", "name", "created", "sha256", "temperature")
            if isinstance(meta, dict) and isinstance(meta.get(k), (str, int, float))}
    info.setdefault("name", Path(str(info.get("path", "model"))).name)
    info["views"] = views
    return (classify(image_rgb, spots, scale, net, meta, views=views) if spots else spots), info


def drop_fragments(spots: list[Spot], cfg: AnalysisConfig) -> tuple[list[Spot], int]:
    """The spots without fragments, renumbered from 1; and how many were dropped.

    A fragment is measured (max Feret) under cfg.min_measured_fraction of segment.min_diameter_mm or,
    without a scale, under cfg.min_measured_px. The segmenter keeps a candidate whose area as seen
    reaches its smallest spot, so that a blurred petechia deblurred a little under it is kept. Measured
    at well under that size (by default half of it), a candidate is a pixel or two left between the
    lobes of a larger spot, or a speck inside a mole: nothing the tool can size, and as a "petechia" a
    false find. Without a scale the segmenter has no smallest size, and a speck that looks under a pixel
    across (a corner of the frame, one noisy pixel) is no spot either: judged as it looks
    (Spot.seen_diameter_px), since under a known blur every spot under about two sigma is measured
    near the deblur's floor, which may be under a pixel (a 0.5 mm petechia of a 640x480 photo at 0.18
    mm per px under a blur of 0.9 px, independent renderer 930024).
    """
    min_mm = cfg.segment.min_diameter_mm * cfg.min_measured_fraction
    return _kept(spots, [s for s in spots if (s.diameter_mm >= min_mm if s.diameter_mm is not None
                                              else _seen_px(s) >= cfg.min_measured_px)])


def _seen_px(s: Spot) -> float:
    return s.diameter_px if s.seen_diameter_px is None else s.seen_diameter_px


SHAKE_NOTE = ("Camera shake: small spots are smeared about {length:.0f} px along {direction:.0f} deg; the size of "
              "each smeared spot (flag camera_shake:size_across_smear) is its width across the smear.")


def measure_unshaken(image: np.ndarray, candidates: Sequence[Candidate], scale: Scale,
                     undo_shake: bool = True) -> tuple[list[Spot], Shake | None]:
    """measure(), with the spots that camera shake smeared measured across the smear (inference.motion),
    flagged `camera_shake:size_across_smear`; and the shake found (a motion.Shake, or None)."""
    from spotscale.inference.measure import measure
    from spotscale.inference.motion import find_shake, unstreak
    shake = find_shake(candidates) if undo_shake else None
    if shake is None:
        return measure(image, candidates, scale), None
    cands, changed = unstreak(candidates, shake)
    spots = measure(image, cands, scale)
    return [dataclasses.replace(sp, flags=sp.flags + ("camera_shake:size_across_smear",)) if i in changed else sp
            for i, sp in enumerate(spots)], shake


def drop_specks(spots: list[Spot], cfg: AnalysisConfig) -> tuple[list[Spot], int]:
    """The spots without specks, renumbered from 1; and how many were dropped.

    Contrast here is the spot's L* darkening plus a* reddening over the skin just around it. A speck is
    - measured under the smallest spot sought (segment.min_diameter_mm) with a contrast under
      cfg.min_speck_contrast: mostly a mole's or freckle's own mottling, picked out on its brown
      ground, which the CNN (seeing the mole round it) still called a petechia. On two sets of dev
      photos (seeds 81000.., 82000..): 27 of the 126 haemorrhagic labels on no haemorrhagic spot, and
      2 of 2915 right ones (petechiae of 0.4-0.5 mm measured at 0.28-0.29 mm). Needs a scale.
    - or, of any size, under cfg.min_visible_contrast and not standing out of the skin's texture
      (Spot.texture_snr under cfg.texture_min_snr): no visible spot at all. At 2 (about one
      just-noticeable colour difference), on the same dev sets after the first rule: 20 of 99 such
      labels (17 on one very dark photo's freckles) and 1 right one. At 4: on clinic-renderer dev
      photos (957000.., 24) haemorrhagic precision 0.866 -> 0.894 (freckles labelled haemorrhagic
      15 -> 6), recall 0.687 -> 0.685; on bench_rules' dev photos (2000.., 40 at 1600x1200 and at
      640x480) 4 right petechiae and 2 false labels fewer.
    """
    def speck(s: Spot) -> bool:
        contrast = (s.skin_lab[0] - s.lab[0]) + (s.lab[1] - s.skin_lab[1])
        if contrast < cfg.min_visible_contrast and s.texture_snr is not None and s.texture_snr < cfg.texture_min_snr:
            return True
        return s.diameter_mm is not None and s.diameter_mm < cfg.segment.min_diameter_mm \
            and contrast < cfg.min_speck_contrast
    return _kept(spots, [s for s in spots if not speck(s)])


def _kept(spots: list[Spot], keep: list[Spot]) -> tuple[list[Spot], int]:
    """keep renumbered from 1 (spots itself when nothing was left out); and how many were left out."""
    if len(keep) == len(spots):
        return spots, 0
    return [dataclasses.replace(s, spot_id=i) for i, s in enumerate(keep, start=1)], len(spots) - len(keep)


def drop_skin_texture(spots: list[Spot], min_snr: float, other_confidence: float) -> tuple[list[Spot], int]:
    """The spots without those that are skin texture, renumbered from 1; and how many were dropped.

    Skin texture: a candidate that does not stand out of the skin's own mottling at its own scale
    (Spot.texture_snr under min_snr) and that the CNN calls `other` with at least other_confidence.
    Either alone is not enough: a faint petechia on blotchy skin is kept by the CNN, a clear mole by
    its contrast. Without a CNN nothing is dropped.
    """
    return _kept(spots, [s for s in spots if not (
        s.texture_snr is not None and s.texture_snr < min_snr
        and s.cnn_label == "other" and (s.cnn_prob or 0.0) >= other_confidence)])


# ----------------------------------------------------------------------------- reduced analysis


def _config_at_reduce(cfg: AnalysisConfig, k: int) -> AnalysisConfig:
    """A manual scale (mm per stored px, dpi) restated for the photo decoded at 1/k."""
    if k == 1:
        return cfg
    sc = cfg.scale
    changes = {}
    if getattr(sc, "mm_per_px", None):
        changes["mm_per_px"] = sc.mm_per_px * k
    if getattr(sc, "dpi", None):
        changes["dpi"] = sc.dpi / k
    return dataclasses.replace(cfg, scale=dataclasses.replace(sc, **changes)) if changes else cfg


def rescale_result(result: PhotoResult, k: int, width: int, height: int) -> PhotoResult:
    """Map a result found on the photo decoded at 1/k back to stored-image pixels (width x height)."""

    def pt(x: float, y: float) -> tuple[float, float]:
        return ((x + 0.5) * k - 0.5, (y + 0.5) * k - 0.5)

    spots = []
    for s in result.spots:
        x0, y0, bw, bh = s.bbox
        spots.append(dataclasses.replace(
            s, x=pt(s.x, s.y)[0], y=pt(s.x, s.y)[1], bbox=(x0 * k, y0 * k, bw * k, bh * k),
            area_px=s.area_px * k * k, diameter_px=s.diameter_px * k,
            seen_diameter_px=None if s.seen_diameter_px is None else s.seen_diameter_px * k,
            contour=tuple(pt(x, y) for x, y in s.contour)))
    sc = result.scale
    hom = None
    if sc.homography is not None:  # full px -> reduced px -> mm
        a = np.array([[1 / k, 0, 0.5 / k - 0.5], [0, 1 / k, 0.5 / k - 0.5], [0, 0, 1]])
        hom = tuple(tuple(float(v) for v in row) for row in np.asarray(sc.homography) @ a)
    scale = dataclasses.replace(
        sc, mm_per_px=None if sc.mm_per_px is None else sc.mm_per_px / k,
        mm_per_px_uncertainty=None if sc.mm_per_px_uncertainty is None else sc.mm_per_px_uncertainty / k,
        outline=tuple(pt(x, y) for x, y in sc.outline), homography=hom,
        reference_points=tuple(pt(x, y) for x, y in sc.reference_points),
        blur_px=None if sc.blur_px is None else sc.blur_px * k)
    summary = dict(result.summary)
    if summary.get("camera_blur_px") is not None:
        summary["camera_blur_px"] = round(summary["camera_blur_px"] * k, 2)
    c = summary.get("densest_window_center_px")
    if c:
        summary["densest_window_center_px"] = tuple(round(v, 1) for v in pt(*c))
    note = f"Analysed at 1/{k} resolution (photo larger than the analysis pixel limit)."
    summary["notes"] = list(summary.get("notes", [])) + [note]
    return dataclasses.replace(result, width=width, height=height, scale=scale, spots=tuple(spots),
                               skin_area_px=result.skin_area_px * k * k, summary=summary,
                               notes=result.notes + (note,))


# ----------------------------------------------------------------------------------- debug


def _write_debug(d: Path, image: np.ndarray, reduced: np.ndarray | None, seg: Any, result: PhotoResult) -> None:
    """Images of every step: reduced photo, blood channel, reference, final overlay (segment adds its own)."""
    import cv2
    from spotscale.inference.colour import blood_index
    from spotscale.inference.overlay import draw_overlay, draw_reference
    d.mkdir(parents=True, exist_ok=True)
    small = reduced if reduced is not None else image
    cv2.imwrite(str(d / "00_photo_reduced.jpg"), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    bi = blood_index(small)
    lo, hi = np.percentile(bi, [1, 99])
    cv2.imwrite(str(d / "02_blood_channel.png"),
                np.clip((bi - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8))
    ref = draw_reference(image.copy(), result.scale)
    cv2.imwrite(str(d / "03_reference.jpg"), cv2.cvtColor(ref, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(d / "09_final.jpg"), cv2.cvtColor(draw_overlay(image, result), cv2.COLOR_RGB2BGR))


__all__ = ["AnalysisConfig", "load_config", "config_from_args", "load_model", "analyze_photo",
           "analyze_photo_and_image", "working_image", "PendingImage", "reference_exclusion",
           "analyze_image", "rescale_result"]
