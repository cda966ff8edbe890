"""One variant under both builds: GRCh38 keys for the ClinGen sets, and the store's copies.

The ClinGen sets are GRCh37 only, and a GRCh38 VCF must find them too. No chain
file is used: a ClinGen variant gets a GRCh38 key only where a real public
source in the mirror gives its GRCh38 position (:func:`lift_to_grch38`):

* the ClinVar 2020-08 GRCh38 VCFs (P/LP, B/LB, VUS): the record's ``RS`` equals
  one of the variant's dbSNP ids (``rs_dbSNP151``), on the same chromosome, with
  REF and ALT equal (VCF alleles are on the + strand on both builds, so nothing is
  reverse-complemented);
* macarthur-lab's ClinVar allele tables, published on both builds: the GRCh37
  row is the variant itself, and the GRCh38 row with the same ClinVar allele id
  has the same chromosome, REF and ALT.

A GRCh37 key given two different GRCh38 keys, or a GRCh38 key claimed by two
GRCh37 keys, is left out: no key rather than a wrong one.

The store then indexes such a row under its other build too (:func:`with_copies`):
a *copy* is the same feature row keyed on the other build, marked with the key of
the row it copies (:data:`~vipredict.store.partitioned.COPY_COLUMN`), so training
and evaluation, which read :func:`~vipredict.store.partitioned.labelled_rows`,
still see each variant once. A copy never displaces a row that a source keyed on
that build itself: copies only fill keys that no source gives natively. dbNSFP
v3/v4 files give both builds on each line (:mod:`vipredict.io.readers.dbnsfp`)
and go through the same copies. What was lifted is written beside the store once
per build (:data:`LIFT_FILE`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vipredict.io.readers.clinvar import read_allele_table_source, read_clinvar_source
from vipredict.io.readers.dbnsfp import OTHER_BUILD_KEY
from vipredict.schema import KEY
from vipredict.store.partitioned import COPY_COLUMN
from vipredict.variants import split_keys

#: Where the GRCh38 key of a row came from (a manifest source name, several joined by ",").
OTHER_BUILD_SOURCE = "other_build_source"
#: Carried from annotations to the feature table until the store is written.
CARRIED = (OTHER_BUILD_KEY, OTHER_BUILD_SOURCE)
#: ClinVar GRCh38 VCFs whose ``RS`` and alleles give a GRCh37 variant its GRCh38 position.
CLINVAR_GRCH38_SOURCES = (
    "clinvar_2020_pathogenic_vcf",
    "clinvar_2020_benign_vcf",
    "clinvar_2020_vus_vcf",
)
#: The same ClinVar alleles on each build, joined by ClinVar allele id.
ALLELE_TABLES = ("clinvar_750_b37_tsv", "clinvar_750_b38_tsv")
#: The lift table written beside the store's partitions at each build.
#: The leading underscore keeps it out of the partitioned dataset (Arrow skips ``_*``).
LIFT_FILE = "_liftover.parquet"
LIFT_COLUMNS = ("grch37", "grch38", "source", "indexed")
LIFT_SCHEMA = pa.schema(
    [
        ("grch37", pa.string()),
        ("grch38", pa.string()),
        ("source", pa.string()),
        ("indexed", pa.bool_()),
    ]
)
_CANDIDATE_COLUMNS = ["grch37", "grch38", "source"]


# --------------------------------------------------------------------------- sources


def rs_ids(values: pd.Series) -> pd.Series:
    """One ``rs<digits>`` id per row (index repeated) from ``;``/``,``-joined cells."""
    tokens = values.astype("string").str.split(r"[;,]", regex=True).explode().str.strip()
    return tokens[tokens.str.fullmatch(r"rs\d+").fillna(False).astype(bool)]


@cache
def clinvar_grch38_records() -> pd.DataFrame:
    """``rs, variant, source`` of every ClinVar 2020-08 GRCh38 record with a dbSNP id."""
    frames = []
    for name in CLINVAR_GRCH38_SOURCES:
        frame = read_clinvar_source(name)[["variant", "rsid"]]
        ids = rs_ids(frame["rsid"])
        frames.append(pd.DataFrame({"rs": ids, "variant": frame.loc[ids.index, "variant"]}))
        frames[-1]["source"] = name
    return pd.concat(frames, ignore_index=True).drop_duplicates()


@cache
def clinvar_allele_pairs() -> pd.DataFrame:
    """``grch37, grch38, source`` of the ClinVar alleles published on both builds."""
    b37, b38 = (read_allele_table_source(name) for name in ALLELE_TABLES)
    pairs = b37[["variant", "allele_id"]].merge(
        b38[["variant", "allele_id"]], on="allele_id", suffixes=("_37", "_38")
    )
    pairs = pairs.dropna(subset=["allele_id"])
    return pd.DataFrame(
        {
            "grch37": pairs["variant_37"],
            "grch38": pairs["variant_38"],
            "source": ",".join(ALLELE_TABLES),
        }
    )


def _locus(keys: pd.Series) -> pd.DataFrame:
    return split_keys(keys.astype("string"))[["chrom", "ref", "alt"]]


def _same_variant(pairs: pd.DataFrame) -> pd.Series:
    """Pairs whose two keys name the same chromosome, REF and ALT (only the position moves)."""
    if pairs.empty:
        return pd.Series(dtype=bool, index=pairs.index)
    a, b = _locus(pairs["grch37"]), _locus(pairs["grch38"])
    return pd.Series((a.to_numpy() == b.to_numpy()).all(axis=1), index=pairs.index)


def by_rs_and_alleles(variants: pd.DataFrame) -> pd.DataFrame:
    """Candidates from the ClinVar GRCh38 VCFs: ``rs`` id shared, chromosome and alleles equal.

    ``variants``: ``variant`` (GRCh37 key) and ``rsid`` (dbSNP ids as the source writes them).
    """
    ids = rs_ids(variants["rsid"])
    asked = pd.DataFrame({"rs": ids, "grch37": variants.loc[ids.index, KEY].astype("string")})
    found = asked.merge(clinvar_grch38_records(), on="rs").rename(columns={"variant": "grch38"})
    return found[_same_variant(found)][_CANDIDATE_COLUMNS]


def by_allele_id(variants: pd.DataFrame) -> pd.DataFrame:
    """Candidates from the allele tables: the GRCh37 key itself, its allele id on GRCh38."""
    pairs = clinvar_allele_pairs()
    found = pairs[pairs["grch37"].isin(set(variants[KEY].astype(str)))]
    return found[_same_variant(found)][_CANDIDATE_COLUMNS]


def resolve_candidates(candidates: pd.DataFrame) -> pd.DataFrame:
    """One GRCh38 key per GRCh37 key, agreed by every source that gives one; ambiguity dropped.

    ``attrs``: ``conflicting`` (GRCh37 keys given two GRCh38 keys) and ``shared``
    (GRCh38 keys claimed by two GRCh37 keys), both left out.
    """
    unique = candidates.drop_duplicates()
    per37 = unique.groupby("grch37")["grch38"].nunique()
    conflicting = set(per37[per37 > 1].index)
    agreed = unique[~unique["grch37"].isin(conflicting)]
    per38 = agreed.groupby("grch38")["grch37"].nunique()
    shared = set(per38[per38 > 1].index)
    agreed = agreed[~agreed["grch38"].isin(shared)]
    sources = agreed.groupby(["grch37", "grch38"], sort=False)["source"].agg(
        lambda s: ",".join(sorted(set(",".join(s).split(","))))
    )
    out = sources.reset_index()
    out.attrs = {"conflicting": len(conflicting), "shared": len(shared)}
    return out


def lift_to_grch38(variants: pd.DataFrame) -> pd.DataFrame:
    """``grch37, grch38, source`` for the GRCh37 ``variants`` a real source places on GRCh38."""
    parts = [by_rs_and_alleles(variants)] if "rsid" in variants.columns else []
    parts.append(by_allele_id(variants))
    return resolve_candidates(pd.concat(parts, ignore_index=True))


def with_grch38_keys(annotations: pd.DataFrame) -> pd.DataFrame:
    """GRCh37 annotations plus :data:`OTHER_BUILD_KEY`/:data:`OTHER_BUILD_SOURCE` where lifted."""
    lifts = lift_to_grch38(annotations).set_index("grch37")
    keys = annotations[KEY].astype("string")
    out = annotations.copy()
    out[OTHER_BUILD_KEY] = keys.map(lifts["grch38"]).astype("string")
    out[OTHER_BUILD_SOURCE] = keys.map(lifts["source"]).astype("string")
    out.attrs = {**annotations.attrs, "lift": lifts.attrs}
    return out


# --------------------------------------------------------------------------- copies


def carry_other_build(table: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
    """``table`` (a feature table) with the other-build columns of its ``annotations``.

    The feature builders keep only declared columns; the other build's key must
    reach the store writer, which makes the copies.
    """
    present = [c for c in CARRIED if c in annotations.columns]
    if not present:
        return table
    unique = annotations.drop_duplicates(KEY)
    by_key = unique.set_index(unique[KEY].astype(str))
    out = table.copy()
    for column in present:
        out[column] = out[KEY].astype(str).map(by_key[column]).astype("string")
    if OTHER_BUILD_SOURCE not in present:  # dbNSFP: the row's own source gives both builds
        source = out["source"] if "source" in out.columns else pd.Series(pd.NA, index=out.index)
        out[OTHER_BUILD_SOURCE] = source.astype("string").where(out[OTHER_BUILD_KEY].notna())
    return out


def with_copies(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows to store, lift table): ``table``'s rows, then a copy of each under its other build.

    A copy is dropped when its key is a row of ``table`` (the native row wins) or
    an earlier copy's. Rows keep their order; copies come after them, so the
    order of the rows themselves (``source_row``) does not change.
    """
    rows = table.drop(columns=[c for c in CARRIED if c in table.columns])
    if COPY_COLUMN not in rows.columns:
        rows[COPY_COLUMN] = pd.array([pd.NA] * len(rows), dtype="string")
    if OTHER_BUILD_KEY not in table.columns:
        return rows, _lift_frame(pd.DataFrame(columns=[KEY, *CARRIED]), pd.Series(dtype=bool))
    lifted = table[table[OTHER_BUILD_KEY].notna()]
    taken = set(table[KEY].astype(str))
    fresh = ~lifted[OTHER_BUILD_KEY].astype(str).isin(taken) & ~lifted[OTHER_BUILD_KEY].duplicated()
    copies = rows.loc[lifted.index[fresh.to_numpy()]].copy()
    copies[COPY_COLUMN] = copies[KEY].astype("string")
    copies[KEY] = lifted.loc[fresh.to_numpy(), OTHER_BUILD_KEY].astype("string").to_numpy()
    out = pd.concat([rows, copies], ignore_index=True)
    return out, _lift_frame(lifted, fresh)


