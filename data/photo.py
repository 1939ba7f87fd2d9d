"""Photo reading: any common file in, an EXIF-upright RGB uint8 array out, or a PhotoError.

Every failure a user's folder can produce (missing, empty, truncated, not an image, a directory,
a broken or looping symlink, no permission, a decompression bomb, a file that vanishes) becomes a
one-line `PhotoError(path, cause)`; nothing else escapes `read_photo` or `image_size`.

How a read goes: the file is opened once (so it cannot vanish half-way), its header is probed with
Pillow (size, format, mode, EXIF orientation) and the pixel limit is checked BEFORE any decoding;
then the bytes are decoded, by OpenCV for ordinary 8-bit JPEG / PNG (fast) and by Pillow for
everything else (16-bit, palette, transparency, CMYK, TIFF, WebP, BMP, AVIF, and HEIC/HEIF through
pillow-heif, registered the first time a HEIF header is seen). Both decoders ignore EXIF
orientation and this module applies it itself, so both paths give identical upright pixels. RGB photos with an embedded non-sRGB
colour profile (Display P3 from phones, Adobe RGB) are converted to sRGB; CMYK photos are
converted without their profile (Adobe-inverted CMYK is handled). A JPEG or WebP that stores its
colour at half resolution (4:2:0 or 4:2:2: nearly every camera and web JPEG, every lossy WebP) and has at most
RESTORE_CHROMA_MAX_PIXELS gets its colour re-sharpened along its luma (`restore_chroma`): there a
petechia is 1-3 px wide and the subsampling would wash out the colour it is found by.

Large photos: `read_photo(path, reduce=k)` (k in 1, 2, 4, 8) returns an image of
ceil(W/k) x ceil(H/k) pixels; JPEGs are decoded directly at that size by libjpeg's DCT scaling
(a 50 MP photo at k=4 peaks at ~30 MB instead of ~300 MB, in a fifth of the time), other formats
are decoded and then area-averaged. Reduced pixel (x', y') covers full-size pixels
k*x' .. k*x'+k-1, so its centre is at full-size x = (x' + 0.5) * k - 0.5. The pipeline
(inference/pipeline.py) reads photos over its analysis limit (40 MP) at
k = choose_reduce(*image_size(path), limit), analyses the reduced image (the scale it finds is
in mm per reduced pixel) and maps spot positions and sizes back to the stored image.
"""
from __future__ import annotations

import errno
import io
import math
import operator
import os
import re
import stat
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
# Register exactly the plugins _PIL_FORMATS names (Image.open(formats=...) needs them loaded).
from PIL import BmpImagePlugin, GifImagePlugin, JpegImagePlugin, MpoImagePlugin  # noqa: F401
from PIL import PngImagePlugin, TiffImagePlugin, WebPImagePlugin  # noqa: F401

try:  # Pillow >= 11.2 reads AVIF itself
    from PIL import AvifImagePlugin  # noqa: F401
except ImportError:
    pass

from spotscale.data.errors import ConfigError, PhotoError

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".tif", ".tiff", ".webp",
                            ".bmp", ".avif"})
DEFAULT_MAX_PIXELS = 100_000_000  # refuse larger images before decoding (decompression bombs)
REDUCE_FACTORS = (1, 2, 4, 8)
# Subsampled-chroma JPEGs up to this size get their colour re-sharpened along luma (restore_chroma):
# their spots are a few px wide. Larger photos' spots are wider than the chroma blur, and the filter
# would cost a 12 MP photo about as much as its decode.
RESTORE_CHROMA_MAX_PIXELS = 4_200_000

# Formats Pillow may identify (JPEG includes multi-picture MPO); anything else (EPS, which runs
# Ghostscript, PSD, ICO...) is refused.
_PIL_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP", "BMP", "GIF")
# Also taken when their plugin is registered: AVIF (Pillow >= 11.2), HEIF (register_heif, done by
# _probe when a file's header is one).
_OPTIONAL_FORMATS = ("AVIF", "HEIF")
# ISO base media brands of HEIC/HEIF stills and sequences (phones write heic / mif1)
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
_CV2_MODES = frozenset({"RGB", "L"})  # 8-bit modes OpenCV decodes exactly like Pillow
_ORIENTATION_TAG = 0x0112
# A file larger than 16 bytes per pixel (uncompressed 16-bit RGBA is 8) plus 64 MB of trailer
# (phones append videos to "motion photos") is not read into memory.
_BYTES_PER_PIXEL_MAX = 16
_TRAILER_MAX_BYTES = 64_000_000


