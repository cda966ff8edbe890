"""The labelled sets: real files through the manifest, restricted to the REAL store's variants."""

from __future__ import annotations

import pytest

from vipredict.audit.groups import assign_groups
from vipredict.audit.sets import LABELLED_SETS, clingen_with_frequency_vcf, load_set
from vipredict.config import Settings
from vipredict.io.readers.clinvar import read_clinvar_source
from vipredict.io.sources import resolve
from vipredict.store.partitioned import Store

SETS = {spec.name: spec for spec in LABELLED_SETS}


@pytest.fixture(scope="module")
def store(trained_home: Settings) -> Store:
    return Store.open(trained_home)


def test_clingen_rows_are_split_into_training_and_holdout(store: Store):
    audit = load_set(store, SETS["clingen_x_gnomad_exports"])
    by_split = audit.rows.groupby("split")["dataset"].unique()
    assert list(by_split["train_2019"]) == ["clingen_2019"]
    assert list(by_split["validation_2020"]) == ["clingen_2020"]
    assert len(audit.freq) == len(audit.rows)


def test_brca_set_labels_agree_with_clinvar_and_absence_means_not_observed(store: Store):
    audit = load_set(store, SETS["brca12_exac"])
    assert 0 < audit.counts["labelled"] <= audit.counts["with_features"] < audit.counts["in_set"]
    clinvar = read_clinvar_source("clinvar_2015_brca_vcf").dropna(subset=["label"])
    both = audit.rows.merge(clinvar.drop_duplicates("variant"), on="variant")
    assert len(both) > 10
    assert (both["label_x"] == both["label_y"]).all()
    status = audit.freq["exac_observed"]
    assert status.notna().all()  # BRCA1/2 are covered: absent is "not observed", never unknown


def test_macarthur_set_uses_its_own_gnomad_exome_counts(store: Store):
    audit = load_set(store, SETS["macarthur_clinvar_x_gnomad_exomes"])
    assert audit.counts["labelled"] > 0
    assert (audit.freq["gnomad_observed"].dropna() >= 0).all()
    assert audit.freq.columns.str.startswith("gnomad_").all()


def test_a_user_frequency_vcf_gives_the_same_groups_as_the_declared_source(store: Store):
    """A gnomAD/ExAC sites VCF given by path (here the real ExAC BRCA1/2 VCF) runs unchanged."""
    user = clingen_with_frequency_vcf(store, resolve("exac_brca12_vcf"), "GRCh37")
    declared = load_set(store, SETS["brca12_exac"])
    user_groups = assign_groups(user.freq, user.spec.prefix).assign(
        variant=lambda m: user.rows["variant"].to_numpy()[m["row"]]
    )
    declared_groups = assign_groups(declared.freq, declared.spec.prefix).assign(
        variant=lambda m: declared.rows["variant"].to_numpy()[m["row"]]
    )
    keys = ["variant", "grouping", "group"]
    single = user_groups["grouping"].isin(["grpmax_group", "af_band"])
    observed = user_groups[single & (user_groups["group"] != "unknown")][keys]
    shared = observed.merge(declared_groups[keys], on=["variant", "grouping"], how="inner")
    assert len(shared) > 100
    assert (shared["group_x"] == shared["group_y"]).all()
