"""A tiny COCO dataset drawn with OpenCV whose classes are known by construction (fast, for tests)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from spotscale.data.coco import category_id, rle_encode_crop, write_coco

# (category, radius range in mm, RGB colour)
KINDS = (("petechia", (0.3, 0.8), (150, 30, 45)), ("purpura", (2.5, 4.5), (110, 40, 90)),
         ("other", (1.0, 2.0), (95, 70, 50)))


def write_tiny_coco(out_dir: Path, n_photos: int = 6, seed: int = 0, mm_per_px: float = 0.1,
                    size: tuple[int, int] = (320, 240), per_class: int = 4) -> Path:
    """Photos of plain skin with `per_class` discs of each class; returns annotations.json."""
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    w, h = size
    images, anns = [], []
    for k in range(n_photos):
        skin = np.array([220, 180, 160]) * rng.uniform(0.8, 1.05)
        img = (skin + rng.normal(0, 4, (h, w, 3))).clip(0, 255).astype(np.uint8)
        taken = np.zeros((h, w), bool)
        for cat, (r0, r1), colour in KINDS:
            for _ in range(per_class):
                r_px = rng.uniform(r0, r1) / mm_per_px
                for _try in range(30):
                    x, y = rng.uniform(r_px + 2, w - r_px - 2), rng.uniform(r_px + 2, h - r_px - 2)
                    x0, y0 = int(x - r_px - 3), int(y - r_px - 3)
                    x1, y1 = int(x + r_px + 4), int(y + r_px + 4)
                    if not taken[max(y0, 0):y1, max(x0, 0):x1].any():
                        break
                else:
                    continue
                m = np.zeros((h, w), np.uint8)
                cv2.circle(m, (int(round(x * 16)), int(round(y * 16))), int(round(r_px * 16)), 1, -1, shift=4)
                mask = m.astype(bool)
                taken[max(y0, 0):y1, max(x0, 0):x1] = True
                img[mask] = np.array(colour) * rng.uniform(0.85, 1.1)
                ys, xs = np.nonzero(mask)
                bx, by = int(xs.min()), int(ys.min())
                bw, bh = int(xs.max()) - bx + 1, int(ys.max()) - by + 1
                d_mm = 2 * r_px * mm_per_px
                anns.append({"id": len(anns) + 1, "image_id": k + 1, "category_id": category_id(cat),
                             "bbox": [bx, by, bw, bh], "area": float(mask.sum()), "iscrowd": 0,
                             "segmentation": rle_encode_crop(mask[by:by + bh, bx:bx + bw], (bx, by, bw, bh), h, w),
                             "attributes": {"diameter_mm": d_mm, "eq_diameter_mm": d_mm, "subtype": cat,
                                            "borderline": False}})
        name = f"tiny_{k:03d}.png"
        cv2.imwrite(str(out_dir / "images" / name), img[..., ::-1])
        images.append({"id": k + 1, "file_name": name, "width": w, "height": h, "mm_per_px": mm_per_px})
    return write_coco(out_dir / "annotations.json", images, anns, {"description": "tiny test set"})
