import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedGroupKFold

from vipredict.featuresets import FeatureSetError, load_feature_set
from vipredict.readers.clingen import read_clingen_set
from vipredict.training import LeakageError, TrainingConfig, assert_no_leakage


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
