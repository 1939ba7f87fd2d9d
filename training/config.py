"""Training configuration: dataclass defaults, overridden by a TOML file, then by CLI flags."""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spotscale.data.errors import ConfigError
from spotscale.model.crops import CropConfig


@dataclass
class AugmentConfig:
    """Augmentation suited to skin photos (applied to raw uint8 crops each epoch)."""

    enabled: bool = True
    rotate: bool = True  # any angle
    flip: bool = True
    scale_jitter: float = 0.1  # +-10 % physical scale (the size feature follows)
    shift_px: float = 1.5
    brightness: float = 0.35  # x U(1-b, 1+b)
    channel_gain: float = 0.12  # white balance, per channel x U(1-g, 1+g)
    contrast_low: float = 0.55  # spot-vs-skin contrast x U(low, high): dark skin mutes spots
    contrast_high: float = 1.15
    tone_prob: float = 0.3  # darken toward dark skin (melanin-like per-channel transmission)
    blur_prob: float = 0.3
    blur_sigma_max: float = 1.2
    noise_max: float = 6.0  # gaussian noise sigma, 0..255 scale
    jpeg_prob: float = 0.5  # per photo when the crop cache is built: JPEG at quality 35-90


@dataclass
class TrainConfig:
    """Everything a training run needs; defaults reproduce a sensible small run."""

    epochs: int = 25
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    val_fraction: float = 0.2  # of photos (the split is by photo, never by spot)
    patience: int = 6  # early stopping on validation macro-F1
    arch: str = "spotnet"
    width: int = 16
    dropout: float = 0.2
    class_weighting: str = "sqrt"  # "none" | "sqrt" | "balanced" (inverse frequency)
    unknown_scale_prob: float = 0.15  # share of crops cut without a scale (the fallback path)
    threads: int = 0  # torch threads; 0 = torch's default
    description: str = ""
    crop: CropConfig = field(default_factory=lambda: CropConfig(pad_px=8))
    augment: AugmentConfig = field(default_factory=AugmentConfig)


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then the TOML file at `path` (if any), then non-None keyword overrides."""
    cfg = TrainConfig()
    if path is not None:
        p = Path(path)
        try:
            doc = tomllib.loads(p.read_text())
        except OSError as e:
            raise ConfigError(f"{p}: cannot read config: {e.strerror or e}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML: {e}") from None
        _apply(cfg, doc, str(p))
    _apply(cfg, {k: v for k, v in overrides.items() if v is not None}, "command line")
    _validate(cfg)
    return cfg


def _apply(obj: Any, doc: dict, where: str) -> None:
    """Set fields of a (nested) dataclass from a dict; unknown keys and wrong types are ConfigErrors."""
    fields = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in doc.items():
        if key not in fields:
            raise ConfigError(f"{where}: unknown setting {key!r} (known: {', '.join(fields)})")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: [{key}] must be a table")
            _apply(current, value, f"{where} [{key}]")
            continue
        if isinstance(current, bool) != isinstance(value, bool) or (
                not isinstance(value, type(current)) and not (isinstance(current, float) and isinstance(value, int))):
            raise ConfigError(f"{where}: {key} must be {type(current).__name__}, got {value!r}")
        setattr(obj, key, type(current)(value))


def _validate(cfg: TrainConfig) -> None:
    """Refuse values that cannot work."""
    checks = [(cfg.epochs >= 1, "epochs must be >= 1"), (cfg.batch_size >= 2, "batch_size must be >= 2"),
              (cfg.lr > 0, "lr must be > 0"), (0 < cfg.val_fraction < 1, "val_fraction must be in (0, 1)"),
              (cfg.class_weighting in ("none", "sqrt", "balanced"), "class_weighting: none, sqrt or balanced"),
              (cfg.crop.size_px >= 16, "crop.size_px must be >= 16"), (cfg.crop.mm_per_crop_px > 0,
                                                                       "crop.mm_per_crop_px must be > 0")]
    for ok, msg in checks:
        if not ok:
            raise ConfigError(f"training config: {msg}")


def to_toml(cfg: Any) -> str:
    """The config as TOML text (flat keys first, then one table per nested dataclass)."""
    flat, tables = [], []
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            tables.append(f"\n[{f.name}]\n" + to_toml(v))
        else:
            flat.append(f"{f.name} = {_toml_value(v)}")
    return "\n".join(flat) + "\n" + "".join(tables)


def _toml_value(v: Any) -> str:
    """One TOML scalar."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
