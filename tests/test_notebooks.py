"""The notebooks: stored without outputs, and each runs end to end on small inputs."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
EXPECTED = {"01_analyze_a_photo.ipynb", "02_train_and_evaluate.ipynb", "03_score_a_folder.ipynb"}


def test_the_three_notebooks_exist():
    assert EXPECTED <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert any("parameters" in c.metadata.get("tags", []) for c in code), "no parameters cell"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_end_to_end(path, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("SPOTSCALE_NB_SMALL", "1")  # the parameters cell reads it
    monkeypatch.setenv("MPLBACKEND", "Agg")
    from spotscale.model import checkpoint

    if not Path(checkpoint.DEFAULT_WEIGHTS).is_file():  # before a default model is shipped
        monkeypatch.setenv("SPOTSCALE_NB_MODEL", "none")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