@dataclass(frozen=True)
class _Header:
    """What the file's header says, before any pixel is decoded (size as stored, pre-EXIF)."""

    width: int
    height: int
    format: str
    mode: str
    orientation: int  # EXIF orientation 1..8 (1 when absent or invalid)
    transparent: bool
    icc: bytes | None = field(default=None, repr=False)  # embedded colour profile, if any
    chroma_subsampled: bool = False  # colour stored at a lower resolution than luma (4:2:0 / 4:2:2 JPEG, lossy WebP)

    @property
    def upright_size(self) -> tuple[int, int]:
        """(width, height) after the EXIF orientation is applied."""
        swap = self.orientation in (5, 6, 7, 8)
        return (self.height, self.width) if swap else (self.width, self.height)


def image_size(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) of the photo as read_photo returns it (EXIF applied), from the header only.

    Checks the pixel limit, so it raises the same PhotoError read_photo would for a bomb.
    """
    p = Path(path)
    _check_limit_arg(max_pixels)
    with _open(p) as f:
        return _probe(p, f, max_pixels).upright_size


def choose_reduce(width: int, height: int, max_work_pixels: int) -> int:
    """Smallest k in (1, 2, 4, 8) for which the reduced image has at most max_work_pixels."""
    for k in REDUCE_FACTORS:
        if math.ceil(width / k) * math.ceil(height / k) <= max_work_pixels:
            return k
    return REDUCE_FACTORS[-1]


def read_photo(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS,
               reduce: int = 1) -> np.ndarray:
    """Read a photo as an RGB uint8 array (H, W, 3) with its EXIF orientation applied.

    `max_pixels` limits the stored width x height, checked from the header before decoding.
    `reduce` in {1, 2, 4, 8} returns ceil(W/k) x ceil(H/k); JPEGs are decoded at that size
    directly (libjpeg DCT scaling), which is much faster than decoding full size and resizing.
    """
    return open_photo(path, max_pixels).decode(reduce)


@dataclass(frozen=True)
class PhotoFile:
    """A photo's bytes and header, read and checked but not yet decoded (see open_photo)."""

    path: Path
    data: bytes = field(repr=False)
    header: _Header

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the decoded image (EXIF orientation applied)."""
        return self.header.upright_size

    @property
    def dct_scalable(self) -> bool:
        """True when decode(reduce=k) costs a fraction of a full decode (libjpeg DCT scaling)."""
        return self.header.format in ("JPEG", "MPO") and _cv2_can(self.header)

    def decode(self, reduce: int = 1) -> np.ndarray:
        """The pixels as read_photo returns them; thread-safe (several decodes may run at once)."""
        if reduce not in REDUCE_FACTORS:
            raise ConfigError(f"reduce must be one of {REDUCE_FACTORS}, got {reduce!r}")
        p, data, hdr = self.path, self.data, self.header
        img = _decode_cv2(p, data, hdr, reduce) if _cv2_can(hdr) else None
        orientation = hdr.orientation
        if img is None:
            img, orientation = _decode_pil(p, data, hdr, reduce)
        if hdr.chroma_subsampled and reduce == 1 and img.shape[0] * img.shape[1] <= RESTORE_CHROMA_MAX_PIXELS:
            img = restore_chroma(img)
        if hdr.icc and hdr.mode in ("RGB", "RGBA", "RGBX"):
            img = _to_srgb(img, hdr.icc)
        img = _orient(img, orientation)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or min(img.shape[:2]) < 1:
            raise PhotoError(p, f"unexpected decoded image {img.shape} {img.dtype}")
        return np.require(img, requirements=("C_CONTIGUOUS", "WRITEABLE"))  # Pillow's are read-only


def restore_chroma(rgb: np.ndarray, radius: int = 2, eps: float = 16.0) -> np.ndarray:
    """A subsampled JPEG's colour re-sharpened along its full-resolution luma (a guided filter).

    A 4:2:0 JPEG keeps colour at half the resolution of brightness, so a spot 1-3 px wide has its
    colour spread over twice its width at a fraction of its contrast, while its darkening stays
    sharp. In every window each chroma channel is fitted as a linear function of luma and the
    averaged fit is read at each pixel's luma (He, Sun & Tang, "Guided image filtering", 2013). The
    fits are made on the half-resolution grid the chroma was stored at, windows of (2r+1)^2 of its
    pixels (the fast guided filter, He & Sun 2015); `eps` (luma levels^2) keeps flat windows at their
    mean colour. Luma is left as decoded.
    """
    h, w = rgb.shape[:2]
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    y8 = np.ascontiguousarray(ycc[..., 0])
    y = y8.astype(np.float32)
    small = cv2.resize(ycc, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA).astype(np.float32)
    k = (2 * radius + 1, 2 * radius + 1)
    ys = np.ascontiguousarray(small[..., 0])
    m_y = cv2.boxFilter(ys, -1, k)
    var_y = cv2.boxFilter(cv2.multiply(ys, ys), -1, k) - cv2.multiply(m_y, m_y) + np.float32(eps)
    planes = [y8]
    for ch in (1, 2):
        c = np.ascontiguousarray(small[..., ch])
        m_c = cv2.boxFilter(c, -1, k)
        a = cv2.divide(cv2.boxFilter(cv2.multiply(ys, c), -1, k) - cv2.multiply(m_y, m_c), var_y)
        b = m_c - cv2.multiply(a, m_y)
        a_full = cv2.resize(cv2.boxFilter(a, -1, k), (w, h), interpolation=cv2.INTER_LINEAR)
        b_full = cv2.resize(cv2.boxFilter(b, -1, k), (w, h), interpolation=cv2.INTER_LINEAR)
        q = cv2.threshold(cv2.multiply(a_full, y) + b_full, 0.0, 0.0, cv2.THRESH_TOZERO)[1]  # >= 0
        planes.append(cv2.convertScaleAbs(q))  # rounded, <= 255
    return cv2.cvtColor(cv2.merge(planes), cv2.COLOR_YCrCb2RGB)


def open_photo(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> PhotoFile:
    """Open, probe and read a photo file once (pixel limit checked), to decode later at any size.

    The pipeline decodes the same bytes twice, at 1/4 and at full size, in two threads.
    """
    p = Path(path)
    _check_limit_arg(max_pixels)
    with _open(p) as f:
        hdr = _probe(p, f, max_pixels)
        data = _read_all(p, f, hdr)
    if hdr.format == "WEBP" and hdr.mode in ("RGB", "RGBA") and _webp_lossy(data):
        hdr = replace(hdr, chroma_subsampled=True)  # lossy WebP (VP8) always stores 4:2:0
    return PhotoFile(p, data, hdr)


def _webp_lossy(data: bytes) -> bool:
    """Is a WebP file's image lossy VP8 (chroma at half resolution) rather than lossless VP8L?"""
    pos = 12  # after "RIFF", the size and "WEBP"; chunks follow, each padded to an even size
    for _ in range(64):
        if pos + 8 > len(data):
            return False
        fourcc, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if fourcc in (b"VP8 ", b"VP8L"):
            return fourcc == b"VP8 "
        pos += 8 + size + (size & 1)
    return False


