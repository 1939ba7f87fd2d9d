"""Photo reading: any common file in, an EXIF-upright RGB uint8 array out, or a PhotoError."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from spotscale.data.errors import PhotoError

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"})
DEFAULT_MAX_PIXELS = 100_000_000  # refuse larger images before decoding (decompression bombs)


def image_size(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) of the photo as stored, read from its header only; checks the pixel limit."""
    p = Path(path)
    if not p.exists():
        raise PhotoError(p, "no such file" + (" (broken symlink)" if p.is_symlink() else ""))
    if p.is_dir():
        raise PhotoError(p, "is a directory, not an image")
    if not os.access(p, os.R_OK):
        raise PhotoError(p, "permission denied")
    try:
        if p.stat().st_size == 0:
            raise PhotoError(p, "empty file")
        with Image.open(p) as im:
            w, h = im.size
    except PhotoError:
        raise
    except UnidentifiedImageError:
        raise PhotoError(p, "not an image file (unrecognised format)") from None
    except Image.DecompressionBombError:
        raise PhotoError(p, "image too large (decompression bomb guard)") from None
    except OSError as e:
        raise PhotoError(p, f"cannot read: {e.strerror or e}") from None
    if w * h > max_pixels:
        raise PhotoError(p, f"image has {w}x{h} = {w * h} pixels, over the limit of {max_pixels}")
    return w, h


def read_photo(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS,
               reduce: int = 1) -> np.ndarray:
    """Read a photo as an RGB uint8 array (H, W, 3) with its EXIF orientation applied.

    `reduce` in {1, 2, 4, 8} decodes JPEGs at reduced size (libjpeg's DCT scaling), which is
    much faster than decoding full size and resizing.
    """
    p = Path(path)
    image_size(p, max_pixels)
    img = _read_cv2(p, reduce)
    if img is None:
        img = _read_pil(p, reduce)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise PhotoError(p, f"unexpected decoded shape {img.shape}")
    return np.ascontiguousarray(img)


_CV2_REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                8: cv2.IMREAD_REDUCED_COLOR_8}


def _read_cv2(p: Path, reduce: int) -> np.ndarray | None:
    """Fast path: OpenCV decodes JPEG/PNG/TIFF/WebP/BMP and applies EXIF orientation itself."""
    if p.suffix.lower() not in {".jpg", ".jpeg", ".png", ".webp", ".bmp"}:
        return None
    try:
        flag = _CV2_REDUCED.get(reduce, cv2.IMREAD_COLOR)
        data = np.fromfile(p, dtype=np.uint8)  # works with non-ASCII paths, unlike cv2.imread
        bgr = cv2.imdecode(data, flag)
    except (cv2.error, OSError, ValueError):
        return None
    if bgr is None or bgr.ndim != 3:
        return None
    if p.suffix.lower() in {".jpg", ".jpeg"} and not _jpeg_complete(data):
        raise PhotoError(p, "truncated JPEG (no end-of-image marker)")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if reduce > 1 and flag == cv2.IMREAD_COLOR:
        rgb = cv2.resize(rgb, None, fx=1 / reduce, fy=1 / reduce, interpolation=cv2.INTER_AREA)
    return rgb


def _jpeg_complete(data: np.ndarray) -> bool:
    tail = data[-64:].tobytes()
    return b"\xff\xd9" in tail


def _read_pil(p: Path, reduce: int) -> np.ndarray:
    """Careful path for everything else: 16-bit, palette, CMYK, RGBA, TIFF, odd modes."""
    try:
        with Image.open(p) as im:
            if reduce > 1 and im.format == "JPEG":
                im.draft("RGB", (im.width // reduce, im.height // reduce))
            im.load()
            im = ImageOps.exif_transpose(im)
            arr = _to_rgb8(im)
    except PhotoError:
        raise
    except Image.DecompressionBombError:
        raise PhotoError(p, "image too large (decompression bomb guard)") from None
    except (OSError, SyntaxError, ValueError) as e:
        msg = str(e) or type(e).__name__
        if "truncated" in msg.lower():
            raise PhotoError(p, "truncated image file") from None
        raise PhotoError(p, f"cannot decode image: {msg}") from None
    if reduce > 1 and max(arr.shape[:2]) > 1:
        h, w = arr.shape[:2]
        target = (max(1, round(w / reduce)), max(1, round(h / reduce)))
        if (w, h) != target:
            arr = cv2.resize(arr, target, interpolation=cv2.INTER_AREA)
    return arr


def _to_rgb8(im: Image.Image) -> np.ndarray:
    """Convert any PIL mode to RGB uint8; transparency is composited on white."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        g = np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)
