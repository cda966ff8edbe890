"""Training: the evidence/frequency split of feature sets, leakage, folds, fitters, unlabelled set.

The fitter plumbing and the PP3 cap are checked on the SYNTHETIC tiny home (fast
tier); the ClinGen set checks and the unlabelled-set plumbing run on real rows
(``trained_home`` and the real ClinGen files: end-to-end tier).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic import CONFIG as TINY_CONFIG
from synthetic import DATASET as TINY_DATASET

from vipredict.acmg import EVIDENCE_CODES
from vipredict.config import Settings
from vipredict.features import sets
from vipredict.features.sets import FeatureSetError, assign_profiles, load_feature_set
from vipredict.io.readers.clingen import read_clingen_set
from vipredict.jobs.train import unlabelled_rows
from vipredict.model.calibration import CalibrationResult
from vipredict.model.training import (
    TrainingConfig,
    cap_levels,
    fit_classifier,
    fit_local,
    gene_folds,
    gene_grouped_oof_scores,
    label_free_imputation,
    mask_sources,
    selected_profiles,
    train_feature_set,
    with_masked_copies,
)
from vipredict.schema import FUNCTIONAL_SCORES
from vipredict.store.partitioned import Store, labelled_rows

# --------------------------------------------------------------------------- feature sets


def test_a_profile_subset_keeps_routing_order_and_refuses_unknown_names():
    noaf = load_feature_set("noaf")
    assert selected_profiles(noaf, ()) == noaf.profiles
    picked = selected_profiles(noaf, ("cadd_conservation", "clingen"))
    assert [p.name for p in picked] == ["clingen", "cadd_conservation"]  # the set's order
    with pytest.raises(ValueError, match=r"\['nope'\] are not profiles of feature set 'noaf'"):
        selected_profiles(noaf, ("clingen", "nope"))
    raw = TrainingConfig.from_toml().to_dict()
    assert raw["profiles"] == []  # the default trains every profile
    config = TrainingConfig.from_dict({**raw, "profiles": ["clingen"]})
    assert config.profiles == ("clingen",) and config.to_dict()["profiles"] == ["clingen"]


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


def test_a_feature_set_emitting_evidence_with_frequency_is_refused(tmp_path, monkeypatch):
    (tmp_path / "bad.toml").write_text(
        'name = "bad"\nregistered_model = "x"\ndescription = ""\n'
        'families = ["functional", "frequency"]\nemits_evidence = true\n'
    )
    monkeypatch.setattr(sets, "feature_set_file", lambda name: tmp_path / f"{name}.toml")
    with pytest.raises(FeatureSetError, match="double-counts"):
        load_feature_set("bad")


# --------------------------------------------------------------------------- folds


@dataclass
class FoldModel:
    """A stand-in for one fold's classifier: the genes and labels it was fitted on, the
    rows it scored; each row's score is its ``row_id`` / 100,000, so a score shows where
    it came from."""

    fitted: pd.DataFrame  # gene_code, row_id, label of every training row
    scored: list[np.ndarray] = field(default_factory=list)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        self.scored.append(features["row_id"].to_numpy())
        score = features["row_id"].to_numpy() / 100_000
        return np.column_stack([1 - score, score])


def recording_fitter(log: list[FoldModel]):
    """A ``Fitter`` (as :mod:`vipredict.jobs.dask` plugs one in) that fits nothing and
    remembers what it was given."""

    def fit(features: pd.DataFrame, labels: np.ndarray, config: TrainingConfig) -> FoldModel:
        fitted = features[["gene_code", "row_id"]].assign(label=labels)
        log.append(FoldModel(fitted.reset_index(drop=True)))
        return log[-1]

    return fit


def check_gene_grouped_folds(
    genes: pd.Series, labels: np.ndarray, config: TrainingConfig
) -> list[FoldModel]:
    """Run THE PROJECT's ``gene_grouped_oof_scores`` with a recording fitter and check that
    no fold fits on a gene it scores, each row is scored once (by its own fold) and each
    fitter saw the labels of its own rows. Returns the folds for further checks."""
    codes = genes.astype("category").cat.codes.to_numpy()
    row_id = np.arange(len(labels))
    features = pd.DataFrame({"gene_code": codes, "row_id": row_id, "x": 0.0}, index=genes.index)
    log: list[FoldModel] = []
    oof = gene_grouped_oof_scores(features, labels, genes, config, recording_fitter(log))
    assert len(log) == config.cv_folds
    np.testing.assert_array_equal(oof, row_id / 100_000)  # every row, its own score, once
    scored = np.concatenate([s for model in log for s in model.scored])
    assert sorted(scored) == list(row_id)
    everything = set(codes)
    for model in log:
        fitted = set(model.fitted["gene_code"])
        scored_genes = set(codes[np.concatenate(model.scored)])
        assert not fitted & scored_genes, "a gene is split between fitting and scoring"
        assert fitted | scored_genes == everything  # the other folds' genes all fit it
        seen = model.fitted["label"].to_numpy()
        np.testing.assert_array_equal(seen, labels[model.fitted["row_id"].to_numpy()])
    return log


def test_out_of_fold_scores_never_split_a_gene():
    """40 SYNTHETIC genes of 3 to 7 variants (labels mixed within genes), a frame indexed
    from 1,000: four folds, none fitted on a gene it scores, every row scored once."""
    sizes = [3 + g % 5 for g in range(40)]
    genes = pd.Series(
        [f"G{g:02d}" for g, size in enumerate(sizes) for _ in range(size)], dtype="string"
    )
    genes.index = 1_000 + 2 * np.arange(len(genes))
    labels = (np.arange(len(genes)) % 2 == 0).astype(int)
    config = replace(TrainingConfig.from_toml(), cv_folds=4, mask_augmentation=False)
    for model in check_gene_grouped_folds(genes, labels, config):
        scored = labels[np.concatenate(model.scored)]
        assert 0 < scored.mean() < 1  # stratified: each fold scores both classes


@pytest.mark.e2e
def test_gene_grouped_folds_on_the_clingen_2019_set_never_split_a_gene():
    """The real 2019 set and the default configuration, through the project's function:
    no gene split, every row scored once, each fold 30-70% P/LP."""
    train = read_clingen_set("2019")
    labels = train["label"].to_numpy(dtype=int)
    folds = check_gene_grouped_folds(train["gene"].astype(str), labels, TrainingConfig.from_toml())
    for model in folds:
        assert 0.3 < labels[np.concatenate(model.scored)].mean() < 0.7


def test_config_round_trips_for_reproducible_runs():
    config = TrainingConfig.from_toml()
    assert TrainingConfig.from_dict(config.to_dict()) == config
    assert config.train_dataset == "2019" and config.test_dataset == "2020"
    assert np.isclose(config.lightgbm["learning_rate"], 0.03)


def test_a_config_file_can_be_named(tmp_path: Path):
    raw = TrainingConfig.from_toml().to_dict()
    path = tmp_path / "fast.toml"
    path.write_text(
        f'train_dataset = "2019"\ntest_dataset = "2020"\nfeature_sets = ["noaf"]\n'
        f"cv_folds = 3\nseed = 11\nn_bootstrap = 50\n\n[lightgbm]\n"
        f"n_estimators = 10\nlearning_rate = {raw['lightgbm']['learning_rate']}\n"
    )
    config = TrainingConfig.from_toml(path)
    assert (config.feature_sets, config.cv_folds, config.seed) == (("noaf",), 3, 11)
    assert config.lightgbm["n_estimators"] == 10 and config.backend == "local"


# --------------------------------------------------------------------------- fitting (synthetic)


@pytest.fixture(scope="module")
def tiny_rows(tiny_home: Settings) -> pd.DataFrame:
    """The labelled SYNTHETIC rows of the tiny home's store."""
    return Store.open(tiny_home).dataset_rows(TINY_DATASET, labelled=True)


