"""The shipped recipe parses into a valid training config, and the shipped weights say they came from it."""
import json
import tomllib

from spotscale.model.checkpoint import DEFAULT_WEIGHTS
from spotscale.training.config import load_config
from spotscale.training.default_model import DEFAULT_MODEL_VERSION, RECIPE, Clock


def test_recipe_is_a_valid_training_config():
    recipe = tomllib.loads(RECIPE.read_text())
    cfg = load_config(None, **recipe["train"])
    assert cfg.epochs == recipe["train"]["epochs"] and cfg.class_weighting == recipe["train"]["class_weighting"]
    assert {"train_seed", "val_seed", "eval_seed"} <= recipe["data"].keys()
    assert recipe["data"]["eval_seed"] not in (recipe["data"]["train_seed"], recipe["data"]["val_seed"])


def test_shipped_weights_carry_the_recipe_version():
    meta = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    assert meta["version"] == DEFAULT_MODEL_VERSION and meta["name"] == "spotscale-default"


def test_clock_sums_its_steps():
    clock = Clock()
    clock.lap("a")
    clock.lap("b")
    assert [s[0] for s in clock.steps] == ["a", "b"]
    assert "total" in clock.report()
