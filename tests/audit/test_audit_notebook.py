"""``notebooks/ancestry_audit.ipynb`` runs top to bottom against the REAL trained home."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from vipredict.config import Settings

#: The checkout's notebook (``from conftest import PROJECT_ROOT`` would find this folder's
#: own conftest.py first).
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "ancestry_audit.ipynb"


def test_notebook_executes_and_shows_the_forest_plot(trained_home: Settings, tmp_path: Path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source = f"N_BOOTSTRAP = 30\nOUTPUT = {str(tmp_path)!r}\nLOG_TO_MLFLOW = False"
    env = {
        **os.environ,
        "VIPREDICT_HOME": str(trained_home.home),
        "BENTOML_HOME": str(trained_home.bentoml_home),
    }
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=env)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert any("text/html" in o.get("data", {}) for o in outputs)  # the tables
    assert (tmp_path / "report.html").is_file()
