"""Checkpoints: a state dict (torch.save, loaded with weights_only=True) plus a metadata JSON beside it.

`net.pt` holds tensors only; `net.json` holds everything needed to use them: classes, arch name
and kwargs, crop config (mm per crop px, size), normalisation, temperature, training data,
metrics, versions, intended use and the disclaimer. A pickle carrying code is refused by
torch's weights-only unpickler without running it.
"""
from __future__ import annotations

import hashlib
import json
import math
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spotscale.data.errors import CheckpointError
from spotscale.data.types import CNN_CLASSES, DISCLAIMER
from spotscale.model.crops import SCALAR_FEATURES, CropConfig
from spotscale.model.net import build_net, fuse_for_inference

FORMAT_VERSION = 1
INTENDED_USE = ("Labels candidate spots in skin photos as petechia / purpura / other for research "
                "and documentation. Trained on synthetic photos; not validated for diagnosis.")
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default.pt"


def save_checkpoint(path: str | Path, net: nn.Module, meta: dict) -> Path:
    """Write net's state dict to `path` (.pt) and the metadata to path.with_suffix('.json')."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = net.module if hasattr(net, "module") else net  # DDP wrapper
    state = {k: v.detach().cpu().clone(memory_format=torch.contiguous_format) for k, v in module.state_dict().items()}
    torch.save(state, path)
    full = {
        "format_version": FORMAT_VERSION,
        "classes": list(CNN_CLASSES),
        "arch": "spotnet",
        "arch_kwargs": {},
        "crop": CropConfig().to_dict(),
        "scalar_features": list(SCALAR_FEATURES),
        "temperature": 1.0,
        "intended_use": INTENDED_USE,
        "disclaimer": DISCLAIMER,
        **meta,
        "versions": _versions(),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    path.with_suffix(".json").write_text(json.dumps(full, indent=2, default=_jsonable) + "\n")
    return path


def load_checkpoint(path: str | Path, expect_classes: tuple[str, ...] | None = None,
                    expect_size_px: int | None = None, fuse: bool = True) -> tuple[nn.Module, dict]:
    """(net in eval mode, metadata) of a checkpoint; CheckpointError when it is unsafe or does not fit.

    `fuse` folds BatchNorm into the convolutions (same outputs, faster; for inference only).
    """
    path = Path(path)
    meta = _read_meta(path)
    classes = tuple(meta["classes"])
    if expect_classes is not None and classes != tuple(expect_classes):
        raise CheckpointError(path, f"classes {list(classes)} differ from the expected {list(expect_classes)}")
    crop = CropConfig.from_dict(meta.get("crop", {}))
    if expect_size_px is not None and crop.size_px != expect_size_px:
        raise CheckpointError(path, f"crop size {crop.size_px} px differs from the expected {expect_size_px}")
    state = _read_state(path)
    try:
        net = build_net(meta.get("arch", "spotnet"), num_classes=len(classes), **meta.get("arch_kwargs", {}))
    except (TypeError, ValueError) as e:
        raise CheckpointError(path, f"metadata names a network that cannot be built: {e}") from None
    _check_state(path, net, state)
    net.load_state_dict(state)
    net.eval()
    if fuse:
        fuse_for_inference(net)
    net = net.to(memory_format=torch.channels_last)
    meta["path"] = str(path)
    return net, meta


def load_default_model(fuse: bool = True) -> tuple[nn.Module, dict]:
    """The shipped default model (model/weights/default.pt + default.json)."""
    return load_checkpoint(DEFAULT_WEIGHTS, fuse=fuse)


def _read_meta(path: Path) -> dict:
    """The metadata JSON beside a checkpoint, checked for the fields inference needs."""
    mpath = path.with_suffix(".json")
    if not path.is_file():
        raise CheckpointError(path, "no such checkpoint file")
    if not mpath.is_file():
        raise CheckpointError(path, f"metadata {mpath.name} is missing (a checkpoint needs its JSON)")
    try:
        meta = json.loads(mpath.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(mpath, f"metadata is not readable JSON: {e}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("classes"), list) or not meta["classes"]:
        raise CheckpointError(mpath, "metadata has no 'classes' list")
    if not isinstance(meta.get("crop", {}), dict) or not isinstance(meta.get("arch_kwargs", {}), dict):
        raise CheckpointError(mpath, "metadata 'crop' and 'arch_kwargs' must be objects")
    t = meta.get("temperature", 1.0)
    if not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
        raise CheckpointError(mpath, f"temperature must be a positive number, got {t!r}")
    return meta


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    """The state dict, through torch's weights-only unpickler (code in a pickle is refused, not run)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(path, f"refused: not a plain tensor checkpoint ({str(e).splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointError(path, f"truncated or not a checkpoint: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    except Exception as e:  # noqa: BLE001 - any other unpickler failure is an unusable file
        raise CheckpointError(path, f"unreadable checkpoint: {type(e).__name__}: {e}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(path, "not a state dict of tensors")
    return state


def _check_state(path: Path, net: nn.Module, state: dict) -> None:
    """Same keys and shapes as the network the metadata describes."""
    want = net.state_dict()
    missing = sorted(set(want) - set(state))
    extra = sorted(set(state) - set(want))
    if missing or extra:
        raise CheckpointError(path, f"weights do not fit the network: missing {missing[:3]}, unexpected {extra[:3]}")
    for k, v in want.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise CheckpointError(path, f"weights do not fit the network: {k} has shape "
                                        f"{tuple(state[k].shape)}, expected {tuple(v.shape)} "
                                        "(other number of classes or architecture?)")


def _versions() -> dict:
    """Versions of the libraries that made the checkpoint."""
    from importlib.metadata import PackageNotFoundError, version
    out = {"torch": torch.__version__}
    for name in ("spotscale", "numpy", "opencv-python"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _jsonable(o: Any) -> Any:
    """JSON fallback for numpy scalars, paths and dataclasses."""
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)
