"""read_photo / image_size: good files of every kind give upright RGB uint8, bad ones a PhotoError.

Every fixture is made here in tmp_path; the expected pixels are known by construction.
"""
from __future__ import annotations

import io
import math
import os
import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, features

from spotscale.data import photo
from spotscale.data.errors import ConfigError, PhotoError
from spotscale.data.photo import choose_reduce, image_size, read_photo

QUADRANTS = ((200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40))


def upright(w: int = 48, h: int = 32) -> np.ndarray:
    """Four flat quadrants in distinct colours: any flip or rotation is visible."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2], a[: h // 2, w // 2:] = QUADRANTS[0], QUADRANTS[1]
    a[h // 2:, : w // 2], a[h // 2:, w // 2:] = QUADRANTS[2], QUADRANTS[3]
    return a


# EXIF spec: how the stored pixels relate to the upright scene for each orientation value.
# STORE[o] turns the upright picture into what a camera writes with tag o.
STORE = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],                     # mirrored horizontally
    3: lambda a: a[::-1, ::-1],                  # rotated 180
    4: lambda a: a[::-1],                        # mirrored vertically
    5: lambda a: a.transpose(1, 0, 2),           # mirrored along the main diagonal
    6: lambda a: np.rot90(a, 1),                 # stored rotated 90 CCW, shown rotated 90 CW
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # mirrored along the anti-diagonal
    8: lambda a: np.rot90(a, -1),                # stored rotated 90 CW, shown rotated 90 CCW
}


def save(path: Path, a: np.ndarray, orientation: int = 1, **kw) -> Path:
    """Save stored pixels `a` with an EXIF orientation tag."""
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    Image.fromarray(np.ascontiguousarray(a)).save(path, exif=exif.tobytes(), **kw)
    return path


def mad(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


@pytest.mark.parametrize("suffix,kw,tol", [
    (".jpg", {"quality": 95, "subsampling": 0}, 3.0), (".png", {}, 0.0), (".webp", {"lossless": True}, 0.0),
    (".tif", {}, 0.0), (".bmp", {}, 0.0),
])
def test_plain_formats_read_as_rgb_uint8(tmp_path, suffix, kw, tol):
    up = upright()
    p = tmp_path / f"a{suffix}"
    Image.fromarray(up).save(p, **kw)
    img = read_photo(p)
    assert img.dtype == np.uint8 and img.shape == (32, 48, 3) and img.flags.c_contiguous
    assert mad(img, up) <= tol
    assert image_size(p) == (48, 32)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("suffix,kw,tol", [
    (".jpg", {"quality": 95, "subsampling": 0}, 3.0), (".png", {}, 0.0), (".webp", {"lossless": True}, 0.0),
    (".tif", {}, 0.0), (".tiff", {"compression": "tiff_lzw"}, 0.0), (".avif", {"quality": 95}, 6.0),
])
def test_all_eight_exif_orientations_read_upright(tmp_path, orientation, suffix, kw, tol):
    if suffix == ".avif" and not features.check("avif"):
        pytest.skip("this Pillow has no AVIF support")
    up = upright()
    p = save(tmp_path / f"o{orientation}{suffix}", STORE[orientation](up), orientation, **kw)
    img = read_photo(p)
    assert mad(img, up) <= tol
    assert img.flags.writeable and img.flags.c_contiguous  # callers draw on it
    assert image_size(p) == (48, 32)  # upright size, the shape read_photo returns


@pytest.mark.parametrize("orientation", range(1, 9))
def test_heic_reads_upright_through_pillow_heif(tmp_path, orientation):
    # iPhones' default format; the opener is registered by read_photo on a HEIF header, here first
    # only so that Pillow can write the file
    assert photo.register_heif()
    up = upright()
    p = save(tmp_path / f"o{orientation}.heic", STORE[orientation](up), orientation, quality=95)
    assert mad(read_photo(p), up) <= 6.0
    assert image_size(p) == (48, 32)


def test_heic_opener_is_registered_when_a_heif_file_comes(tmp_path, monkeypatch):
    assert photo.register_heif()
    p = save(tmp_path / "a.heic", upright(), quality=95)
    monkeypatch.delitem(Image.OPEN, "HEIF")  # as in a fresh process
    assert mad(read_photo(p), upright()) <= 6.0


def test_heic_without_pillow_heif_names_what_is_missing(tmp_path, monkeypatch):
    assert photo.register_heif()
    p = save(tmp_path / "IMG_0001.HEIC", upright(), quality=90)
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # import fails, as when not installed
    monkeypatch.delitem(Image.OPEN, "HEIF")
    with pytest.raises(PhotoError, match=r"IMG_0001.HEIC: .*HEIC/HEIF photo, not supported without pillow-heif"):
        read_photo(p)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_opencv_and_pillow_paths_agree_on_orientation(tmp_path, orientation, monkeypatch):
    p = save(tmp_path / "a.jpg", STORE[orientation](upright()), orientation, quality=95, subsampling=0)
    fast = read_photo(p)
    monkeypatch.setattr(photo, "_cv2_can", lambda hdr: False)
    careful = read_photo(p)
    assert mad(fast, careful) < 1.5


def test_cmyk_jpeg_has_correct_colours_in_both_decoders(tmp_path):
    up = upright()
    p = tmp_path / "cmyk.jpg"
    Image.fromarray(up).convert("CMYK").save(p, quality=95)
    assert Image.open(p).mode == "CMYK"
    img = read_photo(p)
    assert mad(img, up) < 4
    for (y, x), colour in zip([(8, 12), (8, 36), (24, 12), (24, 36)], QUADRANTS):
        assert np.abs(img[y, x].astype(int) - colour).max() <= 6
    bgr = cv2.imdecode(np.fromfile(p, np.uint8), cv2.IMREAD_COLOR)
    assert mad(bgr[:, :, ::-1], img) < 4


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
@pytest.mark.parametrize("w,h", [(101, 67), (48, 32), (7, 5), (1, 1)])
def test_reduce_gives_ceil_sizes(tmp_path, suffix, w, h):
    rng = np.random.default_rng(w)
    p = tmp_path / f"r{suffix}"
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(p)
    for k in (1, 2, 4, 8):
        assert read_photo(p, reduce=k).shape == (math.ceil(h / k), math.ceil(w / k), 3)


@pytest.mark.parametrize("suffix,kw", [
    (".jpg", {"quality": 95, "subsampling": 0}), (".png", {}), (".tif", {}),
    (".tif", {"compression": "tiff_lzw"}),  # compressed TIFF: Pillow's libtiff path
])
@pytest.mark.parametrize("orientation", [1, 6, 7])
def test_reduced_rotated_matches_rotated_full_downsized(tmp_path, suffix, kw, orientation):
    up = cv2.resize(upright(), (192, 128), interpolation=cv2.INTER_NEAREST)
    up = cv2.GaussianBlur(up, (0, 0), 3)
    p = save(tmp_path / f"big{suffix}", STORE[orientation](up), orientation, **kw)
    full = read_photo(p)
    for k in (2, 4, 8):
        small = read_photo(p, reduce=k)
        expect = cv2.resize(full, (math.ceil(192 / k), math.ceil(128 / k)),
                            interpolation=cv2.INTER_AREA)
        assert mad(small, expect) < 3


def test_one_pixel_and_tiny_images(tmp_path):
    for suffix in (".png", ".jpg"):
        p = tmp_path / f"one{suffix}"
        Image.fromarray(np.full((1, 1, 3), (10, 200, 90), np.uint8)).save(p, quality=100)
        img = read_photo(p)
        assert img.shape == (1, 1, 3)
        assert np.abs(img[0, 0].astype(int) - (10, 200, 90)).max() <= 4
        assert read_photo(p, reduce=8).shape == (1, 1, 3)


def test_16_bit_grey_png_and_tiff_scale_to_8_bit(tmp_path):
    g16 = np.array([[0, 257 * 100, 65535]], np.uint16)
    for suffix in (".png", ".tif"):
        p = tmp_path / f"g16{suffix}"
        Image.fromarray(g16).save(p)
        img = read_photo(p)
        assert img[0, :, 0].tolist() == [0, 100, 255]
        assert (img[..., 0] == img[..., 2]).all()


def test_16_bit_rgb_png_and_tiff_keep_the_high_byte(tmp_path):
    a16 = np.zeros((2, 3, 3), np.uint16)
    a16[0, 0] = (256 * 200, 256 * 30 + 255, 256 * 7)  # B, G, R as OpenCV writes them
    for suffix in (".png", ".tiff"):
        p = tmp_path / f"c16{suffix}"
        assert cv2.imwrite(str(p), a16)
        assert read_photo(p)[0, 0].tolist() == [7, 30, 200]


def test_greyscale_palette_and_transparency(tmp_path):
    grey = np.arange(0, 240, 10, dtype=np.uint8).reshape(4, 6)
    Image.fromarray(grey).save(tmp_path / "g.png")
    img = read_photo(tmp_path / "g.png")
    assert (img == grey[:, :, None]).all()

    pal = Image.fromarray(upright()).quantize(colors=4)
    pal.save(tmp_path / "p.png")
    assert mad(read_photo(tmp_path / "p.png"), upright()) == 0
    assert read_photo(tmp_path / "p.png").flags.writeable

    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (200, 0, 0, 0)      # fully transparent -> white
    rgba[0, 1] = (200, 0, 0, 255)    # opaque -> itself
    rgba[1, 0] = (0, 0, 0, 128)      # half black over white -> ~127
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    img = read_photo(tmp_path / "t.png")
    assert img[0, 0].tolist() == [255, 255, 255]
    assert img[0, 1].tolist() == [200, 0, 0]
    assert abs(int(img[1, 0, 0]) - 127) <= 1

    la = np.zeros((1, 2, 2), np.uint8)
    la[0, 0], la[0, 1] = (0, 0), (60, 255)  # transparent black -> white; opaque grey 60
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    assert read_photo(tmp_path / "la.png")[0].tolist() == [[255] * 3, [60] * 3]

    p = Image.new("P", (2, 1))
    p.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    p.putpixel((0, 0), 0)
    p.putpixel((1, 0), 1)
    p.info["transparency"] = 0
    p.save(tmp_path / "pt.png", transparency=0)
    assert read_photo(tmp_path / "pt.png")[0].tolist() == [[255, 255, 255], [0, 0, 255]]


def test_non_ascii_and_space_file_names(tmp_path):
    p = tmp_path / "Fläche ümlaut 写真 1.jpg"
    Image.fromarray(upright()).save(p, quality=95)
    assert read_photo(p).shape == (32, 48, 3)


def test_jpeg_with_trailing_data_after_end_marker_reads(tmp_path):
    """Motion photos append a video after the JPEG's end marker: that is not truncation."""
    p = tmp_path / "motion.jpg"
    Image.fromarray(upright()).save(p, quality=95)
    clean = read_photo(p)
    with open(p, "ab") as f:
        f.write(b"ftypmp42" + bytes(range(256)) * 40)
    assert mad(read_photo(p), clean) == 0


