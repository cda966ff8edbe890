"""Re-evaluation of decided queue items under another evidence-model version, and reviews.

Two tiers:

* Logic tests on the SYNTHETIC tiny home (``tests/synthetic.py``: made-up variants,
  scores and labels). Their "new version" is the tiny champion with every evidence
  threshold moved by a fixed step (:func:`shifted`), a SYNTHETIC model built in
  memory: it lets the tests know which items must change and which must not. No
  figure comes from them.
* One end-to-end test on the real trained home with a REAL second registered version
  of the evidence model, trained on the real ClinGen 2019 set with another seed and
  another configuration (two profiles, few bootstraps), listed by the real
  ``vipredict queue reevaluate`` command. The champion alias is handed back to the
  session's version right after, so the other tests still see their champion.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from synthetic import TinyHome
from typer.testing import CliRunner

from vipredict.cli import app
from vipredict.config import ModelRole, Settings
from vipredict.io.inputs import Inputs, record_from_key
from vipredict.model.registry import (
    CHAMPION,
    LoadedModel,
    champion_version,
    load_role,
    registered_name,
    setup_mlflow,
    training_config_of_run,
)
from vipredict.model.scorer import Scorer, has_enough_annotation
from vipredict.queue.build import QueueSpec, queue_from_inputs
from vipredict.queue.genes import GeneContext
from vipredict.queue.ranking import QueueInputError
from vipredict.queue.reevaluate import (
    REEVALUATION_COLUMNS,
    ModelVersions,
    VersionPair,
    mark_reviewed,
    reevaluate,
    reevaluate_queue,
)
from vipredict.queue.store import FEATURES_TABLE, Decision, QueueNotFoundError, QueueStore
from vipredict.schema import CONSERVATION_SCORES, FUNCTIONAL_SCORES
from vipredict.service.predictor import PredictionService
from vipredict.service.queue import QueueService
from vipredict.service.security import WRITE_ROUTES
from vipredict.service.ui import variant_facts
from vipredict.store.partitioned import Store

runner = CliRunner()
#: Score step every threshold of the SYNTHETIC "new version" is moved by.
SHIFT = 0.04
#: Items of each test queue decided by the curator.
N_DECIDED = 60


def shifted(model: LoadedModel, version: str = "2") -> LoadedModel:
    """A SYNTHETIC second version: the same boosters, every threshold ``SHIFT`` higher.

    Items whose score lies within ``SHIFT`` below a threshold change code; the others
    keep theirs, so a test knows both kinds exist.
    """

    def moved(values: dict[str, float | None]) -> dict[str, float | None]:
        return {k: None if v is None else v + SHIFT for k, v in values.items()}

    profiles = tuple(
        replace(
            p,
            calibration=replace(
                p.calibration,
                thresholds=moved(p.calibration.thresholds),
                three_point=moved(p.calibration.three_point),
            ),
        )
        for p in model.profiles
    )
    return replace(
        model,
        version=version,
        run_id=f"synthetic-shift-{version}",
        profiles=profiles,
        calibration=profiles[0].calibration,
    )


@pytest.fixture(scope="module")
def versions(tiny_scorer: Scorer, tiny_home: Settings) -> ModelVersions:
    """Version 1 (the tiny champion) and the SYNTHETIC version 2, as the loader would give."""
    champion = tiny_scorer.evidence_model
    assert champion.version == "1"
    return ModelVersions(tiny_home, seed=[champion, shifted(champion)])


def _queue_service(
    scorer: Scorer, versions: ModelVersions, tmp_path: Path, home: Settings
) -> QueueService:
    """The service's queue logic on the tiny champion, with versions 1 and 2 loadable."""
    return QueueService(
        PredictionService(scorer, card={}),
        QueueStore(f"sqlite:///{tmp_path / 'q.db'}"),
        GeneContext(),
        versions,
        home,
    )


