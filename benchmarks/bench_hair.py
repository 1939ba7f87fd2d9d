"""Spots under hairs: found, in one piece, and outlined as without the hairs, by hair count and scale.

Legs are hairy, and a hair across a spot cut it into pieces, hid it, or joined it to the hair's line
(benchmarks/known_limits.md, "hair"). This grid draws one spot per scene on plain skin and 0-3 dark hairs through it, and
segments the scene with the true scale (inference.segment, no JPEG):

- spot: 1, 1.5, 3 or 5 mm across, a hard pigment disc or a soft one (its pigment fading out as a
  gaussian, half at that diameter), on light or brown skin;
- scale: 0.031, 0.06 or 0.1 mm per px (a 12 MP photo of a hand's width, a phone photo, a web copy);
- hairs: 0.06 or 0.1 mm wide, dark brown (or, with `--hair light`, blond-grey: lighter than either
  skin), at random angles through the spot's middle half; two hairs cross in a shallow X (20 deg
  apart), a third crosses both.

Per group it prints the scenes, the share where the spot was found (a candidate centred within
max(2 px, its radius) of it), in one piece (exactly one such candidate), and the outline's area over
the same scene's without the hairs (median of |ratio - 1|, and the share more than 20 % off);
candidates elsewhere (on the hairs alone) are counted as false finds.

    .venv/bin/python benchmarks/bench_hair.py [--seed 5100] [--hair dark|light]
"""
from __future__ import annotations

import argparse
import collections
import itertools
import time

import cv2
import numpy as np

DIAMETERS_MM = (1.0, 1.5, 3.0, 5.0)
SCALES = (0.031, 0.06, 0.1)  # mm per px
HAIRS = (0, 1, 2, 3)
HAIR_MM = (0.06, 0.1)
SKINS = {"light": (224, 172, 150), "brown": (150, 100, 75)}
BLOOD_OD = np.array([0.35, 1.6, 1.2], np.float32)  # absorbance R, G, B of a full-strength spot
HAIR_RGB = {"dark": (60, 42, 35), "light": (232, 214, 180)}


def scene(d_mm: float, mm_per_px: float, n_hairs: int, hair_mm: float, soft: bool, skin: str,
          rng: np.random.Generator, hair: str = "dark") -> tuple[np.ndarray, tuple[float, float], float, np.ndarray]:
    """(RGB uint8 scene, spot centre (x, y) px, spot diameter px, the same scene without hairs)."""
    from spotscale.data.synth_skin import linear_to_srgb, srgb_to_linear
    d = d_mm / mm_per_px
    side = int(max(240, 5 * d))
    cx, cy = side / 2 + rng.uniform(-0.5, 0.5), side / 2 + rng.uniform(-0.5, 0.5)
    tex = cv2.GaussianBlur(rng.normal(0, 1, (side, side)).astype(np.float32), (0, 0), 1.5)
    img = np.asarray(SKINS[skin], np.float32) + (tex / tex.std() * 3.0)[..., None]
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    r2 = (xx - cx) ** 2 + (yy - cy) ** 2
    if soft:
        alpha = np.exp(-np.log(2) * r2 / (d / 2) ** 2)
    else:  # the disc's coverage of each pixel, from its distance to the rim (anti-aliased)
        alpha = np.clip(d / 2 - np.sqrt(r2) + 0.5, 0, 1)
    img = 255.0 * linear_to_srgb(srgb_to_linear(img / 255.0) * np.exp(-alpha[..., None] * BLOOD_OD))
    clean = img.copy()
    base = rng.uniform(0, np.pi)
    angles = (base, base + np.radians(20), base + np.radians(75))[:n_hairs]
    width_px = hair_mm / mm_per_px
    for a in angles:
        off = rng.uniform(-d / 4, d / 4)  # through the spot's middle half
        nx, ny = -np.sin(a), np.cos(a)
        dist = np.abs((xx - cx) * nx + (yy - cy) * ny - off)
        cover = np.clip(width_px / 2 - dist + 0.5, 0, 1)[..., None]
        img = img * (1 - cover) + np.asarray(HAIR_RGB[hair], np.float32) * cover
    noise = rng.normal(0, 1.5, img.shape).astype(np.float32)  # the same sensor noise on both

    def finish(x: np.ndarray) -> np.ndarray:
        return np.clip(x + noise + 0.5, 0, 255).astype(np.uint8)
    return finish(img), (cx, cy), d, finish(clean)


def _on_spot(cands, centre: tuple[float, float], d: float) -> tuple[list, int]:
    """The candidates centred on the spot, and how many lie elsewhere."""
    on, off = [], 0
    reach = max(2.0, d / 2)
    for c in cands:
        ys, xs = np.nonzero(c.mask)
        x, y = c.bbox[0] + xs.mean(), c.bbox[1] + ys.mean()
        if np.hypot(x - centre[0], y - centre[1]) <= reach:
            on.append(c)
        else:
            off += 1
    return on, off


def main() -> None:
    from spotscale.inference.segment import segment
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=5100)
    ap.add_argument("--hair", choices=sorted(HAIR_RGB), default="dark", help="the hairs' colour")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    by = collections.defaultdict(list)  # (what, value) -> [(found, one, area ratio or None, false finds)]
    t0 = time.perf_counter()
    n = 0
    for d_mm, mm, hair_mm, soft, skin in itertools.product(DIAMETERS_MM, SCALES, HAIR_MM, (False, True), SKINS):
        for k in HAIRS:
            img, centre, d, clean = scene(d_mm, mm, k, hair_mm, soft, skin, np.random.default_rng(rng.integers(1 << 31)),
                                          a.hair)
            on, off = _on_spot(segment(img, mm_per_px=mm).candidates, centre, d)
            ref = on if k == 0 else _on_spot(segment(clean, mm_per_px=mm).candidates, centre, d)[0]
            clean_area = max((float(c.mask.sum()) for c in ref), default=None)
            ratio = max(float(c.mask.sum()) for c in on) / clean_area if on and clean_area else None
            row = (bool(on), len(on) == 1, ratio, off)
            n += 1
            for key in (("hairs", k), ("mm/px", mm) if k else None, ("spot mm", d_mm) if k else None,
                        ("edge", "soft" if soft else "hard") if k else None, ("skin", skin) if k else None):
                if key is not None:
                    by[key].append(row)
    print(f"bench_hair: {n} scenes (seed {a.seed}, {a.hair} hairs), {time.perf_counter() - t0:.0f} s; groups other than 'hairs' "
          "hold the scenes with hairs only")
    print(f"{'group':<16} {'scenes':>6} {'found':>6} {'1 piece':>8} {'|area/clean-1|':>15} {'>20% off':>9} {'false':>6}")
    for key in sorted(by, key=lambda k: (k[0] != "hairs", k[0], str(k[1]))):
        rows = by[key]
        ratios = np.array([r[2] for r in rows if r[2] is not None])
        err = np.abs(ratios - 1)
        print(f"{key[0] + ' ' + str(key[1]):<16} {len(rows):6d} {np.mean([r[0] for r in rows]):6.2f} "
              f"{np.mean([r[1] for r in rows]):8.2f} {np.median(err) if err.size else float('nan'):15.3f} "
              f"{np.mean(err > 0.2) if err.size else float('nan'):9.2f} {sum(r[3] for r in rows):6d}")


if __name__ == "__main__":
    main()