def test_every_fit_goes_through_the_given_fitter_with_masked_copies(tiny_rows):
    """Synthetic rows: the priority set's OOF and final fits all use ``fit=``, augmented."""
    calls: list[int] = []

    def recording(features, labels, config):
        calls.append(len(features))
        return fit_local(features, labels, config)

    af = load_feature_set("af")
    config = replace(TINY_CONFIG, lightgbm={**TINY_CONFIG.lightgbm, "n_estimators": 5})
    trained = train_feature_set(tiny_rows, af, config, fit=recording)
    assert len(calls) == config.cv_folds + 1
    assert calls[-1] == 2 * len(tiny_rows)  # the final model: every row and its masked copy
    assert sum(calls[:-1]) == 2 * len(tiny_rows) * (config.cv_folds - 1)
    assert not np.isnan(trained.oof_scores).any() and 0.5 < trained.oof_auroc <= 1
    assert list(trained.feature_importance["feature"].sort_values()) == sorted(af.feature_names)
    labels = tiny_rows["label"].to_numpy(dtype=int)
    plain = replace(config, mask_augmentation=False)
    model = fit_classifier(tiny_rows[af.feature_names], labels, plain, fit=recording)
    assert calls[-1] == len(tiny_rows) and model.n_features_in_ == len(af.feature_names)