def _decided_queue(
    scorer: Scorer, store: QueueStore, keys: list[str], n_decided: int = N_DECIDED
) -> tuple[str, pd.DataFrame]:
    """A queue of ``keys`` through the one build path, its first ``n_decided`` keyed items
    decided (alternately accept and reject); (id, items)."""
    inputs = Inputs([record_from_key(k) for k in keys])
    queue_id, items = queue_from_inputs(scorer, store, inputs, QueueSpec(), GeneContext(), "t")
    scored = items[items["error"] == ""]
    for i, key in enumerate(scored["variant"].head(n_decided)):
        store.decide(queue_id, Decision.create(key, ("accept", "reject")[i % 2], "ann"))
    return queue_id, items


@pytest.fixture
def queue(
    tiny_scorer: Scorer, store: QueueStore, sample_keys: list[str]
) -> tuple[str, pd.DataFrame]:
    return _decided_queue(tiny_scorer, store, [*sample_keys, "GRCh37:1:1:A:G"])


def _expected_new(scorer: Scorer, model: LoadedModel, keys: list[str]) -> pd.DataFrame:
    """The new version's evidence of ``keys`` by another path: the feature store's rows, the
    plain scorer (not the queue's kept features)."""
    assert scorer.store is not None
    rows = scorer.store.lookup(keys)
    results = Scorer(model).results_of(rows)
    return results.set_index(results["variant"].astype(str))


def test_changed_items_are_exactly_those_whose_evidence_differs(
    tiny_scorer: Scorer, store: QueueStore, queue, versions: ModelVersions, tiny_home: Settings
):
    """SYNTHETIC v2: every decided item is compared; the ones whose code or MIS_PRD the new
    thresholds move are ``changed`` (some are), the others ``unchanged`` (some are); old is
    what the curator decided on."""
    queue_id, items = queue
    result = reevaluate_queue(store, queue_id, settings=tiny_home, new_version="2", models=versions)
    assert result.versions == VersionPair("vipredict-noaf", "1", "2")
    assert list(result.items.columns) == list(REEVALUATION_COLUMNS)
    assert result.counts["considered"] == N_DECIDED == result.items["decision"].notna().sum()
    decided = result.items.set_index("variant")
    expected = _expected_new(tiny_scorer, versions.evidence("2"), list(decided.index))
    stored = items.set_index("variant").loc[decided.index]
    should_change = (stored["evidence"] != expected["evidence"]) | (
        stored["mis_prd"].astype("Int64").fillna(99) != expected["mis_prd"].fillna(99)
    )
    assert 0 < should_change.sum() < N_DECIDED  # both kinds are there to be told apart
    assert (decided["status"] == "changed").to_dict() == should_change.to_dict()
    assert decided["old_evidence"].tolist() == stored["evidence"].tolist()
    assert decided["new_evidence"].tolist() == expected["evidence"].tolist()
    assert decided["new_posterior"].tolist() == pytest.approx(expected["posterior"].tolist())
    changed = result.changed()
    assert len(changed) == should_change.sum() == result.counts["changed"]
    first = changed.iloc[0]
    if first["old_evidence"] != first["new_evidence"]:
        assert f"{first['old_evidence']} -> {first['new_evidence']}" in first["change"]
    assert (changed["features_from"] == "queue").all()
    assert not changed["reviewed"].any()