def _noisy_jpeg(path: Path) -> bytes:
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(path, quality=90)
    return path.read_bytes()


def _bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, expected cause regex); each a kind of broken file met in real folders."""
    d = {}
    (tmp / "empty.jpg").write_bytes(b"")
    d["empty"] = (tmp / "empty.jpg", "empty file")
    (tmp / "notes.jpg").write_text("shopping list: milk, eggs\n")
    d["text as jpg"] = (tmp / "notes.jpg", "not an image file: looks like a text file")
    (tmp / "folder.png").mkdir()
    d["directory"] = (tmp / "folder.png", "is a directory")
    (tmp / "dangling.jpg").symlink_to(tmp / "gone.jpg")
    d["broken symlink"] = (tmp / "dangling.jpg", "broken symlink")
    (tmp / "loop_a.jpg").symlink_to(tmp / "loop_b.jpg")
    (tmp / "loop_b.jpg").symlink_to(tmp / "loop_a.jpg")
    d["symlink loop"] = (tmp / "loop_a.jpg", "symlink loop")
    d["missing"] = (tmp / "never.jpg", "no such file")
    data = _noisy_jpeg(tmp / "full.jpg")
    (tmp / "cut.jpg").write_bytes(data[: int(len(data) * 0.6)])
    d["truncated jpeg"] = (tmp / "cut.jpg", "truncated")
    (tmp / "head.jpg").write_bytes(data[:40])
    d["jpeg cut in header"] = (tmp / "head.jpg", "truncated|cannot read image header")
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64, 3), np.uint8)).save(buf, "PNG")
    (tmp / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    d["truncated png"] = (tmp / "cut.png", "truncated|cannot decode")
    (tmp / "doc.jpg").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(200))
    d["pdf"] = (tmp / "doc.jpg", "PDF")
    (tmp / "iphone.jpg").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(200))
    d["heic"] = (tmp / "iphone.jpg", "HEIC")
    os.mkfifo(tmp / "pipe.jpg")
    d["fifo"] = (tmp / "pipe.jpg", "not a regular file")
    (tmp / "eps.jpg").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n")
    d["eps (never run Ghostscript)"] = (tmp / "eps.jpg", "not an image file")
    cv2.imwrite(str(tmp / "float.tif"), np.full((8, 8, 3), 0.5, np.float32))  # Pillow cannot read float RGB
    d["float tiff"] = (tmp / "float.tif", "TIFF whose samples cannot be read .*32-bit floating point")
    return d


BAD_NAMES = ["empty", "text as jpg", "directory", "broken symlink", "symlink loop", "missing",
             "truncated jpeg", "jpeg cut in header", "truncated png", "pdf", "heic", "fifo",
             "eps (never run Ghostscript)", "float tiff"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_files_give_one_line_photo_error_naming_file_and_cause(tmp_path, name):
    path, cause = _bad_files(tmp_path)[name]
    body_only = name in ("truncated jpeg", "truncated png")  # the header alone looks fine
    for call in (read_photo,) if body_only else (read_photo, image_size):
        with pytest.raises(PhotoError, match=cause) as ei:
            call(path)
        assert path.name in str(ei.value) and "\n" not in str(ei.value)
        assert ei.value.path == str(path)


def test_unreadable_file_permission_denied(tmp_path, monkeypatch):
    p = tmp_path / "secret.jpg"
    Image.fromarray(upright()).save(p)
    if os.geteuid() != 0:
        p.chmod(0)
    else:  # root ignores file modes: simulate what the kernel says to other users
        real_open = os.open

        def deny(path, *a, **kw):
            if Path(path) == p:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *a, **kw)
        monkeypatch.setattr(photo.os, "open", deny)
    with pytest.raises(PhotoError, match="permission denied"):
        read_photo(p)


def test_file_vanishing_between_listing_and_reading(tmp_path, monkeypatch):
    p = tmp_path / "a.jpg"
    Image.fromarray(upright()).save(p)
    listed = sorted(tmp_path.iterdir())
    p.unlink()
    with pytest.raises(PhotoError, match="no such file"):
        read_photo(listed[0])
    # Vanishing after the open: the reader holds the file, so it still reads it whole.
    Image.fromarray(upright()).save(p)
    real_probe = photo._probe

    def probe_then_delete(path, f, max_pixels):
        hdr = real_probe(path, f, max_pixels)
        os.unlink(path)
        return hdr
    monkeypatch.setattr(photo, "_probe", probe_then_delete)
    assert read_photo(p).shape == (32, 48, 3)
    assert not p.exists()


def _png_bomb(path: Path, side: int = 50_000) -> Path:
    """A valid 1-bit side x side PNG of zeros, ~300 KB, built without a 300 MB buffer."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    block = bytes(1 + side // 8) * 1000  # 1000 rows: filter byte + packed bits
    c = zlib.compressobj(9)
    seg = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)  # self-contained: can be repeated
    fin = c.flush()
    adler = 1
    for _ in range(side // 1000):
        adler = zlib.adler32(block, adler)
    stream = seg + seg[2:] * (side // 1000 - 1) + fin[:-4] + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", stream)
                     + chunk(b"IEND", b""))
    return path


def test_decompression_bomb_refused_from_header_before_decoding(tmp_path, monkeypatch):
    bomb = _png_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 400_000

    def no_decoding(*a, **kw):
        raise AssertionError("decoded a bomb")
    monkeypatch.setattr(photo.cv2, "imdecode", no_decoding)
    monkeypatch.setattr(Image.Image, "load", no_decoding)
    for call in (read_photo, image_size):
        with pytest.raises(PhotoError, match="2500000000 pixels, over the limit of 100000000"):
            call(bomb)


def test_pixel_limit_is_configurable(tmp_path):
    p = tmp_path / "a.png"
    Image.fromarray(upright(100, 50)).save(p)
    with pytest.raises(PhotoError, match="100x50 = 5000 pixels, over the limit of 4999"):
        read_photo(p, max_pixels=4999)
    assert read_photo(p, max_pixels=5000).shape == (50, 100, 3)
    assert read_photo(p, max_pixels=np.int64(5000)).shape == (50, 100, 3)
    for bad in (0, -1, 1e8, "100", None):
        with pytest.raises(ConfigError, match="max_pixels"):
            read_photo(p, max_pixels=bad)


def test_bad_reduce_is_a_config_error(tmp_path):
    p = tmp_path / "a.png"
    Image.fromarray(upright()).save(p)
    for k in (0, 3, 16, -2):
        with pytest.raises(ConfigError, match="reduce"):
            read_photo(p, reduce=k)


@pytest.mark.parametrize("w,h,limit,k", [
    (100, 100, 10_000, 1), (8000, 6000, 24_000_000, 2), (8000, 6000, 3_000_000, 4),
    (8000, 6000, 749_999, 8), (8000, 6000, 1, 8), (101, 101, 51 * 51, 2),
])
def test_choose_reduce_known_answers(w, h, limit, k):
    assert choose_reduce(w, h, limit) == k


def test_png_chunk_claiming_gigabytes_never_reaches_opencv(tmp_path, monkeypatch):
    """Found by the fuzz tests: OpenCV allocates whatever a corrupt PNG chunk length says."""
    buf = io.BytesIO()
    Image.fromarray(upright()).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    idat = data.index(b"IDAT") - 4
    data[idat:idat + 4] = (3_774_874_235).to_bytes(4, "big")
    p = tmp_path / "liar.png"
    p.write_bytes(bytes(data))

    def no_opencv(*a, **kw):
        raise AssertionError("OpenCV got a lying PNG")
    monkeypatch.setattr(photo.cv2, "imdecode", no_opencv)
    assert mad(read_photo(p), upright()) == 0  # the pixel data itself is intact: Pillow reads it
    data[idat + 8:idat + 20] = bytes(12)  # now break the compressed data too
    p.write_bytes(bytes(data))
    with pytest.raises(PhotoError, match="liar.png: (truncated|cannot decode)"):
        read_photo(p)


def test_file_far_larger_than_its_pixels_is_not_read(tmp_path, monkeypatch):
    p = tmp_path / "padded.png"
    Image.fromarray(upright(4, 4)).save(p)
    with open(p, "ab") as f:
        f.write(bytes(5000))
    assert read_photo(p).shape == (4, 4, 3)
    monkeypatch.setattr(photo, "_TRAILER_MAX_BYTES", 1000)
    with pytest.raises(PhotoError, match="padded.png: file is 0 MB, far more than a 4x4 image"):
        read_photo(p)


def _matrix_profile(name: str, columns, gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 RGB matrix/TRC display profile (D50 PCS), built byte by byte."""
    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(v) -> bytes:
        return b"XYZ " + bytes(4) + b"".join(s15(c) for c in v)

    curv = b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)
    text = name.encode() + b"\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(79)
    d50 = (0.9642, 1.0, 0.8249)
    tags = [(b"desc", desc), (b"wtpt", xyz(d50)), (b"rXYZ", xyz(columns[0])),
            (b"gXYZ", xyz(columns[1])), (b"bXYZ", xyz(columns[2])), (b"rTRC", curv),
            (b"gTRC", curv), (b"bTRC", curv), (b"cprt", b"text" + bytes(4) + b"none\0\0\0\0")]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        data += bytes(-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (struct.pack(">I", offset + len(body)) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntr"
              + b"RGB XYZ " + bytes(12) + b"acsp" + bytes(28)
              + b"".join(s15(c) for c in d50) + bytes(48))
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


# Display P3 and sRGB primaries, adapted to D50: columns of their RGB -> XYZ(D50) matrices.
P3_D50 = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))
SRGB_D50 = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7142))


def _p3_to_srgb(rgb: np.ndarray) -> np.ndarray:
    """The colour science, independently of littlecms: decode, P3 -> XYZ -> sRGB, encode."""
    lin = (rgb / 255.0) ** 2.2
    xyz = lin @ np.array(P3_D50)  # rows of the column lists = matrix transposed
    out = np.clip(xyz @ np.linalg.inv(np.array(SRGB_D50)), 0, 1)
    enc = np.where(out <= 0.0031308, 12.92 * out, 1.055 * out ** (1 / 2.4) - 0.055)
    return np.round(enc * 255)


def test_display_p3_photo_is_converted_to_srgb(tmp_path):
    colours = np.array([[[200, 100, 100], [128, 128, 128], [90, 140, 60], [30, 40, 160]]], np.uint8)
    icc = _matrix_profile("Test Display P3", P3_D50)
    for suffix, kw, tol in ((".png", {}, 2), (".jpg", {"quality": 100, "subsampling": 0}, 4)):
        p = tmp_path / f"p3{suffix}"
        big = np.repeat(np.repeat(colours, 8, axis=0), 8, axis=1)  # 8x8 blocks survive JPEG
        Image.fromarray(big).save(p, icc_profile=icc, **kw)
        got = read_photo(p)[::8, ::8].astype(int)
        assert np.abs(got - _p3_to_srgb(colours)).max() <= tol
        assert got[0, 0, 0] >= 212  # the P3 red is redder in sRGB numbers than it was stored


def test_srgb_and_broken_profiles_leave_pixels_alone(tmp_path):
    from PIL import ImageCms
    a = upright()
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for name, icc in (("srgb", srgb), ("broken", b"\0" * 40 + b"acsp" + bytes(300))):
        Image.fromarray(a).save(tmp_path / f"{name}.png", icc_profile=icc)
        assert mad(read_photo(tmp_path / f"{name}.png"), a) == 0


# ----------------------------------------------------------------------------- subsampled chroma

def _dotted_skin(w: int = 96, h: int = 64) -> np.ndarray:
    """Skin-coloured background with red dots 2 px wide: sharp in brightness and in colour."""
    a = np.full((h, w, 3), (200, 160, 140), np.uint8)
    for x in range(9, w - 8, 12):
        a[h // 2 - 1:h // 2 + 1, x:x + 2] = (150, 40, 50)
    return a


@pytest.mark.parametrize("sampling, subsampled", [("4:2:0", True), ("4:2:2", True), ("4:4:4", False)])
def test_header_says_whether_jpeg_chroma_is_subsampled(tmp_path, sampling, subsampled):
    p = tmp_path / "a.jpg"
    Image.fromarray(_dotted_skin()).save(p, quality=95, subsampling=sampling)
    assert photo.open_photo(p).header.chroma_subsampled is subsampled
    Image.fromarray(_dotted_skin()).save(tmp_path / "a.png")
    assert photo.open_photo(tmp_path / "a.png").header.chroma_subsampled is False


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
@pytest.mark.parametrize("mode, kw, subsampled", [("RGB", {"quality": 90}, True), ("RGB", {"lossless": True}, False),
                                                   ("RGBA", {"quality": 90}, True)])
def test_lossy_webp_counts_as_chroma_subsampled(tmp_path, mode, kw, subsampled):
    a = _dotted_skin()
    if mode == "RGBA":
        a = np.dstack([a, np.full(a.shape[:2], 255, np.uint8)])
    p = tmp_path / "a.webp"
    Image.fromarray(a).save(p, **kw)
    assert photo.open_photo(p).header.chroma_subsampled is subsampled


def test_small_dots_get_back_their_colour_in_a_420_jpeg(tmp_path):
    """A 2 px red dot in a 4:2:0 JPEG loses most of its colour contrast; restore_chroma gives it back."""
    a = _dotted_skin()
    p = tmp_path / "dots.jpg"
    Image.fromarray(a).save(p, quality=100, subsampling="4:2:0")
    plain = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
    restored = read_photo(p)
    dots = np.all(a == (150, 40, 50), axis=2)

    def cr(img):  # red chroma
        return cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)[..., 1].astype(float)

    err_plain = np.abs(cr(plain) - cr(a))[dots].mean()
    err_restored = np.abs(cr(restored) - cr(a))[dots].mean()
    assert err_plain > 8  # the dots' colour really is washed out by the subsampling
    assert err_restored < 0.6 * err_plain  # measured 12.4 against 23.6
    flat = np.ones_like(dots)
    flat[:, :] = False
    flat[:12], flat[-12:] = True, True  # rows far from any dot: plain skin stays as it was
    assert mad(restored[flat], a[flat]) < 1.0


def test_chroma_is_left_alone_for_444_png_and_large_photos(tmp_path, monkeypatch):
    a = _dotted_skin()
    p444 = tmp_path / "full.jpg"
    Image.fromarray(a).save(p444, quality=95, subsampling="4:4:4")
    assert np.array_equal(read_photo(p444), cv2.cvtColor(cv2.imread(str(p444)), cv2.COLOR_BGR2RGB))
    p420 = tmp_path / "sub.jpg"
    Image.fromarray(a).save(p420, quality=95, subsampling="4:2:0")
    assert not np.array_equal(read_photo(p420), cv2.cvtColor(cv2.imread(str(p420)), cv2.COLOR_BGR2RGB))
    monkeypatch.setattr(photo, "RESTORE_CHROMA_MAX_PIXELS", a.shape[0] * a.shape[1] - 1)
    assert np.array_equal(read_photo(p420), cv2.cvtColor(cv2.imread(str(p420)), cv2.COLOR_BGR2RGB))


def test_restore_chroma_keeps_luma_and_flat_colour():
    rng = np.random.default_rng(0)
    noise = rng.integers(-12, 13, (37, 53, 3))
    a = np.clip(_dotted_skin(53, 37).astype(int) + noise, 0, 255).astype(np.uint8)  # odd sizes: the half grid rounds up
    out = photo.restore_chroma(a)
    assert out.shape == a.shape and out.dtype == np.uint8
    y_in = cv2.cvtColor(a, cv2.COLOR_RGB2YCrCb)[..., 0].astype(int)
    y_out = cv2.cvtColor(out, cv2.COLOR_RGB2YCrCb)[..., 0].astype(int)
    assert np.abs(y_out - y_in).max() <= 3  # luma only moves by the rounding of the colour round trip
    flat = np.full((20, 30, 3), (180, 120, 100), np.uint8)
    assert np.abs(photo.restore_chroma(flat).astype(int) - flat).max() <= 1