def test_each_profile_trains_on_every_scorable_row_without_missing_values(tiny_rows):
    """Synthetic rows: a profile model never sees one of its sources missing, nor a count.

    Each profile's fits go through ``fit=`` on the rows that carry some profile
    in full, their other sources imputed (no masked copies); the routed
    out-of-fold score of a row is the one of the first profile it carries.
    """
    seen: list[pd.DataFrame] = []

    def recording(features, labels, config):
        seen.append(features)
        return fit_local(features, labels, config)

    noaf = load_feature_set("noaf")
    config = replace(TINY_CONFIG, lightgbm={**TINY_CONFIG.lightgbm, "n_estimators": 5})
    trained = train_feature_set(tiny_rows, noaf, config, fit=recording)
    routes = assign_profiles(noaf.profiles, tiny_rows)
    assert [p.profile.name for p in trained.profiles] == [p.name for p in noaf.profiles]
    assert len(seen) == len(noaf.profiles) * (config.cv_folds + 1)
    for i, profile in enumerate(trained.profiles):
        fits = seen[i * (config.cv_folds + 1) : (i + 1) * (config.cv_folds + 1)]
        assert len(fits[-1]) == int((routes != "").sum())
        for features in fits:
            assert not features[list(profile.profile.sources)].isna().any().any()
            assert not [c for c in features.columns if c.endswith("_n_missing")]
            assert list(features.columns) == profile.feature_names
        before = profile.profile.carried_by(tiny_rows[routes != ""])
        np.testing.assert_array_equal(profile.carried, before)
    assert np.isnan(trained.oof_scores).tolist() == (routes == "").tolist()
    first = trained.profiles[0]
    mine = routes[routes != ""] == first.profile.name
    np.testing.assert_array_equal(
        trained.oof_scores[routes == first.profile.name], first.oof_scores[mine]
    )
    assert trained.model is first.model and trained.calibration is first.calibration


def test_the_imputation_never_sees_the_label_and_keeps_observed_values(tiny_rows):
    """Synthetic rows: shuffled labels fill the same values; observed values are untouched;
    filled values stay within each source's observed range."""
    noaf = load_feature_set("noaf")
    sources = list(dict.fromkeys(s for p in noaf.profiles for s in p.sources))
    filled, used = label_free_imputation(tiny_rows, noaf, seed=7)
    shuffled = tiny_rows.assign(label=np.random.default_rng(0).permutation(tiny_rows["label"]))
    again, _ = label_free_imputation(shuffled, noaf, seed=7)
    pd.testing.assert_frame_equal(filled[sources], again[sources])
    original = tiny_rows[used]
    observed = original[sources].notna().to_numpy()
    np.testing.assert_array_equal(
        filled[sources].to_numpy()[observed], original[sources].to_numpy()[observed]
    )
    assert not filled[sources].isna().any().any() and (~observed).sum() > 50
    low, high = original[sources].min(), original[sources].max()
    assert ((filled[sources] >= low - 1e-12) & (filled[sources] <= high + 1e-12)).all().all()


def test_masked_copies_blank_one_source_each_and_recount(tiny_rows):
    """Synthetic rows, every per-tool score present: each copy lacks exactly one, recounted."""
    noaf = load_feature_set("noaf").feature_names
    sources = [c for c in FUNCTIONAL_SCORES if c in noaf]
    features = mask_sources(tiny_rows[noaf].fillna({c: 0.5 for c in sources}), [])
    features = features.reset_index(drop=True).assign(row_id=np.arange(len(tiny_rows)))
    labels = tiny_rows["label"].to_numpy(dtype=int)
    augmented, augmented_labels = with_masked_copies(features, labels, seed=3)
    assert len(augmented) == 2 * len(features) and len(augmented_labels) == len(augmented)
    pd.testing.assert_frame_equal(augmented.head(len(features)), features)
    copies = augmented.iloc[len(features) :]
    assert (copies[sources].isna().sum(axis=1) == 1).all()
    assert set(copies[sources].isna().idxmax(axis=1)) == set(sources)  # each source blanked
    original = features.set_index("row_id").loc[copies["row_id"]]
    np.testing.assert_array_equal(
        copies["functional_n_missing"], original["functional_n_missing"] + 1
    )
    np.testing.assert_array_equal(augmented_labels[len(features) :], labels[copies["row_id"]])
    assert sorted(copies["row_id"]) == list(range(len(features)))  # one copy of each row