def test_the_same_version_changes_nothing_and_reproduces_what_was_decided(
    store: QueueStore, queue, versions: ModelVersions, tiny_home: Settings
):
    """v1 against v1: the kept features scored again give the stored items' evidence exactly,
    so nothing is listed; every item (``all_items``) is compared, the unscorable one named."""
    queue_id, items = queue
    result = reevaluate_queue(
        store, queue_id, settings=tiny_home, new_version="1", models=versions, all_items=True
    )
    keyed = items[items["variant"].fillna("") != ""]
    assert result.counts["considered"] == len(keyed)
    assert result.counts["changed"] == 0
    rescored = result.items[result.items["status"] != "not_rescored"].set_index("variant")
    stored = items.set_index("variant").loc[rescored.index]
    assert rescored["new_posterior"].tolist() == pytest.approx(
        stored["posterior"].tolist(), nan_ok=True
    )
    assert rescored["new_evidence"].tolist() == stored["evidence"].tolist()
    unknown = result.items.set_index("variant").loc["GRCh37:1:1:A:G"]
    assert (unknown["status"], unknown["rescore_error"]) == ("not_rescored", "features_not_kept")
    assert result.to_dict()["items"] == json.loads(
        result.changed().to_json(orient="records")
    )  # changed_only lists the not-rescored one alone
    assert [i["variant"] for i in result.to_dict()["items"]] == ["GRCh37:1:1:A:G"]


def test_an_old_queue_without_kept_features_is_rescored_from_the_store(
    tiny_scorer: Scorer, store: QueueStore, queue, versions: ModelVersions, tiny_home: Settings
):
    """A queue stored before features were kept: the store answers; without a store, every
    item is named ``not_rescored`` rather than dropped."""
    queue_id, _ = queue
    with store.engine.begin() as connection:
        connection.execute(sa.delete(FEATURES_TABLE).where(FEATURES_TABLE.c.queue_id == queue_id))
    pair = VersionPair("vipredict-noaf", "1", "2")
    from_store = reevaluate(store, queue_id, pair, versions, feature_store=tiny_scorer.store)
    assert (from_store.items["features_from"] == "store").all()
    nowhere = reevaluate_queue(
        store, queue_id, settings=tiny_home, new_version="2", models=versions
    )
    assert nowhere.counts["not_rescored"] == N_DECIDED  # neither kept features nor a store
    assert from_store.counts["changed"] > 0


@pytest.fixture(scope="module")
def uploaded(tiny: TinyHome, tiny_scorer: Scorer) -> list[dict[str, Any]]:
    """SYNTHETIC variants sent with their own annotations, at loci the store does not hold."""
    rows = tiny.annotations
    judged = has_enough_annotation(tiny_scorer.evidence_model, rows)
    chosen = rows[judged & rows["ea_score"].isna()].head(12)  # EA: see test_inline_http.py
    sent = ("gene", "aa_ref", "aa_pos", "aa_alt", *CONSERVATION_SCORES, *FUNCTIONAL_SCORES)
    out = []
    for i, (_, row) in enumerate(chosen.iterrows()):
        values = {c: row[c] for c in sent if c in row.index and pd.notna(row[c])}
        values = {k: v.item() if hasattr(v, "item") else v for k, v in values.items()}
        out.append({"variant": f"GRCh37:3:{5_000 + 10 * i}:A:G", "annotations": values})
    return out


