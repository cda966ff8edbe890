"""Pre-scored evidence (``vipredict prescore``): the answers annotate would have scored.

``annotate`` reads the evidence champion's stored answers instead of scoring each
matched row (:mod:`vipredict.store.prescored`). These tests want the output byte
for byte the output of scoring: on the real ClinVar 2015 BRCA VCF against the
real store and champion (trained home), and on the SYNTHETIC tiny home's VCF,
whose loci are chosen to hit every answer (evidence, thin rows, no features,
wrong REF). Evidence made by another version, or from a store file since
rewritten, must never be read; and an annotation from it must not load the model
stack (the reason it fits in the memory of ``--no-score``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from vipredict.config import Settings
from vipredict.io.sources import resolve
from vipredict.jobs.annotate import annotate_vcf, prescored_applies
from vipredict.jobs.prescore import champion_scored_by, prescore, stored_evidence
from vipredict.model.scorer import Scorer, load_scorer
from vipredict.store.partitioned import Store
from vipredict.store.prescored import ScoredBy, open_prescored, prescored_root, scored_features


def _copy(store: Store, where: Path) -> Store:
    """A copy of a session home's store: pre-scoring writes beside it."""
    shutil.copytree(store.root, where)
    return Store(where)


def _same_output_both_ways(
    scorer: Scorer,
    store: Store,
    settings: Settings,
    source: Path,
    where: Path,
    columns: list[str] | None = None,
) -> bytes:
    """Annotate ``source`` scoring as read, pre-score, annotate from the stored answers:
    the two files must be equal byte for byte (and the counts alike)."""
    scored, stored = where / "scored.vcf", where / "stored.vcf"
    live = annotate_vcf(source, scored, store, scorer, columns, show_progress=False)
    prescore(store, scorer, settings, compile=False)
    evidence = stored_evidence(store, settings)
    assert evidence is not None and prescored_applies(source, evidence, columns)
    read = annotate_vcf(
        source, stored, evidence, None, columns, show_progress=False, guidelines=scorer.guidelines
    )
    assert stored.read_bytes() == scored.read_bytes()
    assert read == live
    return scored.read_bytes()


@pytest.fixture(scope="module")
def scorer(trained_home: Settings) -> Scorer:
    return load_scorer(trained_home, with_priority=False, with_store=False)


def test_real_vcf_from_stored_answers_is_the_scored_output(
    scorer: Scorer, trained_home: Settings, tmp_path: Path
):
    """ClinVar 2015 BRCA (real) against the real store and champion."""
    store = _copy(Store.open(trained_home), tmp_path / "store")
    text = _same_output_both_ways(
        scorer, store, trained_home, resolve("clinvar_2015_brca_vcf"), tmp_path
    ).decode()
    assert text.count("VIP_EVIDENCE=PP3") + text.count("VIP_EVIDENCE=BP4") > 100
    assert "VIP_ERR=no_features" in text


def test_every_kind_of_answer_is_read_back_synthetic(
    tiny_scorer: Scorer, tiny_store: Store, tiny_home: Settings, tiny_vcf, tmp_path: Path
):
    """SYNTHETIC tiny home: scored, thin, blank and wrong-REF loci, each as scoring writes it,
    with the champion's features (its default) and with the store's rendered columns."""
    for columns in (None, tiny_store.info_columns):
        where = tmp_path / ("default" if columns is None else "rendered")
        store = _copy(tiny_store, where / "store")
        text = _same_output_both_ways(
            tiny_scorer, store, tiny_home, tiny_vcf.path, where, columns
        ).decode()
        for code in ("insufficient_annotation", "no_features", "ref_mismatch"):
            assert f"VIP_ERR={code}" in text
        assert "VIP_MIS_PRD=" in text


