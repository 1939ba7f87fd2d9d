# Two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test model bench results clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --no-cache-dir --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

# Analyse the bundled example photo: overlay, spots.csv and result.json land in out/demo/.
demo: setup
	$(BIN)/spotscale analyze data/examples/example.jpg --out out/demo

test: setup
	$(BIN)/python -m pytest -q tests

# Re-train the shipped default model from generated photos (recipe: training/default_model.toml).
model: setup
	$(BIN)/python -m spotscale.training.default_model

# The README's results table: generate seed-42 photos, score, evaluate (writes benchmarks/results.md).
results: setup
	$(BIN)/python benchmarks/results.py

bench: setup
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf out runs .pytest_cache