def test_an_upload_with_its_own_annotations_is_rescored_from_what_was_sent(
    tiny_scorer: Scorer, uploaded, versions: ModelVersions, tmp_path: Path, tiny_home: Settings
):
    """POST /queue with inline annotations: the items are in no store, yet re-evaluated from
    the features kept with the queue, through the service's JSON answer and its reviews."""
    service = _queue_service(tiny_scorer, versions, tmp_path, tiny_home)
    made = service.create(json.dumps({"variants": uploaded}).encode())
    assert made.status == 200, made.body
    queue_id = json.loads(made.body)["id"]
    keys = [u["variant"] for u in uploaded]
    assert tiny_scorer.store is not None and not len(tiny_scorer.store.lookup(keys))
    for key in keys:
        service.store.decide(queue_id, Decision.create(key, "accept", "ann"))
    same = json.loads(service.reevaluation(queue_id, new_version="1", changed_only="false").body)
    assert same["n_considered"] == len(keys) and same["n_unchanged"] == len(keys)
    assert {i["features_from"] for i in same["items"]} == {"queue"}
    answer = service.reevaluation(queue_id, new_version="2")
    assert answer.status == 200, answer.body
    body = json.loads(answer.body)
    assert body["n_not_rescored"] == 0 and body["n_changed"] == len(body["items"])
    assert body["old_version"] == "1" and body["new_version"] == "2"
    # Reviews: keyed, all-or-nothing, shown for this pair of versions only.
    variant = keys[0]
    review = {"variants": [variant], "new_version": "2"}
    assert service.review(queue_id, json.dumps(review).encode(), None).status == 422
    other = {**review, "curator": "mallory"}
    assert json.loads(service.review(queue_id, json.dumps(other).encode(), "bob").body)[
        "reason"
    ] == ("curator_mismatch")
    bad = {**review, "variants": [variant, "GRCh37:9:9:A:G"]}
    refused = service.review(queue_id, json.dumps(bad).encode(), "bob")
    assert (refused.status, json.loads(refused.body)["reason"]) == (404, "unknown_variant")
    done = service.review(queue_id, json.dumps(review).encode(), "bob")
    assert done.status == 200 and json.loads(done.body)["acknowledged"] is True
    seen = json.loads(service.reevaluation(queue_id, new_version="2", changed_only="0").body)
    marked = {i["variant"]: (i["reviewed"], i["reviewed_by"]) for i in seen["items"]}
    assert marked.pop(variant) == (True, "bob")
    assert set(marked.values()) == {(False, None)}  # the refused batch wrote nothing
    again = json.loads(service.reevaluation(queue_id, new_version="1", changed_only="0").body)
    assert not any(i["reviewed"] for i in again["items"])  # v1 -> v1 is another change
    assert service.reevaluation(queue_id, new_version="7").status == 422
    assert service.reevaluation("f" * 32).status == 404


def test_review_writes_need_a_key():
    """``POST /queue/{id}/reviews`` is a queue write: keyless, the middleware refuses it."""
    assert WRITE_ROUTES.match("/queue/0123456789abcdef0123456789abcdef/reviews")
    assert not WRITE_ROUTES.match("/queue/0123456789abcdef0123456789abcdef/reevaluation")


def test_mark_reviewed_checks_before_writing(
    store: QueueStore, queue, versions: ModelVersions, tiny_home: Settings
):
    queue_id, items = queue
    key = str(items["variant"].iloc[0])
    with pytest.raises(QueueInputError, match="curator"):
        mark_reviewed(store, queue_id, [key], " ", settings=tiny_home)
    with pytest.raises(QueueInputError):
        mark_reviewed(store, queue_id, "GRCh37:1:1:A:G", "ann", settings=tiny_home)
    with pytest.raises(QueueNotFoundError):
        mark_reviewed(store, "0" * 32, [key], "ann", settings=tiny_home)
    rows = mark_reviewed(store, queue_id, [key, key], "ann", settings=tiny_home, new_version="2")
    assert [(r["variant"], r["old_version"], r["new_version"]) for r in rows] == [(key, "1", "2")]


def test_cli_reevaluate_on_one_version_marks_and_writes(
    tiny_scorer: Scorer, tiny_home: Settings, sample_keys: list[str], tmp_path: Path
):
    """The command on the tiny home (champion against itself: nothing changes), its
    ``--mark-reviewed`` and its TSV of every compared item."""
    db = tmp_path / "q.db"
    queue_id, items = _decided_queue(tiny_scorer, QueueStore(f"sqlite:///{db}"), sample_keys, 5)
    env = {"VIPREDICT_QUEUE_URL": f"sqlite:///{db}", "COLUMNS": "250"}
    key = str(items[items["error"] == ""]["variant"].iloc[0])
    refused = runner.invoke(app, ["queue", "reevaluate", queue_id, "--mark-reviewed", key], env=env)
    assert refused.exit_code != 0 and "--curator" in refused.output
    out = tmp_path / "r.tsv"
    args = ["queue", "reevaluate", queue_id, "--mark-reviewed", key, "--curator", "ann"]
    done = runner.invoke(app, [*args, "--output", str(out)], env=env)
    assert done.exit_code == 0, done.output
    assert "5 items compared: 0 changed, 5 unchanged" in done.output
    table = pd.read_csv(out, sep="\t")
    assert len(table) == 5 and table.set_index("variant").loc[key, "reviewed_by"] == "ann"
    unknown = runner.invoke(app, ["queue", "reevaluate", "f" * 32], env=env)
    assert unknown.exit_code == 1 and "unknown_queue" in unknown.output
    missing = runner.invoke(app, ["queue", "reevaluate", queue_id, "--new-version", "9"], env=env)
    assert missing.exit_code == 1 and "model_version_unavailable" in missing.output