def _calibration(thresholds: dict[str, float | None]) -> CalibrationResult:
    empty = np.array([])
    return CalibrationResult(
        thresholds, {}, 0.0441, 1124.0, False, 0, 0, 0, 0, empty, empty, empty, empty
    )


@pytest.mark.parametrize(
    ("level", "kept"),
    [
        ("Strong", {"PP3_Supporting", "PP3_Moderate", "PP3_Strong"}),
        ("Supporting", {"PP3_Supporting"}),
        ("VeryStrong", {"PP3_Supporting", "PP3_Moderate", "PP3_Strong", "PP3_VeryStrong"}),
    ],
)
def test_each_criterion_is_capped_at_its_own_level(level: str, kept: set[str]):
    thresholds = {code: 0.5 for code in EVIDENCE_CODES}
    capped = cap_levels(_calibration(thresholds), level, "VeryStrong").thresholds
    assert {c for c, v in capped.items() if c.startswith("PP3") and v is not None} == kept
    assert all(capped[c] == 0.5 for c in EVIDENCE_CODES if c.startswith("BP4"))
    mirrored = cap_levels(_calibration(thresholds), "VeryStrong", level).thresholds
    assert {c for c, v in mirrored.items() if c.startswith("BP4") and v is not None} == {
        c.replace("PP3", "BP4") for c in kept
    }


def test_the_default_configuration_caps_pp3_at_strong_and_bp4_at_moderate():
    config = TrainingConfig.from_toml()
    assert (config.pp3_max_level, config.bp4_max_level) == ("Strong", "Moderate")


def test_an_unknown_cap_is_refused():
    with pytest.raises(ValueError, match="'Huge' is not one of"):
        cap_levels(_calibration({code: 0.5 for code in EVIDENCE_CODES}), "Huge")


#: Distinct thresholds (a level not reached: None), so a value moved to another code shows.
UNCAPPED = {
    "PP3_Supporting": 0.61, "PP3_Moderate": 0.72, "PP3_Strong": 0.83, "PP3_VeryStrong": 0.94,
    "BP4_Supporting": 0.39, "BP4_Moderate": 0.28, "BP4_Strong": 0.17, "BP4_VeryStrong": None,
}  # fmt: skip


@pytest.mark.parametrize(
    ("pp3_max", "bp4_max", "expected"),
    [
        (  # the default: PP3 up to Strong, BP4 up to Moderate
            "Strong",
            "Moderate",
            {**UNCAPPED, "PP3_VeryStrong": None, "BP4_Strong": None},
        ),
        (
            "Supporting",
            "Strong",
            {**UNCAPPED, "PP3_Moderate": None, "PP3_Strong": None, "PP3_VeryStrong": None},
        ),
        ("VeryStrong", "Supporting", {**UNCAPPED, "BP4_Moderate": None, "BP4_Strong": None}),
    ],
)
def test_capping_keeps_each_allowed_threshold_and_drops_the_rest(pp3_max, bp4_max, expected):
    """Known answers: the exact thresholds left; the input calibration is not changed."""
    calibration = _calibration(dict(UNCAPPED))
    capped = cap_levels(calibration, pp3_max, bp4_max)
    assert capped.thresholds == expected
    assert calibration.thresholds == UNCAPPED
    assert capped.grid is calibration.grid and capped.prior == calibration.prior


def test_bp4_is_not_capped_unless_asked():
    """``bp4_max_level`` defaults to VeryStrong: every BP4 threshold is kept."""
    capped = cap_levels(_calibration(dict(UNCAPPED)), "Moderate").thresholds
    assert capped == {**UNCAPPED, "PP3_Strong": None, "PP3_VeryStrong": None}


# --------------------------------------------------------------------------- unlabelled set

#: The mirror's one unlabelled source with per-tool scores: 232 real dbNSFP v4 rows.
UNLABELLED = "dbnsfp_v24_chr4"


