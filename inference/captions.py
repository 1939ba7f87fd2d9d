"""Lines of text drawn over a photo (a caption, a red watermark): where they lie.

Red letters are as red as blood to every colour test, and their dots and round parts passed as
petechiae. They are told from spots by their arrangement: a text line is a row of thin shapes
(letters, whose strokes are much narrower than they are tall) of one stroke width and one size, a
letter's gap apart, along a straight line; or, where blur joins the letters, one long shape with a
letter's hole that its strokes fill only partly. Spots are round; a hair broken into pieces is a
row of thin pieces too, but no taller across the row than its own width. The line's band is then
treated as an overlay is (segment._overlay): no spot's core, ring or outline.

bench_annotations dev (8000000.., 12 photos), false haemorrhagic labels on the text: red at 45 %
opacity 135 -> 26, opaque red 39 -> 16; plain, white-text and red-shape photos unchanged but for 3
false labels fewer on a looped red scratch.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_GLYPHS = 4  # a row of at least this many letters
THIN = 2.5  # a letter is at least this many stroke widths tall or wide
STROKE_RATIO = 1.7  # letters of one line: stroke widths within this factor
SIZE_RATIO = 2.5  # ...sizes (largest bbox side) within this factor
GAP = 0.8  # ...and at most this x the larger one's size apart (bbox to bbox)
ROW_RESIDUAL = 0.35  # the letters' centres within this x their median size of one straight line
ROW_HEIGHT = 2.5  # ...and the row this many stroke widths high across it at least (not a broken hair)
MARGIN = 0.5  # the line's band: the letters' rotated box grown by this x their median size (JPEG colour rings)
LOCAL_PX = 9  # letters are outlined at half the highest SNR this close (working px)
DARKER = 0.95  # text letters at most this x as bright as the skin between them (median luma)
WORD_LENGTH = 2.5  # a word of joined letters: its box at least this x as long as high
WORD_FILL = (0.15, 0.7)  # ...and its strokes fill this share of the box


def text_lines(snr: np.ndarray, region: np.ndarray, low: float, luma: np.ndarray, min_snr: float) -> np.ndarray:
    """Bool mask of the dark text lines in a blood-contrast map `snr` within `region` (bool), same
    shape: each line's rotated box, which also holds its dots, commas and the round parts of its
    letters. `luma`: the image's brightness on the same grid; only lines whose letters are darker
    than the skin between them are taken (white or yellow letters, lighter than the skin, are left
    to the segmentation's own overlay tests, which keep the spots under them), and whose letters'
    median SNR is `min_snr` or more: red letters measured 37-300 (bench_annotations dev), black
    ones 6, crossing hairs that passed for a word 3.4-4.1 (clinic renderer dev).

    Letters are looked for above half the highest SNR within LOCAL_PX: at `low` the blurred letters
    of a strongly coloured word fill its counters and gaps into one blob.
    """
    local = cv2.dilate(snr, np.ones((LOCAL_PX, LOCAL_PX), np.uint8))
    pos = (snr > low) & region & (snr >= 0.5 * local)
    out = np.zeros(pos.shape, bool)
    n, lab, stats, cents = cv2.connectedComponentsWithStats(pos.view(np.uint8), connectivity=8)
    if n <= MIN_GLYPHS:
        return out
    dt = cv2.distanceTransform(pos.view(np.uint8), cv2.DIST_L2, 3)
    stroke = np.zeros(n, np.float32)
    np.maximum.at(stroke, lab.ravel(), dt.ravel())
    stroke *= 2.0
    size = np.maximum(stats[:, 2], stats[:, 3]).astype(np.float32)
    glyph = np.flatnonzero((size >= THIN * np.maximum(stroke, 1.0)) & (stats[:, 4] >= 4))
    glyph = glyph[glyph > 0]
    for g in glyph:  # a whole word joined into one shape (letters a blur apart)
        x, y, w, h, _ = stats[g]
        box = _word_box(lab[y:y + h, x:x + w] == g, float(stroke[g]))
        if box is not None:
            (cx, cy), (bw, bh), angle = box
            _fill_box(out, ((cx + x, cy + y), (bw, bh), angle), MARGIN * min(bw, bh), pos, luma, snr, min_snr)
    if len(glyph) < MIN_GLYPHS:
        return out
    parent = {int(g): int(g) for g in glyph}

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    x0, y0 = stats[glyph, 0].astype(np.float32), stats[glyph, 1].astype(np.float32)
    x1, y1 = x0 + stats[glyph, 2], y0 + stats[glyph, 3]
    for a in range(len(glyph)):
        gx = np.maximum(0, np.maximum(x0[a], x0) - np.minimum(x1[a], x1))  # bbox gaps
        gy = np.maximum(0, np.maximum(y0[a], y0) - np.minimum(y1[a], y1))
        i, j = glyph[a], glyph
        big = np.maximum(size[i], size[j])
        near = ((np.hypot(gx, gy) <= GAP * big)
                & (np.maximum(stroke[i], stroke[j]) <= STROKE_RATIO * np.minimum(stroke[i], stroke[j]))
                & (big <= SIZE_RATIO * np.minimum(size[i], size[j])))
        near[a] = False
        for b in np.flatnonzero(near):
            ra, rb = root(int(i)), root(int(j[b]))
            if ra != rb:
                parent[ra] = rb
    groups: dict[int, list[int]] = {}
    for g in glyph:
        groups.setdefault(root(int(g)), []).append(int(g))
    for members in groups.values():
        if len(members) < MIN_GLYPHS:
            continue
        pix = [_pixels(lab, stats, m) for m in members]
        if _is_row(members, pix, cents, stroke, size):
            _fill_box(out, cv2.minAreaRect(np.concatenate(pix)), MARGIN * float(np.median(size[members])), pos,
                      luma, snr, min_snr)
    return out


def _pixels(lab: np.ndarray, stats: np.ndarray, m: int) -> np.ndarray:
    """Component m's pixels as (x, y) rows, float32, image px."""
    x, y, w, h, _ = stats[m]
    ys, xs = np.nonzero(lab[y:y + h, x:x + w] == m)
    return np.c_[xs + x, ys + y].astype(np.float32)


def _fill_box(out: np.ndarray, rect, grow: float, letters: np.ndarray, luma: np.ndarray, snr: np.ndarray,
              min_snr: float) -> None:
    """Set (in place) the rotated rectangle `rect` (cv2.minAreaRect form) grown by `grow` px all
    round, if the `letters` in it are darker in `luma` than the rest of it and their median SNR is
    `min_snr` or more."""
    (cx, cy), (w, h), angle = rect
    box = cv2.boxPoints(((cx, cy), (w + 2 * grow, h + 2 * grow), angle))
    band = np.zeros(out.shape, np.uint8)
    cv2.fillConvexPoly(band, np.round(box).astype(np.int32), 1)
    band = band > 0
    ink, rest = luma[band & letters], luma[band & ~letters]
    if (ink.size and rest.size and float(np.median(ink)) < DARKER * float(np.median(rest))
            and float(np.median(snr[band & letters])) >= min_snr):
        out |= band


def _word_box(mask: np.ndarray, stroke: float):
    """The rotated box (cv2.minAreaRect, mask px) of a component that is a word of joined letters, or
    None: a box at least WORD_LENGTH x as long as high and ROW_HEIGHT strokes high, which the strokes
    fill only partly (WORD_FILL), with a letter's hole in it. A hair or a pen line is no higher than
    its stroke, a row of merged petechiae neither; an arc fills its box thinly; a cluster is not long."""
    contours, hierarchy = cv2.findContours(mask.view(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None or not (hierarchy[0][:, 3] >= 0).any():
        return None  # no hole
    pts = np.argwhere(mask)[:, ::-1].astype(np.float32)
    rect = cv2.minAreaRect(pts)
    long_side, short_side = max(rect[1]) + 1.0, min(rect[1]) + 1.0
    fill = float(mask.sum()) / (long_side * short_side)
    if (long_side >= WORD_LENGTH * short_side and short_side >= ROW_HEIGHT * max(stroke, 1.0)
            and WORD_FILL[0] <= fill <= WORD_FILL[1]):
        return rect
    return None


def _is_row(members: list[int], pix: list[np.ndarray], cents: np.ndarray, stroke: np.ndarray,
            size: np.ndarray) -> bool:
    """Do these letter-like components (`pix`: each one's pixels, _pixels) lie along one straight
    line, in a row taller than a stroke?"""
    c = cents[members].astype(np.float64)
    centre = c.mean(axis=0)
    w, v = np.linalg.eigh(np.cov((c - centre).T))
    along, across = v[:, 1], v[:, 0]
    med = float(np.median(size[members]))
    if float(np.sqrt(max(w[0], 0.0))) > ROW_RESIDUAL * med:
        return False
    extent = (c - centre) @ along
    if float(extent.max() - extent.min()) < 2.0 * med:
        return False
    heights = []
    for p in pix:
        proj = p @ across.astype(np.float32)
        heights.append(float(proj.max() - proj.min()) + 1.0)
    return float(np.median(heights)) >= ROW_HEIGHT * float(np.median(stroke[members]))