def test_evidence_of_another_version_or_another_store_file_is_never_read(
    tiny_scorer: Scorer, tiny_store: Store, tiny_home: Settings, tmp_path: Path, caplog
):
    store = _copy(tiny_store, tmp_path / "store")
    files = list(store.all_files())
    assert stored_evidence(store, tiny_home) is None  # none made: silently None
    assert prescore(store, tiny_scorer, tiny_home, compile=False) == {
        "scored": len(files),
        "kept": 0,
        "removed": 0,
    }
    assert prescore(store, tiny_scorer, tiny_home, compile=False)["scored"] == 0  # all current
    current = champion_scored_by(tiny_home)
    model = tiny_scorer.evidence_model
    assert current == ScoredBy(model.name, str(model.version), model.run_id)
    assert open_prescored(store.root, current) is not None
    with caplog.at_level(logging.WARNING):
        assert open_prescored(store.root, replace(current, version="999")) is None
    assert "vipredict prescore" in caplog.text

    stamp = files[0].stat()  # the store file rewritten since: stale until scored again
    os.utime(files[0], ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000))
    assert stored_evidence(store, tiny_home) is None
    again = prescore(store, tiny_scorer, tiny_home, compile=False)
    assert again == {"scored": 1, "kept": len(files) - 1, "removed": 0}
    assert stored_evidence(store, tiny_home) is not None

    sidecar = next(prescored_root(store.root).rglob("*.json"))  # half-written: stale
    sidecar.write_text(sidecar.read_text()[:10])
    assert stored_evidence(store, tiny_home) is None
    sidecar.write_text(json.dumps({}))
    assert stored_evidence(store, tiny_home) is None


def test_a_vep_vcf_or_other_columns_are_scored_as_read(
    tiny_scorer: Scorer, tiny_store: Store, tiny_home: Settings, tiny_vcf, tmp_path: Path
):
    """Stored answers are the store's rows' answers, with the INFO text of the store's
    rendered columns and of the champion's (the tiny champion reads fewer): a VEP VCF is
    scored from its own CSQ, and other columns are scored as read."""
    store = _copy(tiny_store, tmp_path / "store")
    prescore(store, tiny_scorer, tiny_home, compile=False)
    evidence = stored_evidence(store, tiny_home)
    assert evidence is not None and evidence.info_columns is not None
    assert scored_features(evidence) == tiny_scorer.evidence_model.feature_names
    assert scored_features(evidence) != evidence.info_columns
    assert not prescored_applies(resolve("ditto_vep_vcf"), evidence, None)
    assert prescored_applies(tiny_vcf.path, evidence, None)
    assert prescored_applies(tiny_vcf.path, evidence, evidence.info_columns)
    assert not prescored_applies(tiny_vcf.path, evidence, evidence.info_columns[:1])


