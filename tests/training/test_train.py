"""Training runs: the loss goes down, runs are reproducible, the run folder is complete, DDP on 2 CPUs."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from spotscale.data.errors import ConfigError
from spotscale.model.crops import CropConfig
from spotscale.model.net import build_net
from spotscale.training.config import load_config, to_toml
from spotscale.training.datasets import build_samples, rle_crop, split_by_photo
from spotscale.training.engine import train_one_epoch
from spotscale.training.train import run_training

sys.path.insert(0, str(Path(__file__).parent))
from tiny_coco import write_tiny_coco  # noqa: E402

TINY = dict(epochs=2, batch_size=16, width=8, threads=1, unknown_scale_prob=0.0, patience=5)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_coco(tmp_path_factory.mktemp("tiny"), n_photos=4, per_class=3)


def test_samples_targets_and_split_by_photo(tiny):
    s = build_samples(tiny, CropConfig(pad_px=4))
    assert s.counts() == {"petechia": 12, "purpura": 12, "other": 12}
    tr, va = split_by_photo(s, 0.25, seed=0)
    assert len(set(s.photo[tr]) & set(s.photo[va])) == 0 and len(va) == 9


def test_several_sources_join_photo_by_photo(tiny):
    doc = json.loads(Path(tiny).read_text())
    for a in doc["annotations"][::3]:  # a second source over the same photos: some spots as hard negatives
        a["category_id"], a["attributes"] = 4, {"hard_negative": True}
    second = Path(tiny).with_name("second.json")
    second.write_text(json.dumps({**doc, "annotations": doc["annotations"][::3]}))
    one = build_samples(tiny, CropConfig())
    both = build_samples([tiny, second], CropConfig())
    assert len(both.photos) == len(one.photos) == 4
    assert len(both) == len(one) + 12 and both.n_hard_negatives == 12
    assert both.counts()["other"] == one.counts()["other"] + 12
    tr, va = split_by_photo(both, 0.25, seed=0)
    assert len(set(both.photo[tr]) & set(both.photo[va])) == 0


def test_rle_crop_matches_the_bbox():
    h = 10
    counts = [23, 2, 8, 2, 65]  # column 2 rows 3-4, column 3 rows 3-4 in a 10 x 10 image
    bbox, m = rle_crop({"counts": counts, "size": [h, 10]}, (2, 3, 2, 2))
    assert bbox == (2, 3, 2, 2) and m.all()


def test_a_tiny_training_run_lowers_the_loss(tiny):
    torch.manual_seed(0)
    cfg = load_config(**TINY)
    s = build_samples(tiny, cfg.crop)
    idx = np.arange(len(s))
    net = build_net(width=8)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    cfg.augment.enabled = False
    losses = [train_one_epoch(net, s, idx, opt, loss_fn, cfg.augment, cfg.crop, 0, epoch, 12).loss
              for epoch in range(6)]
    before, after = losses[0], losses[-1]
    assert after < 0.7 * before


def test_run_folder_and_reproducibility(tiny, tmp_path):
    cfg = load_config(**TINY)
    a = run_training(tiny, tmp_path / "a", cfg, progress=False)
    b = run_training(tiny, tmp_path / "b", load_config(**TINY), progress=False)
    for name in ("config.toml", "model.pt", "model.json", "metrics.json", "learning_curves.png",
                 "confusion_matrix.png", "reliability.png"):
        assert (tmp_path / "a" / name).is_file(), name
    ma, mb = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in "ab")
    assert ma == mb
    assert a["history"] == b["history"]
    assert ma["validation"]["classes"] == ["petechia", "purpura", "other"]
    assert set(ma["validation"]) >= {"per_class", "macro_f1", "confusion_matrix", "ece_before", "ece_after"}
    assert load_config(tmp_path / "a" / "config.toml") == cfg


def test_config_errors(tmp_path):
    bad = tmp_path / "t.toml"
    bad.write_text("epochz = 3\n")
    with pytest.raises(ConfigError, match="unknown setting 'epochz'"):
        load_config(bad)
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        load_config(epochs=0)
    assert "[crop]" in to_toml(load_config())


def _free_port() -> int:
    """A TCP port free on this machine now: a fixed one failed (EADDRINUSE) when two test runs overlapped."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_run(tiny, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           "-m", "spotscale.inference.cli", "train", "--data", str(tiny), "--out", str(out),
           "--epochs", "1", "--batch-size", "8", "--threads", "1", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert (out / "model.pt").is_file()