def _check_limit_arg(max_pixels: int) -> None:
    try:
        ok = operator.index(max_pixels) >= 1  # int, numpy integer; not float, str or None
    except TypeError:
        ok = False
    if not ok:
        raise ConfigError(f"max_pixels must be a positive integer, got {max_pixels!r}")


# ----------------------------------------------------------------------------- file access

def _open(p: Path) -> BinaryIO:
    """Open a regular file for reading, turning every OS failure into a PhotoError."""
    try:
        # O_NONBLOCK: a FIFO named x.jpg must not hang us; it is refused below.
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise PhotoError(p, "broken symlink (its target does not exist)" if os.path.islink(p)
                         else "no such file") from None
    except PermissionError:
        raise PhotoError(p, "permission denied") from None
    except IsADirectoryError:
        raise PhotoError(p, "is a directory, not an image") from None
    except OSError as e:
        raise PhotoError(p, _os_cause(e)) from None
    except (ValueError, TypeError) as e:  # e.g. a NUL byte in the path
        raise PhotoError(p, f"invalid path: {e}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise PhotoError(p, "is a directory, not an image")
        if not stat.S_ISREG(st.st_mode):
            raise PhotoError(p, "not a regular file (device, pipe or socket)")
        if st.st_size == 0:
            raise PhotoError(p, "empty file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _os_cause(e: OSError) -> str:
    if e.errno == errno.ELOOP:
        return "symlink loop (too many levels of symbolic links)"
    if e.errno == errno.ENAMETOOLONG:
        return "file name too long"
    return f"cannot open: {e.strerror or e}"


def _read_all(p: Path, f: BinaryIO, hdr: _Header) -> bytes:
    """The whole file, unless it is far larger than any encoding of its pixels could be."""
    try:
        size = os.fstat(f.fileno()).st_size
        most = _BYTES_PER_PIXEL_MAX * hdr.width * hdr.height + _TRAILER_MAX_BYTES
        if size > most:
            raise PhotoError(p, f"file is {size / 1e6:.0f} MB, far more than a {hdr.width}x"
                                f"{hdr.height} image needs (not read)")
        f.seek(0)
        data = f.read()
    except OSError as e:
        raise PhotoError(p, f"read failed: {e.strerror or e}") from None
    if not data:
        raise PhotoError(p, "empty file (emptied while reading)")
    return data


# ----------------------------------------------------------------------------- header probe

def _probe(p: Path, f: BinaryIO, max_pixels: int) -> _Header:
    """Identify the format and size from the header and enforce the pixel limit; decodes nothing."""
    try:
        head = f.read(64)
        f.seek(0)
    except OSError as e:
        raise PhotoError(p, f"read failed: {e.strerror or e}") from None
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        register_heif()  # pillow-heif is imported only once a HEIC/HEIF file comes
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning, corrupt EXIF warnings
            im = Image.open(f, formats=_formats())
            w, h = _stored_size(im)
            icc = im.info.get("icc_profile")
            hdr = _Header(w, h, im.format or "?", im.mode, _orientation_of(im),
                          "transparency" in im.info, icc if isinstance(icc, bytes) else None,
                          _chroma_subsampled(im))
    except UnidentifiedImageError:
        raise PhotoError(p, "not an image file: " + _what_is(head)) from None
    except Image.DecompressionBombError as e:
        raise PhotoError(p, _bomb_cause(str(e), max_pixels)) from None
    except Exception as e:  # noqa: BLE001 - Pillow's parsers raise anything on hostile headers
        if "truncated" in str(e).lower() or isinstance(e, EOFError):
            raise PhotoError(p, f"truncated file (header incomplete: {_short(e)})") from None
        raise PhotoError(p, f"cannot read image header: {_short(e)}") from None
    if w < 1 or h < 1:
        raise PhotoError(p, f"image header says {w}x{h} pixels")
    if w * h > max_pixels:
        raise PhotoError(p, f"image has {w}x{h} = {w * h} pixels, over the limit of {max_pixels} "
                            "(decompression bomb guard); refused before decoding")
    return hdr


def _chroma_subsampled(im: Image.Image) -> bool:
    """Does a YCbCr JPEG store its chroma at a lower resolution than its luma (SOF sampling factors)?"""
    layers = getattr(im, "layer", None)  # JpegImagePlugin: (component id, h, v, quant table) each
    if im.format not in ("JPEG", "MPO") or im.mode != "RGB" or not layers or len(layers) != 3:
        return False
    (_, hy, vy, _), *chroma = layers
    return any(hy > hc or vy > vc for _, hc, vc, _ in chroma)


def register_heif() -> bool:
    """Let Pillow open HEIC/HEIF photos (iPhones' default) through pillow-heif; False without it.

    pillow-heif applies the photo's rotation (HEIF 'irot', or its EXIF orientation) while opening and
    reports orientation 1 after, so the pixels are upright once, as for every other format.
    """
    if "HEIF" in Image.OPEN:
        return True
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def _formats() -> tuple[str, ...]:
    return _PIL_FORMATS + tuple(f for f in _OPTIONAL_FORMATS if f in Image.OPEN)


def _stored_size(im: Image.Image) -> tuple[int, int]:
    """Size of the pixels as stored; Pillow reports TIFFs already swapped for EXIF 5..8."""
    tags = getattr(im, "tag_v2", None)
    if tags is not None and 256 in tags and 257 in tags:  # TIFF ImageWidth, ImageLength
        return int(tags[256]), int(tags[257])
    return im.size


def _bomb_cause(pillow_msg: str, max_pixels: int) -> str:
    """Cause for Pillow's own hard refusal (over 2 x Image.MAX_IMAGE_PIXELS, ~179 MP)."""
    m = re.search(r"\((\d+) pixels\)", pillow_msg)
    n = int(m.group(1)) if m else None
    if n is not None and n > max_pixels:
        return (f"image has {n} pixels, over the limit of {max_pixels} "
                "(decompression bomb guard); refused before decoding")
    return (f"image has {n or 'too many'} pixels, over Pillow's hard limit "
            f"(decompression bomb guard); refused before decoding")


def _orientation_of(im: Image.Image) -> int:
    """EXIF orientation from the header only (the base-class getexif never decodes pixels)."""
    try:
        value = Image.Image.getexif(im).get(_ORIENTATION_TAG, 1)
        value = int(value)
    except Exception:  # noqa: BLE001 - corrupt EXIF is common and harmless: assume upright
        return 1
    return value if 1 <= value <= 8 else 1


def _what_is(head: bytes) -> str:
    """A short guess at what a non-image file is, for the error message."""
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS + (b"avif",):
        if "HEIF" in Image.OPEN:
            return "HEIC/HEIF file that pillow-heif cannot read (damaged, or not a still photo)"
        return "HEIC/HEIF photo, not supported without pillow-heif (pip install pillow-heif, or export as JPEG)"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head[:4] in (b"II*\x00", b"MM\x00*"):  # a TIFF header Pillow would have opened if it could
        return "a TIFF whose samples cannot be read (e.g. 32-bit floating point); export it as 8- or 16-bit"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "unrecognised format"
    if all(c.isprintable() or c in "\r\n\t" for c in text):
        return "looks like a text file"
    return "unrecognised format"


def _short(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return (msg[:160] or type(e).__name__)


# ----------------------------------------------------------------------------- decoding

def _cv2_can(hdr: _Header) -> bool:
    """OpenCV's fast path for 8-bit opaque RGB / grey JPEG and PNG (CMYK etc. go to Pillow)."""
    return (hdr.format in ("JPEG", "MPO", "PNG") and hdr.mode in _CV2_MODES
            and not hdr.transparent)


_CV2_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
              8: cv2.IMREAD_REDUCED_COLOR_8}
# OpenCV >= 4.10 decodes straight to RGB: libjpeg-turbo writes RGB itself, which saves the BGR->RGB
# pass over the whole image (~30 ms of ~120 ms for 12 MP). Older OpenCV: decode BGR and convert.
_CV2_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)


def _decode_cv2(p: Path, data: bytes, hdr: _Header, reduce: int) -> np.ndarray | None:
    """Decode with OpenCV, stored orientation; None hands the file to Pillow (also for errors)."""
    is_jpeg = hdr.format in ("JPEG", "MPO")
    if is_jpeg and b"\xff\xd9" not in data[-64:]:
        return None  # no end-of-image marker near the end: Pillow tells truncated from trailer data
    if hdr.format == "PNG" and not _png_chunks_fit(data):
        return None  # OpenCV would try to allocate what a corrupt chunk length claims (GBs)
    flag = (_CV2_FLAGS[reduce] if is_jpeg else cv2.IMREAD_COLOR) | cv2.IMREAD_IGNORE_ORIENTATION
    if _CV2_RGB is not None:
        flag = (flag & ~cv2.IMREAD_COLOR) | _CV2_RGB
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error:
        return None
    if img is None or img.ndim != 3 or img.shape[2] != 3:
        return None
    if img.shape[:2] != (hdr.height, hdr.width) and (reduce == 1 or not is_jpeg):
        return None  # OpenCV disagrees with the header: let Pillow decide
    if _CV2_RGB is None:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=img)  # in place: a 50 MP photo is 150 MB
    return _resize_to(img, hdr.width, hdr.height, reduce)


