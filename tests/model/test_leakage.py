"""The leakage guard: shared variants refused, duplicates once, related variants left out.

The logic tests use small SYNTHETIC tables (made-up keys, genes and protein
changes) whose answers are known by construction; the last tests run the guard
on the real ClinGen 2019 and 2020 sets.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from vipredict.io.readers.clingen import read_clingen_set
from vipredict.model import leakage
from vipredict.model.evaluation import guarded_validation
from vipredict.model.leakage import (
    LeakageError,
    assert_no_shared_variants,
    assert_sets_disjoint,
    guard_evaluation,
)
from vipredict.store.partitioned import Store

TRAIN_KEY = "GRCh37:1:100:A:G"


def table(rows: list[tuple]) -> pd.DataFrame:
    """SYNTHETIC rows: variant, gene, aa_ref, aa_pos, aa_alt, label, transcript."""
    columns = ["variant", "gene", "aa_ref", "aa_pos", "aa_alt", "label", "transcript"]
    return pd.DataFrame(rows, columns=columns)


def train() -> pd.DataFrame:
    """One SYNTHETIC training variant: GENE1 p.R10W at 1:100 (GRCh37)."""
    return table([(TRAIN_KEY, "GENE1", "R", 10, "W", 1, "t1")])


def other(key: str, label: int = 0, transcript: str = "t1") -> tuple:
    """A SYNTHETIC row that shares nothing but (perhaps) its locus with :func:`train`."""
    return (key, "GENE9", "A", 500, "V", label, transcript)


# --------------------------------------------------------------------------- shared variants


def test_a_shared_variant_is_an_error_naming_how_many_and_one():
    evaluation = table([other("GRCh37:1:200:A:G"), other("GRCh37:2:5:C:T")])
    assert_no_shared_variants(train(), evaluation)
    with pytest.raises(LeakageError, match=rf"^1 variants .* e\.g\. {TRAIN_KEY}$"):
        assert_no_shared_variants(train(), pd.concat([evaluation, train()]))


def test_a_shared_variant_repeated_with_disagreeing_labels_is_still_an_error():
    """Resolving duplicates first would drop this variant as 'conflicting' and hide the leak."""
    evaluation = table([other("GRCh37:2:5:C:T"), other(TRAIN_KEY, 1), other(TRAIN_KEY, 0, "t2")])
    with pytest.raises(LeakageError, match=rf"^1 variants .* e\.g\. {TRAIN_KEY}$"):
        guard_evaluation(train(), evaluation)


def test_the_clingen_files_are_compared_as_read(monkeypatch):
    """SYNTHETIC files: the 2020 file repeats a 2019 variant, which a store would have kept
    as a 2019 row only; the files still show it."""
    files = {"2019": train(), "2020": table([other("GRCh37:2:5:C:T"), other(TRAIN_KEY)])}
    monkeypatch.setattr(leakage, "read_clingen_set", files.__getitem__)
    with pytest.raises(LeakageError, match=r"^1 variants"):
        assert_sets_disjoint("2019", "2020")
    files["2020"] = files["2020"].iloc[:1]
    assert_sets_disjoint("2019", "2020")


# --------------------------------------------------------------------------- each variant once


def test_each_evaluation_variant_counts_once_as_its_first_row():
    evaluation = table(
        [
            other("GRCh37:3:1:A:G", 0, "a1"),
            other("GRCh37:3:2:A:G", 1, "b1"),
            other("GRCh37:3:1:A:G", 0, "a2"),
            other("GRCh37:3:3:A:G", 0, "c1"),
            other("GRCh37:3:1:A:G", 0, "a3"),
            other("GRCh37:3:3:A:G", 0, "c2"),
        ]
    )
    guarded = guard_evaluation(train(), evaluation)
    assert (guarded.n_total, guarded.n_duplicate_rows) == (3, 3)
    assert guarded.rows["transcript"].tolist() == ["a1", "b1", "c1"]
    assert guarded.excluded == {
        "conflicting_labels": [],
        "shared_locus": [],
        "shared_protein_change": [],
    }


def test_a_variant_whose_rows_disagree_on_the_label_is_left_out_and_named():
    """Two rows of 3:1, one P/LP and one B/LB: neither label is kept, the variant is named."""
    evaluation = table(
        [other("GRCh37:3:1:A:G", 1, "a1"), other("GRCh37:3:2:A:G"), other("GRCh37:3:1:A:G", 0)]
    )
    guarded = guard_evaluation(train(), evaluation)
    assert guarded.excluded["conflicting_labels"] == ["GRCh37:3:1:A:G"]
    assert guarded.rows["variant"].tolist() == ["GRCh37:3:2:A:G"]
    assert (guarded.n_total, guarded.n_duplicate_rows) == (2, 1)


def test_disagreeing_labels_in_the_files_are_seen_when_the_table_has_one_row():
    """The store keeps one row (and so one label) per variant; the file's rows, given as
    ``protein_changes``, still show the disagreement."""
    evaluation = table([other("GRCh37:3:1:A:G", 1), other("GRCh37:3:2:A:G")])
    files = table(
        [other("GRCh37:3:1:A:G", 1), other("GRCh37:3:1:A:G", 0, "t2"), other("GRCh37:3:2:A:G")]
    )
    guarded = guard_evaluation(train(), evaluation[["variant", "label"]], files)
    assert guarded.excluded["conflicting_labels"] == ["GRCh37:3:1:A:G"]
    assert guarded.rows["variant"].tolist() == ["GRCh37:3:2:A:G"]


# --------------------------------------------------------------------------- related variants


def test_a_training_locus_with_other_alleles_is_left_out():
    """1:100 A>T and 1:100 A>C share the training locus; the others differ in build,
    chromosome or position."""
    kept = ["GRCh37:1:101:A:G", "GRCh38:1:100:A:T", "GRCh37:2:100:A:G"]
    evaluation = table([other(k) for k in ["GRCh37:1:100:A:T", *kept, "GRCh37:1:100:A:C"]])
    guarded = guard_evaluation(train(), evaluation)
    assert guarded.excluded["shared_locus"] == ["GRCh37:1:100:A:C", "GRCh37:1:100:A:T"]
    assert guarded.rows["variant"].tolist() == kept
    assert guarded.excluded["shared_protein_change"] == []


def test_a_training_protein_change_elsewhere_is_left_out_only_in_the_same_gene():
    """GENE1 p.R10W at another position (another codon change) and under GRCh38 is left
    out; the same change in GENE2, and GENE1 p.R10Q, are kept."""
    evaluation = table(
        [
            ("GRCh37:1:102:C:T", "GENE1", "R", 10, "W", 1, "t1"),
            ("GRCh38:1:5000:A:G", "GENE1", "R", 10, "W", 1, "t1"),
            ("GRCh37:7:10:C:T", "GENE2", "R", 10, "W", 1, "t1"),
            ("GRCh37:1:101:G:A", "GENE1", "R", 10, "Q", 1, "t1"),
        ]
    )
    guarded = guard_evaluation(train(), evaluation)
    assert guarded.excluded["shared_protein_change"] == ["GRCh37:1:102:C:T", "GRCh38:1:5000:A:G"]
    assert guarded.rows["variant"].tolist() == ["GRCh37:7:10:C:T", "GRCh37:1:101:G:A"]
    assert guarded.excluded["shared_locus"] == []


def test_protein_changes_come_from_every_transcript_in_the_lookup():
    """Feature rows carry no protein change: the file rows do, one per transcript; the
    evaluation variant's second transcript matches the training one's first."""
    features = pd.DataFrame({"variant": ["GRCh37:1:900:G:A", "GRCh37:5:1:G:A"], "label": [1, 0]})
    files = table(
        [
            (TRAIN_KEY, "GENE1", "R", 10, "W", 1, "t1"),
            ("GRCh37:1:900:G:A", "GENE1", "S", 3, "L", 1, "t1"),
            ("GRCh37:1:900:G:A", "GENE1", "R", 10, "W", 1, "t2"),
            ("GRCh37:5:1:G:A", "GENE5", "R", 10, "W", 0, "t1"),
        ]
    )
    guarded = guard_evaluation(pd.DataFrame({"variant": [TRAIN_KEY]}), features, files)
    assert guarded.excluded["shared_protein_change"] == ["GRCh37:1:900:G:A"]
    assert guarded.rows["variant"].tolist() == ["GRCh37:5:1:G:A"]


def test_a_guard_without_protein_changes_refuses_to_pass():
    """SYNTHETIC: either table without any protein change would pass the check unchecked."""
    features = pd.DataFrame({"variant": ["GRCh37:5:1:G:A"], "label": [0]})
    with pytest.raises(ValueError, match="no protein change for any evaluation variant"):
        guard_evaluation(train(), features)
    evaluation = table([other("GRCh37:5:1:G:A")])
    with pytest.raises(ValueError, match="no protein change for any training variant"):
        guard_evaluation(pd.DataFrame({"variant": [TRAIN_KEY]}), evaluation)


def test_the_report_names_each_reason_and_leaves_each_variant_out_once():
    """1:100 A>T shares the training locus and protein change: named twice, dropped once."""
    evaluation = table(
        [
            ("GRCh37:1:100:A:T", "GENE1", "R", 10, "W", 1, "t1"),
            other("GRCh37:4:1:A:G", 0),
            other("GRCh37:4:1:A:G", 1),
            other("GRCh37:4:2:A:G"),
            other("GRCh37:4:2:A:G"),
        ]
    )
    assert guard_evaluation(train(), evaluation).report() == {
        "n_holdout_total": 3,
        "n_duplicate_rows": 2,
        "excluded": {
            "conflicting_labels": {"n": 1, "variants": ["GRCh37:4:1:A:G"]},
            "shared_locus": {"n": 1, "variants": ["GRCh37:1:100:A:T"]},
            "shared_protein_change": {"n": 1, "variants": ["GRCh37:1:100:A:T"]},
        },
        "n_evaluated": 1,
    }


# --------------------------------------------------------------------------- the real sets


@pytest.mark.e2e
def test_the_clingen_files_share_no_variant_and_a_planted_one_is_caught():
    train_rows, validation = read_clingen_set("2019"), read_clingen_set("2020")
    assert_no_shared_variants(train_rows, validation)
    planted = train_rows["variant"].iloc[0]
    with pytest.raises(LeakageError, match=rf"^1 variants .* e\.g\. {re.escape(planted)}$"):
        assert_no_shared_variants(train_rows, pd.concat([validation, train_rows.head(1)]))


def test_the_2020_validation_set_against_2019(trained_home):
    """Real rows as ``run_evaluation`` reads them: 9,114 rows (one per transcript) of 9,058
    variants, no label conflict; 88 at a 2019 locus and 17 with a 2019 gene + protein
    change, 14 of them both, so 91 are left out (measured on the ClinGen files)."""
    guarded = guarded_validation(Store.open(trained_home), "2019", "2020")
    report = guarded.report()
    assert (report["n_holdout_total"], report["n_duplicate_rows"]) == (9_058, 56)
    counts = {reason: entry["n"] for reason, entry in report["excluded"].items()}
    assert counts == {"conflicting_labels": 0, "shared_locus": 88, "shared_protein_change": 17}
    both = set(guarded.excluded["shared_locus"]) & set(guarded.excluded["shared_protein_change"])
    assert len(both) == 14
    assert report["n_evaluated"] == 9_058 - 91 == len(guarded.rows)
    assert guarded.rows["variant"].is_unique
