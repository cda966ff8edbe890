"""The Dask path on a real LocalCluster: feature store, training, registration, scoring, serving.

One loopback cluster serves the module. ``vipredict features --dask`` builds the
store of a fresh home through the scheduler-address setting, the real ClinGen
2019 set is trained through ``lightgbm.DaskLGBMClassifier`` with the same fast
configuration as the session's single-machine champions, and the registered
result is loaded and served exactly as those are. All of it is end-to-end tier.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import mlflow
import numpy as np
import pandas as pd
import pytest
from distributed import Client, futures_of, wait
from lightgbm import LGBMClassifier
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from vipredict.cli import app
from vipredict.config import Settings, get_settings
from vipredict.features.sets import load_feature_set
from vipredict.io.inputs import record_from_key
from vipredict.jobs import dask as jobs_dask
from vipredict.jobs.dask import (
    DaskBackendError,
    current_client,
    dask_client,
    dask_fitter,
    fit_on_dask,
    partitioned,
)
from vipredict.jobs.train import TrainingOutcome, run_training
from vipredict.model.registry import (
    champion_version,
    load_champion,
    setup_mlflow,
    training_config_of_run,
)
from vipredict.model.scorer import load_scorer, profile_evidence
from vipredict.model.training import TrainingConfig
from vipredict.service.predictor import PredictionService
from vipredict.service.schemas import VariantIn
from vipredict.store.partitioned import ORDER_COLUMN, Store, labelled_rows

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

#: The evidence model only: the frequency model goes through the same code, and the test stays fast.
MODELS = ("noaf",)
#: Two of its profiles (``profiles`` in the training config): the registered first one and
#: the one every training variant carries; the others go through the same loop.
PROFILES = ("clingen", "cadd_conservation")
#: Largest OOF AUROC gap accepted between the Dask and the single-process fit of the same data.
AUROC_TOLERANCE = 0.005


def test_dask_backend_without_a_cluster_says_how_to_get_one():
    # First in the module: no client exists before the module's cluster fixture starts.
    with pytest.raises(DaskBackendError, match="vipredict train --dask"):
        current_client()


def test_an_unreachable_scheduler_is_named():
    nowhere = replace(get_settings(), dask_scheduler="tcp://127.0.0.1:9")
    with (
        pytest.raises(DaskBackendError, match=r"cannot reach the Dask scheduler at tcp://127"),
        dask_client(nowhere, timeout="1s"),
    ):
        pass


def test_unknown_backend_is_refused():
    raw = TrainingConfig.from_toml().to_dict()
    assert TrainingConfig.from_dict(raw).backend == "local"
    assert TrainingConfig.from_dict({**raw, "backend": "dask"}).to_dict()["backend"] == "dask"
    with pytest.raises(ValueError, match="'spark' is not one of"):
        TrainingConfig.from_dict({**raw, "backend": "spark"})


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    with dask_client(replace(get_settings(), dask_scheduler=None)) as client:
        yield client


@pytest.fixture(scope="module")
def dask_home(
    trained_home: Settings, cluster: Client, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """A fresh home whose store ``vipredict features --dask`` built via the scheduler address."""
    home = tmp_path_factory.mktemp("vipredict-dask-home")
    patch = pytest.MonkeyPatch()
    patch.setenv("VIPREDICT_HOME", str(home))
    patch.setenv("BENTOML_HOME", str(home / "bentoml"))
    patch.setenv("VIPREDICT_DASK_SCHEDULER", cluster.scheduler.address)
    result = CliRunner().invoke(app, ["features", "--dask"])
    assert result.exit_code == 0, result.output
    yield get_settings()
    patch.undo()
    setup_mlflow(trained_home)  # hand MLflow back to the session's home


def local_champion_run(trained_home: Settings, name: str) -> str:
    registered = load_feature_set(name).registered_model
    version = champion_version(setup_mlflow(trained_home), registered)
    assert version is not None
    return version.run_id


@pytest.fixture(scope="module")
def dask_outcome(trained_home: Settings, dask_home: Settings, cluster: Client) -> TrainingOutcome:
    """The session champions' own configuration, trained again with backend = dask (two
    of the evidence profiles: each profile is trained alone, so each compares with its own)."""
    local = training_config_of_run(local_champion_run(trained_home, "noaf"), trained_home)
    config = TrainingConfig.from_dict(
        {**local, "backend": "dask", "feature_sets": list(MODELS), "profiles": list(PROFILES)}
    )
    return run_training(config, dask_home, rebuild_features=False)


def _store_rows(settings: Settings) -> pd.DataFrame:
    """The whole store in build order (partition, then the order rows were built in)."""
    rows = Store.open(settings).read_all().astype({"build": str, "chrom": str})
    return rows.sort_values(["build", "chrom", ORDER_COLUMN], ignore_index=True)


def test_dask_store_equals_the_single_machine_store(dask_home: Settings, trained_home: Settings):
    built = _store_rows(dask_home)
    assert len(built) > 60_000
    pd.testing.assert_frame_equal(built, _store_rows(trained_home))
    root = dask_home.store_dir
    partitions = {p.relative_to(root).parent.as_posix() for p in root.rglob("*.parquet")}
    assert "build=GRCh37/chrom=1" in partitions  # partitioned like the single-machine store


def test_each_worker_gets_one_shuffled_slice(cluster: Client, trained_home: Settings):
    train = labelled_rows(Store.open(trained_home), "2019").head(1_000)
    features = train[load_feature_set("noaf").feature_names].assign(row=np.arange(len(train)))
    labels = train["label"].to_numpy(dtype=int)
    data, target = partitioned(cluster, features, labels, seed=7)
    assert data.npartitions == len(cluster.scheduler_info()["workers"]) == 2
    slices = futures_of(cluster.persist(data))
    wait(slices)
    holders = cluster.who_has(slices)
    assert len({worker for workers in holders.values() for worker in workers}) == 2
    rows, got = data.compute()["row"].to_numpy(), target.compute().to_numpy()
    assert sorted(rows) == list(range(len(train)))  # every row once
    assert not np.array_equal(rows, np.arange(len(train)))  # in a shuffled order
    assert np.array_equal(got, labels[rows])  # each with its own label


def test_a_training_run_reuses_the_running_client(cluster: Client, monkeypatch):
    def no_new_cluster(*args, **kwargs):
        raise AssertionError("dask_fitter started a cluster while one was running")

    monkeypatch.setattr(jobs_dask, "dask_client", no_new_cluster)
    said: list[str] = []
    with dask_fitter(progress=said.append) as fit:
        assert fit is fit_on_dask
        assert current_client().scheduler.address == cluster.scheduler.address
    assert said == [f"LightGBM on Dask: 2 workers at {cluster.scheduler.address}"]


def test_dask_models_are_registered_like_local_ones(
    dask_outcome: TrainingOutcome, dask_home: Settings
):
    for name in MODELS:
        model = load_champion(load_feature_set(name).registered_model, dask_home)
        assert model.version == dask_outcome.versions[name] == "1"
        assert model.run_id == dask_outcome.run_ids[name]
        assert model.run_params["backend"] == "dask"
        assert type(model.model) is LGBMClassifier
        assert "tree_learner" not in model.model.get_params()
        assert model.calibration.thresholds == dask_outcome.thresholds[name]


def test_dask_oof_auroc_is_close_to_the_single_process_one(
    dask_outcome: TrainingOutcome, trained_home: Settings, dask_home: Settings
):
    """Same rows, folds and hyper-parameters; not bit-identical by construction.

    Data-parallel LightGBM builds feature bins from each worker's rows and bags
    per worker, so trees differ a little; the scores must still agree closely.
    """
    for name in MODELS:
        run_id = local_champion_run(trained_home, name)
        local_run = setup_mlflow(trained_home).get_run(run_id)
        local_auroc = local_run.data.metrics["oof_auroc_gene_grouped"]
        assert abs(dask_outcome.oof_auroc[name] - local_auroc) < AUROC_TOLERANCE  # the first's
        for profile in PROFILES:  # each profile's OOF scores of the same (imputed) rows
            artifact = f"profiles/{profile}_oof_scores.tsv"
            setup_mlflow(trained_home)
            local = _oof(mlflow.artifacts.load_text(f"runs:/{run_id}/{artifact}"))
            setup_mlflow(dask_home)
            dask_run = dask_outcome.run_ids[name]
            dask = _oof(mlflow.artifacts.load_text(f"runs:/{dask_run}/{artifact}"))
            assert len(local) == len(dask) > 11_000, profile
            assert np.corrcoef(local, dask)[0, 1] > 0.98, profile


def _oof(tsv: str) -> np.ndarray:
    """The ``oof_score`` column of a logged OOF table (NaN where empty)."""
    header, *lines = tsv.strip().splitlines()
    at = header.split("\t").index("oof_score")
    values = [line.split("\t")[at] for line in lines]
    return np.array([float(v) if v else np.nan for v in values])


def test_dask_model_scores_and_serves(dask_outcome: TrainingOutcome, dask_home: Settings):
    scorer = load_scorer(dask_home)
    assert scorer.evidence_model.run_id == dask_outcome.run_ids["noaf"]
    holdout = labelled_rows(Store.open(dask_home), "2020")
    posterior = profile_evidence(scorer.evidence_model, holdout)["posterior"].fillna(0.0)
    assert roc_auc_score(holdout["label"].to_numpy(dtype=int), posterior) > 0.9
    keys = [*holdout["variant"].head(20), "GRCh37:1:1:A:AT"]
    reference = scorer.score_records([record_from_key(k) for k in keys])
    service = PredictionService.load(dask_home, precompute=False)
    served = service.predict([VariantIn(variant=k) for k in keys])
    assert served[-1].error == "not_snv" and reference["error"].iloc[-1] == "not_snv"
    judged = [out for out in served[:-1] if out.score is not None]
    assert len(judged) > 10
    assert {out.model.run_id for out in served[:-1]} == {dask_outcome.run_ids["noaf"]}
    assert any(out.evidence != "none" for out in judged)
    for out, (_, ref) in zip(served[:-1], reference.iloc[:-1].iterrows(), strict=True):
        assert out.evidence == ref["evidence"]
        if out.score is not None:
            assert out.score == pytest.approx(float(ref["score"]), rel=1e-9)
