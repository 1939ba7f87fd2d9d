"""Where a mm ruler's tick run may lie: blocks of the reduced image whose local spectrum has one sharp peak.

A row of printed ticks is a short periodic pattern: in a 32 x 32 px block that holds part of it, the
power spectrum has a narrow peak at (1 / period) in the direction of the ruler's axis. Hair, creases,
text and edges spread their power along lines or over many frequencies instead, so the share of the
block's band power in the peak's 3 x 3 bins ("concentration") separates ticks from clutter whatever the
ruler's colour, orientation or background. Neighbouring blocks that agree in direction and period are
joined into runs; each run gives an axis line (image px of the searched image, (x, y)) for the
full-resolution tick measurement in scale.py, which decides whether it really is a ruler.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

BLOCK = 32  # block side (px of the searched image)
STRIDE = 16  # half-overlapping blocks: a tick run on a block border is still seen whole by one block
MIN_PERIOD_PX = 2.4  # finer ticks are not resolved
MAX_PERIOD_PX = 11.0  # a 32 px block holds ~3 periods at this period; coarser ticks: search a half-size copy
MIN_CONCENTRATION = 0.3  # share of (whitened) band power in the peak's 3 x 3 bins; white noise: ~0.04
MIN_BLOCKS = 3  # >= 15 mm of ticks at >= 2.4 px per mm spans at least 3 half-overlapping blocks
MIN_BLOCK_STD = 3.0  # grey levels: blocks flatter than this hold no printed ticks


@dataclass(frozen=True)
class TickRun:
    """A run of blocks with one tick direction: axis line end points (x, y), peak period, score.

    `period_px` is the period of the strongest whitened spectral peak: the tick period or, for thin
    sharp ticks, one of its harmonics (period / 2, / 3 ...); it orders candidates, it is not the scale.
    """

    a: tuple[float, float]
    b: tuple[float, float]
    period_px: float
    score: float
    n_blocks: int


def tick_runs(gray: np.ndarray, max_runs: int = 6) -> list[TickRun]:
    """Candidate tick runs in a grey image (any dtype), best first; coordinates are px of `gray`.

    Runs found on a half-size copy (ticks coarser than MAX_PERIOD_PX) are returned in `gray`'s px.
    """
    g = np.asarray(gray)
    groups = _groups_at(g, 1.0)
    if min(g.shape) >= 4 * BLOCK:  # close-ups: ticks of 11-22 px period
        half = cv2.resize(g, (g.shape[1] // 2, g.shape[0] // 2), interpolation=cv2.INTER_AREA)
        groups += [gr for gr in _groups_at(half, 2.0) if gr[1] > MAX_PERIOD_PX]
    groups.sort(key=lambda gr: -gr[0])
    runs: list[TickRun] = []
    for gr in groups:
        run = _run(*gr[2:])
        if not any(_same_pattern(run, kept) for kept in runs):
            runs.append(run)
        if len(runs) >= max_runs:
            break
    return runs


def _same_pattern(run: TickRun, kept: TickRun) -> bool:
    """True when `run` is parallel to `kept` (within 10 degrees) and lies on or beside its axis line.

    A striped cloth or a grille gives many groups of one direction along one strip; checking them all
    would use up the candidates before a ruler's single run elsewhere is looked at. scale.py searches
    `kept`'s axis line well beyond the run and a band across it, which holds a ruler's other tick edge.
    """
    a, b = np.array(kept.a), np.array(kept.b)
    u = (b - a) / max(float(np.linalg.norm(b - a)), 1e-9)
    v = np.subtract(run.b, run.a)
    if abs(float(v @ u)) < math.cos(math.radians(10)) * float(np.linalg.norm(v)):
        return False
    c = 0.5 * (np.array(run.a) + np.array(run.b)) - a
    return abs(float(c[0] * u[1] - c[1] * u[0])) <= 3 * BLOCK


def _groups_at(g: np.ndarray, f: float) -> list[tuple]:
    """Groups of agreeing tick blocks of one image: (score, period px in the caller's px, _run arguments)."""
    peaks = _block_peaks(g)
    if peaks is None:
        return []
    conc, fx, fy, ys, xs = peaks
    hit = conc >= MIN_CONCENTRATION
    if not hit.any():
        return []
    labels = _group(hit, fx, fy)
    sizes = np.bincount(labels.ravel())
    groups = []
    for lab in np.nonzero(sizes >= MIN_BLOCKS)[0]:
        if lab == 0:
            continue
        sel = labels == lab
        period = f / float(np.median(np.hypot(fx[sel], fy[sel])))
        groups.append((float(conc[sel].sum()), period, g, conc[sel], fx[sel], fy[sel], xs[sel], ys[sel], f))
    return groups


def _block_peaks(g: np.ndarray):
    """Per block: peak concentration, peak frequency (cycles/px, x and y), block centre (y, x); or None."""
    h, w = g.shape
    if h < BLOCK or w < BLOCK:
        return None
    gf = g if g.dtype == np.float32 else g.astype(np.float32)
    view = sliding_window_view(gf, (BLOCK, BLOCK))[::STRIDE, ::STRIDE]
    gy, gx = view.shape[:2]
    std = _block_std(g if g.dtype == np.uint8 else gf, gy, gx)
    active = np.nonzero(std >= MIN_BLOCK_STD)[0]  # flat blocks hold no printed ticks: no FFT for them
    conc = np.zeros(gy * gx, np.float32)
    fx, fy = np.zeros(gy * gx), np.zeros(gy * gx)
    if len(active):
        blocks = view[active // gx, active % gx]  # gathers only the active blocks
        conc[active], fx[active], fy[active] = _peak_concentration(blocks)
    cy = (np.arange(gy) * STRIDE + BLOCK / 2 - 0.5)[:, None] * np.ones((1, gx))
    cx = (np.arange(gx) * STRIDE + BLOCK / 2 - 0.5)[None, :] * np.ones((gy, 1))
    shape = (gy, gx)
    return conc.reshape(shape), fx.reshape(shape), fy.reshape(shape), cy, cx


def _peak_concentration(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block: share of whitened band power in the strongest peak's 3 x 3 bins, peak (fx, fy) cycles/px."""
    win = np.outer(np.hanning(BLOCK), np.hanning(BLOCK)).astype(np.float32)
    # no mean removal: the Hann window keeps the block mean within 2 bins of DC, below the band
    spec = scipy.fft.rfft2(blocks * win)  # float32 in, complex64 out
    power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
    ky = np.fft.fftfreq(BLOCK)[:, None] * np.ones((1, BLOCK // 2 + 1))
    kx = np.fft.rfftfreq(BLOCK)[None, :] * np.ones((BLOCK, 1))
    rad = np.hypot(kx, ky)
    band = (rad >= 1.0 / MAX_PERIOD_PX) & (rad <= 1.0 / MIN_PERIOD_PX)
    # x f^2 whitens the 1/f^2 power of edges and shading: they then spread over all radii, ticks do not
    pb = power * np.where(band, rad ** 2, 0.0).astype(np.float32)[None]
    total = pb.sum(axis=(1, 2)) + 1e-6
    iy, ix = np.unravel_index(pb.reshape(len(pb), -1).argmax(axis=1), band.shape)
    near = np.zeros(len(pb), np.float32)
    rows = np.arange(len(pb))
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            jx = ix + dx
            ok = (jx >= 0) & (jx < band.shape[1])
            near += np.where(ok, pb[rows, (iy + dy) % BLOCK, np.clip(jx, 0, band.shape[1] - 1)], 0)
    return near / total, kx[iy, ix], ky[iy, ix]


def _block_std(g: np.ndarray, gy: int, gx: int) -> np.ndarray:
    """Grey-level standard deviation of each block (from integral images), flattened like the blocks."""
    s1, s2 = cv2.integral2(g, sdepth=cv2.CV_32S if g.dtype == np.uint8 else cv2.CV_64F, sqdepth=cv2.CV_64F)
    s1 = s1.astype(np.float64, copy=False)
    y0 = np.arange(gy)[:, None] * STRIDE
    x0 = np.arange(gx)[None, :] * STRIDE

    def box(s: np.ndarray) -> np.ndarray:
        return s[y0 + BLOCK, x0 + BLOCK] - s[y0, x0 + BLOCK] - s[y0 + BLOCK, x0] + s[y0, x0]

    n = float(BLOCK * BLOCK)
    return np.sqrt(np.maximum(box(s2) / n - (box(s1) / n) ** 2, 0.0)).ravel()


def _group(hit: np.ndarray, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """Label 8-connected hit blocks whose peak frequencies agree (direction within ~15 deg, period 25 %)."""
    labels = np.zeros(hit.shape, np.int32)
    gh, gw = hit.shape
    nxt = 0
    for y0, x0 in zip(*np.nonzero(hit)):
        if labels[y0, x0]:
            continue
        nxt += 1
        labels[y0, x0] = nxt
        stack = [(y0, x0)]
        while stack:
            y, x = stack.pop()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    v, u = y + dy, x + dx
                    if 0 <= v < gh and 0 <= u < gw and hit[v, u] and not labels[v, u] and \
                            _same_peak(fx[y, x], fy[y, x], fx[v, u], fy[v, u]):
                        labels[v, u] = nxt
                        stack.append((v, u))
    return labels


def _same_peak(ax: float, ay: float, bx: float, by: float) -> bool:
    """Two frequency vectors (sign-free) within 15 degrees and 25 % in magnitude of each other."""
    na, nb = math.hypot(ax, ay), math.hypot(bx, by)
    if not (0.8 < na / nb < 1.25):
        return False
    return abs(ax * bx + ay * by) / (na * nb) > math.cos(math.radians(15))


def _axis_direction(g: np.ndarray, xs: np.ndarray, ys: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The run's axis from the grey gradients over its blocks (tick strokes' gradients point along it).

    The block peaks quantise direction to a spectral bin (~5 degrees); a strip misaligned by that much
    drifts off the tick row along a long ruler. The gradient structure tensor of the strokes, summed
    over the run's blocks, gives the direction to a fraction of a degree; kept only within 12 degrees
    of the block estimate (else clutter dominates and the block estimate stands). Only gradients
    within 20 degrees of the block estimate count, so the ruler's long edges do not pull it across.
    """
    x0, y0 = int(max(0, xs.min() - BLOCK / 2)), int(max(0, ys.min() - BLOCK / 2))
    x1, y1 = int(min(g.shape[1], xs.max() + BLOCK / 2 + 1)), int(min(g.shape[0], ys.max() + BLOCK / 2 + 1))
    crop = g[y0:y1, x0:x1]
    if min(crop.shape) < 5:
        return u
    gx = cv2.Sobel(crop, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(crop, cv2.CV_32F, 0, 1, ksize=3)
    inside = np.zeros(crop.shape, bool)
    for x, y in zip(xs, ys):
        inside[int(max(0, y - BLOCK / 2 - y0)):int(y + BLOCK / 2 - y0 + 1),
               int(max(0, x - BLOCK / 2 - x0)):int(x + BLOCK / 2 - x0 + 1)] = True
    mag2 = gx * gx + gy * gy
    near = inside & (np.abs(gx * u[0] + gy * u[1]) > math.cos(math.radians(20)) * np.sqrt(mag2))
    if near.sum() < 20:
        return u
    # gradients within 20 deg of the axis only: the ruler's own long edges (across) must not pull
    jxx, jxy, jyy = (float((a * b)[near].sum()) for a, b in ((gx, gx), (gx, gy), (gy, gy)))
    ang = 0.5 * math.atan2(2 * jxy, jxx - jyy)
    v = np.array([math.cos(ang), math.sin(ang)])
    return v if abs(float(v @ u)) > math.cos(math.radians(12)) else u


def _run(g: np.ndarray, conc, fx, fy, xs, ys, f: float) -> TickRun:
    """Axis line through a group of blocks along their tick direction (see _axis_direction)."""
    wgt = conc / conc.sum()
    ang2 = np.arctan2(2 * fx * fy, fx ** 2 - fy ** 2)  # doubled angle: +f and -f are one direction
    mean2 = math.atan2(float((wgt * np.sin(ang2)).sum()), float((wgt * np.cos(ang2)).sum()))
    u = np.array([math.cos(mean2 / 2), math.sin(mean2 / 2)])
    period = 1.0 / float(np.median(np.hypot(fx, fy)))
    c = np.array([float((wgt * xs).sum()), float((wgt * ys).sum())])
    u = _axis_direction(g, xs, ys, u)
    t = (xs - c[0]) * u[0] + (ys - c[1]) * u[1]
    a = c + (float(t.min()) - BLOCK / 2) * u
    b = c + (float(t.max()) + BLOCK / 2) * u
    to = (lambda p: (float((p[0] + 0.5) * f - 0.5), float((p[1] + 0.5) * f - 0.5)))
    return TickRun(to(a), to(b), period * f, float(conc.sum()), int(len(conc)))
