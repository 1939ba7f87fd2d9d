"""Crops per second of the spot classifier (crop extraction + forward) on this machine's CPU threads."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from spotscale.data.types import Scale, Spot
from spotscale.inference.classify import classify, logits_of
from spotscale.model.checkpoint import DEFAULT_WEIGHTS, load_checkpoint, save_checkpoint
from spotscale.model.net import build_net


def _photo(n: int, seed: int = 0) -> tuple[np.ndarray, list[Spot]]:
    """A 2000 x 1500 photo with n red discs of 0.5-10 mm at 0.05 mm/px, as Spots with contours."""
    rng = np.random.default_rng(seed)
    img = np.full((1500, 2000, 3), (215, 175, 155), np.uint8)
    spots = []
    for i in range(n):
        x, y, r = rng.uniform(50, 1950), rng.uniform(50, 1450), rng.uniform(5, 100) if i % 10 == 0 else rng.uniform(5, 20)
        cv2.circle(img, (int(x), int(y)), int(r), (140, 40, 60), -1)
        t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        spots.append(Spot(spot_id=i, x=x, y=y, bbox=(int(x - r), int(y - r), int(2 * r) + 1, int(2 * r) + 1),
                          area_px=np.pi * r * r, diameter_px=2 * r,
                          contour=tuple(zip(x + r * np.cos(t), y + r * np.sin(t)))))
    return img, spots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="spots in the photo")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--checkpoint", default=str(DEFAULT_WEIGHTS), help="checkpoint (default: the shipped model)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if Path(args.checkpoint).is_file():
        net, meta = load_checkpoint(args.checkpoint)
    else:
        import tempfile
        path = save_checkpoint(tempfile.mkdtemp() + "/m.pt", build_net(), {})
        net, meta = load_checkpoint(path)
    img, spots = _photo(args.n)
    scale = Scale(mm_per_px=0.05, source="manual")
    classify(img, spots[:64], scale, net, meta)  # warm-up
    from spotscale.model.crops import CropConfig, crop_batch
    t0, c0 = time.perf_counter(), time.process_time()
    batch = crop_batch(img, spots, 0.05, CropConfig.from_dict(meta["crop"]))
    t1, c1 = time.perf_counter(), time.process_time()
    classify(img, spots, scale, net, meta)
    t2, c2 = time.perf_counter(), time.process_time()
    print(f"threads={torch.get_num_threads()} spots={len(spots)} crop size={meta['crop']['size_px']} px "
          f"net {meta.get('arch')} {meta.get('arch_kwargs')}")
    print(f"crop extraction only: {len(spots) / (t1 - t0):.0f} crops/s")
    for bs in (256, 1024):
        t = time.perf_counter()
        logits_of(net, batch.images, batch.scalars, bs)
        print(f"forward only, batch {bs}: {len(spots) / (time.perf_counter() - t):.0f} crops/s")
    print(f"classify (crops + forward + softmax): {len(spots) / (t2 - t1):.0f} crops/s")
    print(f"CPU seconds per 1000 crops (all threads; robust on a shared machine): extraction "
          f"{1000 * (c1 - c0) / len(spots):.2f}, classify {1000 * (c2 - c1) / len(spots):.2f}")


if __name__ == "__main__":
    main()