def _png_chunks_fit(data: bytes) -> bool:
    """True when every PNG chunk's declared length fits in the file (walks chunk headers only)."""
    i, n = 8, len(data)
    while i + 8 <= n:
        length = int.from_bytes(data[i:i + 4], "big")
        kind = data[i + 4:i + 8]
        i += 12 + length
        if i > n:
            return False
        if kind == b"IEND":
            return True
    return i == n


def _decode_pil(p: Path, data: bytes, hdr: _Header, reduce: int) -> tuple[np.ndarray, int]:
    """Careful path for everything else: 16-bit, palette, CMYK, RGBA, TIFF, odd modes.

    Returns the pixels and the EXIF orientation still to apply: Pillow's TIFF loader applies
    (and then deletes) the orientation tag itself, its other loaders leave it to us.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=_formats()) as im:
                if reduce > 1 and im.format in ("JPEG", "MPO"):
                    im.draft(im.mode, _reduced(hdr.width, hdr.height, reduce))
                im.load()
                left = _orientation_of(im)
                arr = _to_rgb8(im)
    except Image.DecompressionBombError:
        raise PhotoError(p, "image too large (decompression bomb guard)") from None
    except MemoryError:
        raise PhotoError(p, "out of memory while decoding") from None
    except Exception as e:  # noqa: BLE001 - decoders raise many types on corrupt data
        msg = _short(e)
        if "truncated" in msg.lower() or isinstance(e, EOFError):
            raise PhotoError(p, f"truncated {hdr.format} file ({msg})") from None
        raise PhotoError(p, f"cannot decode {hdr.format} image: {msg}") from None
    w, h = hdr.width, hdr.height
    if left != hdr.orientation and hdr.orientation in (5, 6, 7, 8):
        w, h = h, w  # already upright
    return _resize_to(arr, w, h, reduce), left


def _reduced(w: int, h: int, reduce: int) -> tuple[int, int]:
    return max(1, math.ceil(w / reduce)), max(1, math.ceil(h / reduce))


def _resize_to(arr: np.ndarray, w: int, h: int, reduce: int) -> np.ndarray:
    """Bring a w x h decode to exactly ceil(w/k) x ceil(h/k) (area averaging)."""
    tw, th = _reduced(w, h, reduce)
    if arr.shape[1] != tw or arr.shape[0] != th:
        arr = cv2.resize(arr, (tw, th), interpolation=cv2.INTER_AREA)
    return arr


def _to_srgb(rgb: np.ndarray, icc: bytes) -> np.ndarray:
    """Convert pixels encoded in an embedded RGB profile (Display P3, Adobe RGB...) to sRGB.

    Phones tag their photos Display P3; read as sRGB their reds look less saturated. sRGB
    profiles and unusable profiles leave the pixels as they are (never an error).
    """
    from PIL import ImageCms  # local: only photos with a non-sRGB profile need littlecms

    try:
        prof = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if (prof.profile.xcolor_space.strip() != "RGB"
                or "srgb" in ImageCms.getProfileDescription(prof).lower()):
            return rgb
        srgb = ImageCms.createProfile("sRGB")
        transform = ImageCms.buildTransform(prof, srgb, "RGB", "RGB")
        return np.array(ImageCms.applyTransform(Image.fromarray(rgb), transform))
    except Exception:  # noqa: BLE001 - a broken profile must not lose the photo
        return rgb


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation 1..8 to stored pixels, giving the upright image.

    OpenCV's flip / rotate / transpose: a phone's portrait photo (orientation 6) costs ~25 ms at
    12 MP, where a numpy rotation view made contiguous costs ~120 ms (same pixels).
    """
    if orientation == 2:
        return cv2.flip(a, 1)
    if orientation == 3:
        return cv2.rotate(a, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(a, 0)
    if orientation == 5:
        return cv2.transpose(a)
    if orientation == 6:
        return cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.rotate(cv2.transpose(a), cv2.ROTATE_180)
    if orientation == 8:
        return cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return a


def _to_rgb8(im: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to RGB uint8; transparency is composited on white."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.nan_to_num(np.asarray(im, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        top = float(a.max()) if a.size else 0.0
        if im.mode.startswith("I;16") or top > 255:
            hi = 65535.0
        elif im.mode == "F" and top <= 1.0:
            hi = 1.0
        else:
            hi = 255.0
        g = np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
            im.mode in ("P", "L", "RGB") and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)