def _lift_frame(lifted: pd.DataFrame, indexed: pd.Series) -> pd.DataFrame:
    """The lift table (GRCh37 key, GRCh38 key, source, whether the copy is in the store)."""
    keys = lifted[KEY].astype("string").to_numpy(dtype=object)
    others = lifted[OTHER_BUILD_KEY].astype("string").to_numpy(dtype=object)
    on_grch37 = np.array([str(k).startswith("GRCh37:") for k in keys], dtype=bool)
    return pd.DataFrame(
        {
            "grch37": pd.array(np.where(on_grch37, keys, others), dtype="string"),
            "grch38": pd.array(np.where(on_grch37, others, keys), dtype="string"),
            "source": pd.array(lifted[OTHER_BUILD_SOURCE].to_numpy(dtype=object), dtype="string"),
            "indexed": indexed.to_numpy(dtype=bool),
        }
    )


def write_lift_table(lifts: pd.DataFrame, root: Path) -> Path:
    """Write the lift table beside the store's partitions (replaced whole, atomically)."""
    path = Path(root) / LIFT_FILE
    staging = path.with_name(f".{LIFT_FILE}.tmp")
    table = pa.Table.from_pandas(lifts[list(LIFT_COLUMNS)], LIFT_SCHEMA, preserve_index=False)
    pq.write_table(table, staging)
    staging.replace(path)
    return path


def read_lift_table(root: Path) -> pd.DataFrame:
    """The lift table of the store at ``root`` (empty when it was built without one)."""
    path = Path(root) / LIFT_FILE
    table = pq.read_table(path) if path.is_file() else LIFT_SCHEMA.empty_table()
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