# --------------------------------------------------------------------------- real models

#: The second version's configuration: another seed, two of the session's profiles, few
#: bootstraps (its cost is measured in the test's own output: see the report).
SECOND_PROFILES = ["clingen", "core"]
SECOND_BOOTSTRAPS = 100
#: Model-version tag that marks the test's own version (reused from a kept home).
TEST_TAG = "vipredict.test"


@pytest.fixture(scope="module")
def second_version(trained_home: Settings) -> Iterator[str]:
    """A REAL second registered version of the evidence model, trained on the real ClinGen
    2019 set with another seed and configuration; the champion alias stays on the session's.

    Registering moves ``@champion``: it is moved back at once (the other tests expect the
    session's champion), and the report plots registration rewrote are restored.
    """
    from vipredict.features.sets import load_feature_set
    from vipredict.jobs.train import log_trained_model
    from vipredict.model.training import TrainingConfig, train_feature_set
    from vipredict.store.partitioned import labelled_rows

    client = setup_mlflow(trained_home)
    name = registered_name(ModelRole.EVIDENCE)
    champion = champion_version(client, name)
    assert champion is not None
    for version in client.search_model_versions(f"name='{name}'"):
        if version.tags.get(TEST_TAG) == "reevaluate":  # a kept home (VIPREDICT_TEST_HOMES)
            yield str(version.version)
            return
    base = training_config_of_run(champion.run_id, trained_home)
    config = TrainingConfig.from_dict(
        {
            **base,
            "seed": int(base["seed"]) + 1,
            "feature_sets": ["noaf"],
            "profiles": SECOND_PROFILES,
            "n_bootstrap": SECOND_BOOTSTRAPS,
            "lightgbm": {**base["lightgbm"], "n_jobs": 1},  # the session's few trees
        }
    )
    plots = {p: p.read_bytes() for p in trained_home.reports_dir.glob("*.png")}
    started = time.perf_counter()
    train = labelled_rows(Store.open(trained_home), config.train_dataset)
    trained = train_feature_set(train, load_feature_set("noaf"), config)
    try:
        _, version = log_trained_model(trained, train, config, trained_home)
    finally:
        client.set_registered_model_alias(name, CHAMPION, champion.version)
        for path, data in plots.items():
            path.write_bytes(data)
    client.set_model_version_tag(name, version, TEST_TAG, "reevaluate")
    print(f"second version {version} trained in {time.perf_counter() - started:.1f} s")
    yield version


