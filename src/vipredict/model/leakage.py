"""The leakage guard: what an evaluation set may share with the training set, and what not.

A figure measured on variants the model (or its calibration) has already seen is
optimistic, and so is one measured on their close relatives: another allele at
the same position sits in the same codon, the same conservation and the same
tool scores, and ClinGen's own PS1/PM5 criteria treat the same protein change
as the same evidence. So:

* a variant in both tables is an error (:class:`LeakageError`), checked on the
  tables as given, before anything is de-duplicated (a de-duplication that ran
  first could make the shared variant vanish, and the guard could not fire);
* each evaluation variant counts once: its repeated rows (one per transcript in
  the ClinGen files) are resolved to the first, and a variant whose rows
  disagree on the label is left out, because any rule picking one label would
  put a label on it that its source does not give;
* an evaluation variant at a training locus (same build, chromosome and
  position, any alleles) or with a training variant's gene + protein change (any
  transcript, any locus or build) is left out, counted and named.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from vipredict.io.readers.clingen import read_clingen_set
from vipredict.schema import KEY, PROTEIN_COLUMNS
from vipredict.variants import split_keys

#: A protein change as the ClinGen files give it, one per transcript.
PROTEIN_CHANGE = ("gene", *PROTEIN_COLUMNS)
#: Where a locus is read from: the variant key's build, chromosome and position.
LOCUS = ("build", "chrom", "pos")
#: Why an evaluation variant is left out, in the order the guard applies them.
CONFLICTING_LABELS = "conflicting_labels"
SHARED_LOCUS = "shared_locus"
SHARED_PROTEIN_CHANGE = "shared_protein_change"
EXCLUSION_REASONS = (CONFLICTING_LABELS, SHARED_LOCUS, SHARED_PROTEIN_CHANGE)


class LeakageError(RuntimeError):
    """Training and evaluation share a variant: every evaluation figure would be optimistic."""


@dataclass(frozen=True)
class GuardedEvaluation:
    """An evaluation set once the guard has run: what is kept, what was left out and why.

    A variant may be named under both ``shared_locus`` and
    ``shared_protein_change`` (each reason lists every variant it applies to);
    ``rows`` leaves each out once.
    """

    rows: pd.DataFrame  # kept evaluation rows, one per variant
    n_total: int  # unique evaluation variants before exclusions
    n_duplicate_rows: int  # rows dropped as repeats of a variant
    excluded: dict[str, list[str]]  # reason -> variant keys

    def report(self) -> dict:
        """JSON-ready counts and names for the evaluation report."""
        return {
            "n_holdout_total": self.n_total,
            "n_duplicate_rows": self.n_duplicate_rows,
            "excluded": {
                reason: {"n": len(variants), "variants": list(variants)}
                for reason, variants in self.excluded.items()
            },
            "n_evaluated": len(self.rows),
        }


def assert_no_shared_variants(train: pd.DataFrame, evaluation: pd.DataFrame) -> None:
    """Refuse a variant key that is in both tables (run it before any de-duplication)."""
    shared = set(train[KEY]) & set(evaluation[KEY])
    if shared:
        example = sorted(shared)[0]
        raise LeakageError(
            f"{len(shared)} variants are in both training and evaluation, e.g. {example}"
        )


def assert_sets_disjoint(train_year: str, evaluation_year: str) -> None:
    """The two ClinGen sets share no variant, compared as their files give them.

    The feature store keeps one row per variant, the first file's (2019 before
    2020), so a variant in both files would reach the store as a training row
    only: comparing the store's rows could never see it. The files can.
    """
    assert_no_shared_variants(read_clingen_set(train_year), read_clingen_set(evaluation_year))


def protein_changes(year: str) -> pd.DataFrame:
    """Every row of a ClinGen set's file: variant, gene, aa_ref, aa_pos, aa_alt, label.

    One row per transcript the file lists (a variant may have several), so the
    guard compares every protein change a variant has. The label rides along
    because the store keeps one row per variant: only the file still shows rows
    of one variant that disagree.
    """
    return read_clingen_set(year)[[KEY, *PROTEIN_CHANGE, "label"]].drop_duplicates()


def guard_evaluation(
    train: pd.DataFrame, evaluation: pd.DataFrame, protein_changes: pd.DataFrame | None = None
) -> GuardedEvaluation:
    """``evaluation`` with leaked or related variants left out, each variant once.

    ``train`` and ``evaluation`` need a ``variant`` key, ``evaluation`` a
    ``label``. Protein changes come from the tables' own gene/aa columns when
    they carry them, and from ``protein_changes`` (rows of
    :func:`protein_changes` for both sets, possibly with a ``label``) for the
    variants it lists. Raises :class:`LeakageError` on a shared variant, and
    ``ValueError`` when either table has no protein change at all (the check
    would pass without looking).
    """
    assert_no_shared_variants(train, evaluation)
    lookup = _lookup(protein_changes)
    first = evaluation.drop_duplicates(KEY, keep="first")
    conflicting = _conflicting_labels(evaluation, lookup)
    candidates = first[~first[KEY].isin(conflicting)]
    keys = candidates[KEY]
    excluded = {
        CONFLICTING_LABELS: sorted(conflicting),
        SHARED_LOCUS: sorted(keys[_loci(keys).isin(_loci(train[KEY]))]),
        SHARED_PROTEIN_CHANGE: _shared_protein_change(
            _changes_of(candidates, lookup, "evaluation"), _changes_of(train, lookup, "training")
        ),
    }
    left_out = {key for variants in excluded.values() for key in variants}
    return GuardedEvaluation(
        rows=first[~first[KEY].isin(left_out)].reset_index(drop=True),
        n_total=len(first),
        n_duplicate_rows=len(evaluation) - len(first),
        excluded=excluded,
    )


def _lookup(protein_changes: pd.DataFrame | None) -> pd.DataFrame:
    if protein_changes is None:
        return pd.DataFrame(columns=[KEY, *PROTEIN_CHANGE])
    return protein_changes


def _conflicting_labels(evaluation: pd.DataFrame, lookup: pd.DataFrame) -> list[str]:
    """Evaluation variants whose rows (in the table or in the files) carry two labels."""
    labels = [evaluation[[KEY, "label"]]]
    if "label" in lookup.columns:
        labels.append(lookup.loc[lookup[KEY].isin(evaluation[KEY]), [KEY, "label"]])
    stacked = pd.concat(labels, ignore_index=True).dropna(subset=["label"])
    stacked["label"] = stacked["label"].astype(int)
    per_variant = stacked.groupby(KEY)["label"].nunique()
    return [str(key) for key in per_variant.index[per_variant > 1]]


def _loci(keys: pd.Series) -> pd.Series:
    """``build:chrom:pos`` of each key, aligned with ``keys``."""
    if keys.empty:
        return pd.Series([], index=keys.index, dtype="string")
    parts = split_keys(keys.reset_index(drop=True))
    locus = parts["build"] + ":" + parts["chrom"] + ":" + parts["pos"].astype("string")
    return pd.Series(locus.to_numpy(), index=keys.index, dtype="string")


def _changes_of(table: pd.DataFrame, lookup: pd.DataFrame, role: str) -> pd.DataFrame:
    """Every known (variant, gene, aa_ref, aa_pos, aa_alt) of ``table``'s variants."""
    frames = [lookup.loc[lookup[KEY].isin(table[KEY]), [KEY, *PROTEIN_CHANGE]]]
    if set(PROTEIN_CHANGE) <= set(table.columns):
        frames.append(table[[KEY, *PROTEIN_CHANGE]])
    changes = pd.concat(frames, ignore_index=True).dropna()
    if changes.empty and not table.empty:
        raise ValueError(
            f"no protein change for any {role} variant: pass protein_changes() rows for both sets"
        )
    # One spelling per value, whatever dtype a table gave (aa_pos 12 vs 12.0 vs "12").
    changes["aa_pos"] = pd.to_numeric(changes["aa_pos"]).astype("Int64")
    return changes.astype({column: "string" for column in PROTEIN_CHANGE})


def _shared_protein_change(evaluation: pd.DataFrame, train: pd.DataFrame) -> list[str]:
    """Evaluation variants with a gene + protein change some training variant also has."""
    known = train[list(PROTEIN_CHANGE)].drop_duplicates()
    hits = evaluation.merge(known, on=list(PROTEIN_CHANGE), how="inner")
    return sorted(set(hits[KEY].astype(str)))