def test_dataset_rows_pick_one_dataset_repeatably_whatever_the_threads(trained_home):
    store = Store.open(trained_home)
    columns = ["variant", "dataset"]
    picked = store.dataset_rows("dbnsfp_v23_test", columns, limit=300, seed=1)
    assert len(picked) == 300 and set(picked["dataset"]) == {"dbnsfp_v23_test"}
    single = Store.open(trained_home, threads=1)
    pd.testing.assert_frame_equal(
        picked, single.dataset_rows("dbnsfp_v23_test", columns, limit=300, seed=1)
    )
    other = store.dataset_rows("dbnsfp_v23_test", columns, limit=300, seed=2)
    assert set(other["variant"]) != set(picked["variant"])
    assert len(store.dataset_rows(UNLABELLED, columns, limit=10_000)) == 232


def _config(**overrides) -> TrainingConfig:
    return replace(TrainingConfig.from_toml(), **overrides)


def test_unlabelled_rows_are_unlabelled_uncurated_and_scorable(trained_home):
    store = Store.open(trained_home)
    curated = pd.concat([labelled_rows(store, "2019"), labelled_rows(store, "2020")])
    assert unlabelled_rows(_config(), store, curated) is None  # default: none
    rows = unlabelled_rows(_config(unlabelled_dataset=UNLABELLED), store, curated)
    assert 0 < len(rows) <= 232
    assert rows["label"].isna().all()
    assert (assign_profiles(load_feature_set("noaf").profiles, rows) != "").all()
    # a variant that is curated never joins the unlabelled set
    one = rows.head(1).assign(label=1.0)
    again = unlabelled_rows(
        _config(unlabelled_dataset=UNLABELLED), store, pd.concat([curated, one])
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
            _config(unlabelled_dataset=dataset),
            Store.open(trained_home),
            pd.DataFrame({"variant": []}),
        )


TWO_PROFILES = ("clingen", "cadd_conservation")


def test_the_unlabelled_condition_uses_the_final_models_scores(trained_home):
    store = Store.open(trained_home)
    train = labelled_rows(store, "2019").reset_index(drop=True)
    config = _config(
        unlabelled_dataset=UNLABELLED,
        cv_folds=3,
        n_bootstrap=100,
        lightgbm={**TrainingConfig.from_toml().lightgbm, "n_estimators": 40},
    )
    unlabelled = unlabelled_rows(config, store, train)
    # Two profiles keep it quick: the richest, which no row of the dbNSFP sample carries (it
    # has no MutPred2), and the one every row of it carries (CADD, GERP++ and phyloP).
    noaf = load_feature_set("noaf")
    two = replace(noaf, profiles=tuple(p for p in noaf.profiles if p.name in TWO_PROFILES))
    trained = train_feature_set(train, two, config, unlabelled=unlabelled)
    used = 0
    for profile in trained.profiles:  # each profile: the unlabelled rows that carry it
        usable = unlabelled[profile.profile.carried_by(unlabelled)]
        assert profile.calibration.n_unlabelled == len(usable)
        if len(usable):
            scores = profile.model.predict_proba(usable[profile.feature_names])[:, 1]
            assert np.isin(scores, profile.calibration.grid).all()
        used += len(usable)
    assert [p.profile.name for p in trained.profiles] == list(TWO_PROFILES)
    assert used > 0


def test_gene_folds_are_cut_once_and_equal_sklearns():
    """Profiles reuse one cut of the rows; it is exactly StratifiedGroupKFold's, genes whole."""
    from sklearn.model_selection import StratifiedGroupKFold

    rng = np.random.default_rng(0)
    genes = pd.Series([f"G{i}" for i in rng.integers(0, 60, size=600)])
    labels = rng.integers(0, 2, size=600)
    first = gene_folds(labels, genes, 3, seed=7)
    assert gene_folds(labels.copy(), genes.copy(), 3, seed=7) is first  # cached
    assert gene_folds(labels, genes, 3, seed=8) is not first
    cut = StratifiedGroupKFold(3, shuffle=True, random_state=7).split(
        np.zeros(600), labels, groups=genes
    )
    for (fit, score), (fit_sk, score_sk) in zip(first, cut, strict=True):
        assert np.array_equal(fit, fit_sk) and np.array_equal(score, score_sk)
        assert not set(genes.iloc[fit]) & set(genes.iloc[score])