def test_reevaluate_lists_what_a_real_second_version_changes(
    trained_home: Settings, second_version: str, tmp_path: Path
):
    """Real ClinGen 2019 variants, real champion v1 and a real v2 (other seed, two profiles):
    ``vipredict queue reevaluate --new-version 2`` lists exactly the decided items whose
    evidence v2 gives differently; by default (new = the champion, v1) nothing changes."""
    started = time.perf_counter()
    scorer = Scorer(load_role(ModelRole.EVIDENCE, trained_home), store=Store.open(trained_home))
    assert scorer.store is not None
    train = scorer.store.dataset_rows("clingen_2019", limit=400, seed=3)
    keys = train["variant"].astype(str).tolist()
    db = tmp_path / "q.db"
    store = QueueStore(f"sqlite:///{db}")
    queue_id, _ = _decided_queue(scorer, store, keys, n_decided=200)
    env = {"VIPREDICT_QUEUE_URL": f"sqlite:///{db}", "COLUMNS": "300"}
    out = tmp_path / "r.tsv"
    args = ["queue", "reevaluate", queue_id, "--new-version", second_version]
    listed = runner.invoke(app, [*args, "--output", str(out)], env=env)
    assert listed.exit_code == 0, listed.output
    table = pd.read_csv(out, sep="\t", dtype={"old_mis_prd": "Int64", "new_mis_prd": "Int64"})
    assert len(table) == 200
    v2 = load_role(ModelRole.EVIDENCE, trained_home, second_version)
    assert v2.run_id != scorer.evidence_model.run_id
    expected = _expected_new(scorer, v2, table["variant"].tolist())
    decided = table.set_index("variant")
    should_change = (decided["old_evidence"] != expected["evidence"]) | (
        decided["old_mis_prd"].fillna(99) != expected["mis_prd"].fillna(99)
    )
    assert should_change.sum() > 0  # another seed and config move some real decisions
    assert (decided["status"] == "changed").to_dict() == should_change.to_dict()
    for variant in decided.index[should_change][:5]:
        assert variant in listed.output  # the printed table names them
    assert f"{int(should_change.sum())} changed" in listed.output
    default = runner.invoke(app, ["queue", "reevaluate", queue_id], env=env)
    assert default.exit_code == 0, default.output
    assert "200 items compared: 0 changed" in default.output
    print(
        f"{int(should_change.sum())} of 200 decided items changed; "
        f"test took {time.perf_counter() - started:.1f} s"
    )


def _thresholds_drawn(facts: dict[str, Any]) -> dict[str, float]:
    return {t["code"]: t["score"] for t in facts["calibration"]["thresholds"]}


def test_the_variant_page_draws_the_version_that_scored_the_queue(
    tiny_scorer: Scorer,
    sample_keys: list[str],
    versions: ModelVersions,
    tmp_path: Path,
    tiny_home: Settings,
):
    """A queue made by version 2 while version 1 is the champion: the page's curve and
    thresholds are version 2's (what the curator's evidence came from), and its
    contributions carry no 'scores differently' note; a version that cannot be loaded
    falls back to the champion and says so."""
    champion = tiny_scorer.evidence_model
    second = versions.evidence("2")
    service = _queue_service(tiny_scorer, versions, tmp_path, tiny_home)
    made_by = replace(tiny_scorer, evidence_model=second)
    queue_id, items = _decided_queue(made_by, service.store, sample_keys, n_decided=1)
    key = str(items.loc[items["error"] == "", "variant"].iloc[0])
    facts = variant_facts(service, queue_id, key)
    profile = next(p for p in second.profiles if p.name == facts["calibration_profile"])
    drawn = _thresholds_drawn(facts)
    assert drawn and all(drawn[c] == profile.calibration.thresholds[c] for c in drawn)
    old = next(p for p in champion.profiles if p.name == profile.name).calibration.thresholds
    assert all(drawn[c] == old[c] + SHIFT for c in drawn)  # not the champion's thresholds
    assert facts["calibration_model"] == f"{second.name} v2"
    assert facts["calibration_note"] == "" and facts["contributions_note"] == ""

    gone = replace(tiny_scorer, evidence_model=replace(champion, version="7"))
    queue_id, items = _decided_queue(gone, service.store, sample_keys, n_decided=1)
    key = str(items.loc[items["error"] == "", "variant"].iloc[0])
    facts = variant_facts(service, queue_id, key)
    assert facts["calibration_model"] == f"{champion.name} v1"
    assert "v7, which scored this queue, cannot be loaded" in facts["calibration_note"]