def test_the_command_annotates_from_stored_answers_without_the_model_stack(
    scorer: Scorer, trained_home: Settings, tmp_path: Path
):
    """``vipredict annotate`` itself, in a fresh process: the scored output, and neither
    MLflow, LightGBM nor scikit-learn imported (they are most of scoring's memory), nor
    DuckDB (a sorted VCF is read against the store files in order: store.scan); and not
    a byte allocated through mimalloc, which keeps what it frees (``vipredict.memory``:
    Arrow's C++ default is chosen before pyarrow loads)."""
    store = _copy(Store.open(trained_home), tmp_path / "store")
    source = resolve("clinvar_2015_brca_vcf")
    scored = tmp_path / "scored.vcf"
    annotate_vcf(source, scored, store, scorer, show_progress=False)
    prescore(store, scorer, trained_home, compile=False)
    out = tmp_path / "stored.vcf"
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from vipredict.cli import app\n"
        f"r = CliRunner().invoke(app, ['annotate', {str(source)!r}, '--output', {str(out)!r},"
        f" '--store', {str(store.root)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "import pyarrow\n"
        "print('pre-scored' in r.output, sorted({m.split('.')[0] for m in sys.modules}"
        " & {'mlflow', 'lightgbm', 'sklearn', 'duckdb'}), "
        "pyarrow.mimalloc_memory_pool().max_memory())\n"
    )
    env = {**os.environ, "VIPREDICT_HOME": str(trained_home.home), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "True [] 0"
    assert out.read_bytes() == scored.read_bytes()


def test_add_dbnsfp_pre_scores_the_rows_it_adds(
    tiny_scorer: Scorer, tiny_store: Store, tiny_home: Settings, tmp_path: Path
):
    """Streaming real dbNSFP rows into a pre-scored store scores the new file, so annotate
    keeps reading stored answers instead of finding them stale; the answers are the
    champion's for those rows."""
    from typer.testing import CliRunner

    from vipredict.cli import app
    from vipredict.model.scorer import FeatureMatrix
    from vipredict.store.partitioned import float_matrix

    store = _copy(tiny_store, tmp_path / "store")
    prescore(store, tiny_scorer, tiny_home, compile=False)
    args = ["add-dbnsfp", str(resolve("dbnsfp_v24_chr4")), "--store", str(store.root)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "1 store file(s) scored" in " ".join(result.output.split())
    evidence = stored_evidence(Store(store.root), tiny_home)
    assert evidence is not None
    new = max(Store(store.root).all_files(), key=lambda p: p.stat().st_mtime_ns)
    import pyarrow.parquet as pq

    rows = pq.read_table(new)
    stored = pq.read_table(prescored_root(store.root) / new.relative_to(store.root))
    assert rows.num_rows == stored.num_rows == 232
    columns = tiny_scorer.evidence_model.feature_names
    answers = tiny_scorer.row_evidence(FeatureMatrix(float_matrix(rows, columns), tuple(columns)))
    assert stored["evidence"].to_pylist() == list(answers.evidence)
    assert stored["error"].to_pylist() == list(answers.error)


def test_answers_rendered_for_other_guidelines_are_rendered_again(
    tiny_scorer: Scorer, tiny_store: Store, tiny_home: Settings, tiny_vcf, tmp_path: Path
):
    """The stored VIP_* text names both guideline versions (the default); a run reporting
    one (``VIPREDICT_GUIDELINES``) renders the stored answers itself, as scoring does."""
    from vipredict.config import ACMG_V3, SVCV4
    from vipredict.store.prescored import answer_guidelines

    store = _copy(tiny_store, tmp_path / "store")
    prescore(store, tiny_scorer, tiny_home, compile=False)
    evidence = stored_evidence(store, tiny_home)
    assert evidence is not None and answer_guidelines(evidence) == [ACMG_V3, SVCV4]
    for only in (ACMG_V3, SVCV4):
        one = replace(tiny_scorer, guidelines=(only,))
        scored, stored = tmp_path / f"scored-{only}.vcf", tmp_path / f"stored-{only}.vcf"
        annotate_vcf(tiny_vcf.path, scored, store, one, show_progress=False)
        annotate_vcf(
            tiny_vcf.path, stored, evidence, None, show_progress=False, guidelines=(only,)
        )
        assert stored.read_bytes() == scored.read_bytes()
        other = "VIP_MIS_PRD=" if only == ACMG_V3 else "VIP_EVIDENCE="
        assert other not in stored.read_text().split("#CHROM")[1]


def _frames(root: Path) -> dict[str, object]:
    """Each pre-scored file of ``root``: its rows (NaN equal to NaN) and its schema's metadata."""
    import pyarrow.parquet as pq

    files = sorted(root.rglob("*.parquet"))
    return {
        str(p.relative_to(root)): (pq.read_table(p).to_pandas(), pq.read_schema(p).metadata)
        for p in files
    }


def test_worker_processes_write_the_files_one_process_writes(
    scorer: Scorer, trained_home: Settings, tmp_path: Path, monkeypatch
):
    """Real store and champion: pre-scored by two worker processes (each loading the
    registered version), every file equals what one process writes."""
    import pandas as pd

    import vipredict.jobs.prescore as jobs

    one = _copy(Store.open(trained_home), tmp_path / "one")
    two = _copy(Store.open(trained_home), tmp_path / "two")
    assert prescore(one, scorer, trained_home, compile=False, workers=1)["scored"] > 1
    pooled = []
    run = jobs._Pool._run
    monkeypatch.setattr(jobs._Pool, "_run", lambda self, *a: pooled.append(1) or run(self, *a))
    monkeypatch.setattr(jobs, "POOL_BYTES", 0)  # the store is small: pool it anyway
    counts = prescore(two, scorer, trained_home, compile=False, workers=2)
    assert pooled and counts["scored"] > 1
    first, second = _frames(prescored_root(one.root)), _frames(prescored_root(two.root))
    assert sorted(first) == sorted(second)
    for name, (rows, metadata) in first.items():
        pd.testing.assert_frame_equal(second[name][0], rows, check_exact=True)
        assert second[name][1] == metadata
    assert stored_evidence(two, trained_home) is not None


def test_a_worker_that_loads_another_run_says_so_with_its_first_file(
    tiny_scorer: Scorer, tiny_home: Settings, monkeypatch
):
    """A worker loads the registered version by number; if that version's run is not the
    one the answers are labelled with, its first file raises, naming them (never answers
    of one version filed under another)."""
    import vipredict.jobs.prescore as jobs
    from vipredict.jobs.prescore import PrescoreError

    monkeypatch.setattr(jobs, "_WORKER", {})
    model = tiny_scorer.evidence_model
    wrong = ScoredBy(model.name, str(model.version), "not-its-run")
    jobs._start_worker(tiny_home, wrong, list(model.feature_names), False)
    with pytest.raises(PrescoreError, match="not the registered version"):
        jobs._prescore_in_worker(Path("store"), Path("file"), Path("root"), wrong, [], [])
