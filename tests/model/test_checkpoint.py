"""Checkpoints: round trip, refusal of pickles carrying code, and every misfit is a CheckpointError."""
import json
import pickle

import pytest
import torch

from spotscale.data.errors import CheckpointError
from spotscale.model.checkpoint import load_checkpoint, save_checkpoint
from spotscale.model.net import build_net


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(0)
    net = build_net(width=8)
    net.train()
    net(torch.randn(8, 4, 32, 32))  # non-trivial BatchNorm statistics
    net.eval()
    path = save_checkpoint(tmp_path / "m.pt", net, {"arch_kwargs": {"width": 8}, "temperature": 1.5})
    return net, path


def test_round_trip_gives_the_same_outputs(saved):
    net, path = saved
    x, sc = torch.randn(5, 4, 32, 32), torch.randn(5, 3)
    loaded, meta = load_checkpoint(path)
    torch.testing.assert_close(loaded(x, sc), net(x, sc), atol=1e-4, rtol=1e-4)
    assert meta["classes"] == ["petechia", "purpura", "other"] and meta["temperature"] == 1.5
    assert meta["crop"]["mm_per_crop_px"] == 0.25 and "disclaimer" in meta and meta["versions"]["torch"]


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))  # would create a file when unpickled


# torch warns that a bare pickle's protocol is not its own before the weights-only unpickler refuses it
@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_a_pickle_with_code_is_refused_without_running_it(saved, tmp_path):
    _, path = saved
    marker = tmp_path / "payload_ran"
    bad = tmp_path / "evil.pt"
    torch.save({"x": _Payload(str(marker))}, bad)  # a real torch zip holding a malicious pickle
    bad.with_suffix(".json").write_text(path.with_suffix(".json").read_text())
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(bad)
    assert not marker.exists()
    raw = tmp_path / "raw.pt"  # a bare (non-zip) pickle too
    raw.write_bytes(pickle.dumps(_Payload(str(marker))))
    raw.with_suffix(".json").write_text(path.with_suffix(".json").read_text())
    with pytest.raises(CheckpointError):
        load_checkpoint(raw)
    assert not marker.exists()


def test_truncated_file(saved, tmp_path):
    _, path = saved
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    cut.with_suffix(".json").write_text(path.with_suffix(".json").read_text())
    with pytest.raises(CheckpointError, match="cut.pt: truncated or not a checkpoint"):
        load_checkpoint(cut)


def test_missing_metadata(saved):
    _, path = saved
    path.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="metadata m.json is missing"):
        load_checkpoint(path)


def test_other_number_of_classes_than_the_metadata(saved):
    _, path = saved
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["classes"] = ["a", "b", "c", "d"]
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="do not fit the network.*shape"):
        load_checkpoint(path)


def test_expected_classes_and_crop_size(saved):
    _, path = saved
    with pytest.raises(CheckpointError, match="classes .* differ"):
        load_checkpoint(path, expect_classes=("petechia", "other"))
    with pytest.raises(CheckpointError, match="crop size 32 px differs from the expected 48"):
        load_checkpoint(path, expect_size_px=48)


def test_missing_keys(saved, tmp_path):
    net, path = saved
    state = net.state_dict()
    state.pop(next(iter(state)))
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(path)
