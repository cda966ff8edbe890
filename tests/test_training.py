from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedGroupKFold

from vipredict.featuresets import FeatureSetError, load_feature_set
from vipredict.featurestore import PartitionedStore, labelled_rows, load_store
from vipredict.pipeline import unlabelled_rows
from vipredict.readers.clingen import read_clingen_set
from vipredict.scoring import has_enough_annotation
from vipredict.training import (
    LeakageError,
    TrainingConfig,
    assert_no_leakage,
    train_feature_set,
)


def test_the_evidence_feature_set_has_no_frequency_feature():
    noaf, af = load_feature_set("noaf"), load_feature_set("af")
    assert noaf.emits_evidence and not af.emits_evidence
    frequency_like = [n for n in noaf.feature_names if "af" in n.split("_") or "faf95" in n]
    assert frequency_like == []
    assert "af_global" in af.feature_names and "af_global" not in noaf.feature_names
    assert set(noaf.feature_names) < set(af.feature_names)


@pytest.mark.parametrize("comparator", ["revel_score", "bayesdel_noaf_score"])
def test_comparator_scores_are_never_features(comparator):
    assert comparator not in load_feature_set("af").feature_names


def test_a_feature_set_emitting_evidence_with_frequency_is_refused(tmp_path):
    (tmp_path / "bad.toml").write_text(
        'name = "bad"\nregistered_model = "x"\ndescription = ""\n'
        'families = ["functional", "frequency"]\nemits_evidence = true\n'
    )
    with pytest.raises(FeatureSetError, match="double-counts"):
        load_feature_set("bad", tmp_path)


def test_clingen_2019_and_2020_share_no_variant():
    train, test = read_clingen_set("2019"), read_clingen_set("2020")
    assert_no_leakage(train, test)
    with pytest.raises(LeakageError, match="1 variants"):
        assert_no_leakage(train, pd.concat([test, train.head(1)]))


def test_gene_grouped_folds_never_split_a_gene():
    train = read_clingen_set("2019")
    config = TrainingConfig.from_toml()
    folds = StratifiedGroupKFold(n_splits=config.cv_folds, shuffle=True, random_state=config.seed)
    labels = train["label"].to_numpy(dtype=int)
    for fit_idx, score_idx in folds.split(train, labels, groups=train["gene"].astype(str)):
        assert not set(train["gene"].iloc[fit_idx]) & set(train["gene"].iloc[score_idx])
        assert 0.3 < labels[score_idx].mean() < 0.7


def test_config_round_trips_for_reproducible_runs():
    config = TrainingConfig.from_toml()
    assert TrainingConfig.from_dict(config.to_dict()) == config
    assert config.train_dataset == "2019" and config.test_dataset == "2020"
    assert np.isclose(config.lightgbm["learning_rate"], 0.03)


# --------------------------------------------------------------------------- unlabelled set

#: The mirror's one unlabelled source with per-tool scores: 232 real dbNSFP v4 rows.
UNLABELLED = "dbnsfp_v24_chr4"


def test_dataset_rows_pick_one_dataset_repeatably_whatever_the_threads(trained_home):
    store = PartitionedStore.open(trained_home)
    columns = ["variant", "dataset"]
    picked = store.dataset_rows("dbnsfp_v23_test", columns, limit=300, seed=1)
    assert len(picked) == 300 and set(picked["dataset"]) == {"dbnsfp_v23_test"}
    single = PartitionedStore.open(trained_home, threads=1)
    pd.testing.assert_frame_equal(
        picked, single.dataset_rows("dbnsfp_v23_test", columns, limit=300, seed=1)
    )
    other = store.dataset_rows("dbnsfp_v23_test", columns, limit=300, seed=2)
    assert set(other["variant"]) != set(picked["variant"])
    assert len(store.dataset_rows(UNLABELLED, columns, limit=10_000)) == 232


def _config(**overrides) -> TrainingConfig:
    return replace(TrainingConfig.from_toml(), **overrides)


def test_unlabelled_rows_are_unlabelled_uncurated_and_scorable(trained_home):
    table = load_store(trained_home)
    curated = pd.concat([labelled_rows(table, "2019"), labelled_rows(table, "2020")])
    assert unlabelled_rows(_config(), trained_home, curated) is None  # default: none
    rows = unlabelled_rows(_config(unlabelled_dataset=UNLABELLED), trained_home, curated)
    assert 0 < len(rows) <= 232
    assert rows["label"].isna().all() and has_enough_annotation(rows).all()
    # a variant that is curated never joins the unlabelled set
    one = rows.head(1).assign(label=1.0)
    again = unlabelled_rows(
        _config(unlabelled_dataset=UNLABELLED), trained_home, pd.concat([curated, one])
    )
    assert len(again) == len(rows) - 1 and rows["variant"].iloc[0] not in set(again["variant"])


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ("gnomad_missense", "add-dbnsfp FILE --dataset gnomad_missense"),
        ("dbnsfp_v23_test", "enough"),
    ],
)
def test_an_unusable_unlabelled_dataset_is_a_clear_error(trained_home, dataset, message):
    with pytest.raises(ValueError, match=message):
        unlabelled_rows(
            _config(unlabelled_dataset=dataset), trained_home, pd.DataFrame({"variant": []})
        )


def test_the_unlabelled_condition_uses_the_final_models_scores(trained_home):
    table = load_store(trained_home)
    train = labelled_rows(table, "2019").reset_index(drop=True)
    config = _config(
        unlabelled_dataset=UNLABELLED,
        cv_folds=3,
        n_bootstrap=100,
        lightgbm={**TrainingConfig.from_toml().lightgbm, "n_estimators": 40},
    )
    unlabelled = unlabelled_rows(config, trained_home, train)
    trained = train_feature_set(train, load_feature_set("noaf"), config, unlabelled=unlabelled)
    names = trained.feature_set.feature_names
    scores = trained.model.predict_proba(unlabelled[names])[:, 1]
    assert trained.calibration.n_unlabelled == len(unlabelled)
    assert np.isin(scores, trained.calibration.grid).all()
