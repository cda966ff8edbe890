"""Both builds in one store: copies under the other build, read once by training, never crossed.

Fast tier: the SYNTHETIC tiny home's feature rows, given made-up GRCh38 keys
(``+1,000`` bp), through the real writer and store. End-to-end: GRCh38 keys of
the real ClinGen sets from the real ClinVar GRCh38 VCFs and allele tables, a
store built from the real 2019 set, and the real ClinVar 2020-08 GRCh38 VCF
looked up against it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from synthetic import TinyHome

from vipredict.io.inputs import read_inputs
from vipredict.io.readers.clingen import read_clingen_set
from vipredict.io.readers.dbnsfp import OTHER_BUILD_KEY
from vipredict.io.sources import resolve
from vipredict.store.build import features_of, write_store
from vipredict.store.ingest import stream_dbnsfp
from vipredict.store.liftover import (
    OTHER_BUILD_SOURCE,
    by_allele_id,
    by_rs_and_alleles,
    lift_to_grch38,
    read_lift_table,
    resolve_candidates,
    with_copies,
)
from vipredict.store.partitioned import COPY_COLUMN, Store, labelled_rows, locus_queries
from vipredict.store.write import append_rows, write_rows

FIXTURES = Path(__file__).parents[1] / "io" / "readers" / "fixtures"


def _grch38(key: str, shift: int = 1_000) -> str:
    """A made-up GRCh38 key for a SYNTHETIC GRCh37 one: same alleles, position moved."""
    _, chrom, pos, ref, alt = key.split(":")
    return f"GRCh38:{chrom}:{int(pos) + shift}:{ref}:{alt}"


@pytest.fixture(scope="module")
def clingen_like(tiny: TinyHome) -> pd.DataFrame:
    """SYNTHETIC labelled rows named as the 2019 set, a third of them with a GRCh38 key."""
    table = features_of(tiny.annotations, tiny.frequencies).assign(dataset="clingen_2019")
    lifted = np.arange(len(table)) % 3 == 0
    keys = table["variant"].astype(str).map(_grch38).where(lifted)
    table[OTHER_BUILD_KEY] = keys.astype("string")
    table[OTHER_BUILD_SOURCE] = pd.Series("synthetic", index=table.index, dtype="string").where(
        lifted
    )
    return table


@pytest.fixture
def home(tiny: TinyHome, tmp_path: Path):
    return replace(tiny.settings, home=tmp_path / "home")


@pytest.fixture
def built(clingen_like: pd.DataFrame, home) -> Store:
    write_store(clingen_like, home)
    return Store.open(home)


def test_a_lifted_row_is_stored_under_both_builds_with_the_same_features(built, clingen_like):
    """SYNTHETIC rows: the copy is the row's features keyed, and partitioned, on GRCh38."""
    builds = {p.parent.parent.name for p in built.all_files()}
    assert builds == {"build=GRCh37", "build=GRCh38"}
    lifted = clingen_like[clingen_like[OTHER_BUILD_KEY].notna()]
    assert len(built) == len(clingen_like) + len(lifted)
    row = lifted.iloc[5]
    original, copy = built.lookup([row["variant"], row[OTHER_BUILD_KEY]]).to_dict("records")
    assert (original["variant"], copy["variant"]) == (row["variant"], row[OTHER_BUILD_KEY])
    features = [c for c in built.columns if c != "variant"]
    pd.testing.assert_series_equal(pd.Series(copy)[features], pd.Series(original)[features])
    stored = built.read_all().set_index("variant")
    assert stored.loc[row[OTHER_BUILD_KEY], COPY_COLUMN] == row["variant"]
    assert pd.isna(stored.loc[row["variant"], COPY_COLUMN])
    assert stored.loc[row[OTHER_BUILD_KEY], "build"] == "GRCh38"
    lifts = read_lift_table(built.root)
    assert len(lifts) == len(lifted) and lifts["indexed"].all()
    assert lifts.set_index("grch37").loc[row["variant"], "grch38"] == row[OTHER_BUILD_KEY]
    assert set(lifts["source"]) == {"synthetic"}


def test_training_reads_one_copy_of_each_labelled_variant(built, clingen_like):
    """SYNTHETIC rows: GRCh38 copies never reach the training or evaluation table."""
    train = labelled_rows(built, "2019")
    assert train["variant"].tolist() == clingen_like["variant"].tolist()  # build order, once
    assert train["variant"].str.startswith("GRCh37:").all()
    sample = built.dataset_rows("clingen_2019", ["variant"], limit=150, seed=1)
    assert sample["variant"].str.startswith("GRCh37:").all()  # the unlabelled sample too
    # The copies are there, labelled and in the same dataset: only the filter keeps them out.
    everything = built.dataset_rows("clingen_2019", ["variant", "label"], copies=True)
    assert everything["variant"].str.startswith("GRCh38:").sum() == 200
    assert everything["label"].notna().all()


def test_labelled_rows_refuses_a_store_holding_a_variant_twice(clingen_like, tmp_path):
    """SYNTHETIC rows: a store with a variant stored twice (say, appended again) is an error."""
    rows, _ = with_copies(clingen_like)
    root = write_rows(rows, tmp_path / "store")
    append_rows(rows.head(2), root, tag="again")
    with pytest.raises(ValueError, match="holds 2 variant"):
        labelled_rows(Store(root), "2019")


def test_a_key_never_matches_a_row_of_the_other_build(built, clingen_like):
    """SYNTHETIC rows: same chromosome, position and alleles on the other build is no match."""
    plain = clingen_like[clingen_like[OTHER_BUILD_KEY].isna()]["variant"].iloc[0]
    lifted = clingen_like[clingen_like[OTHER_BUILD_KEY].notna()].iloc[0]
    asked = [
        "GRCh38:" + plain.split(":", 1)[1],  # a GRCh37 row's coordinates, as GRCh38
        "GRCh37:" + lifted[OTHER_BUILD_KEY].split(":", 1)[1],  # a copy's coordinates, as GRCh37
        "GRCh38:" + lifted["variant"].split(":", 1)[1],  # a lifted row's GRCh37 coordinates
        lifted[OTHER_BUILD_KEY],  # the copy itself
    ]
    match = built.match(locus_queries(asked), ["variant"])
    assert match.found.to_pylist() == [{"row": 3, "variant": lifted[OTHER_BUILD_KEY]}]
    assert match.stored_refs() == {}  # not even a REF at those loci: they are other builds'


def test_a_copy_never_displaces_a_row_a_source_keyed_itself(clingen_like, tmp_path):
    """SYNTHETIC rows: a GRCh38 row of its own (a VEP table) keeps its key; no copy there."""
    lifted = clingen_like[clingen_like[OTHER_BUILD_KEY].notna()].head(2)
    native = lifted.head(1).assign(
        variant=lifted[OTHER_BUILD_KEY].iloc[0], dataset="vep", label=np.nan
    )
    native[[OTHER_BUILD_KEY, OTHER_BUILD_SOURCE]] = pd.NA
    table = pd.concat([lifted, native], ignore_index=True)
    rows, lifts = with_copies(table)
    assert lifts["indexed"].tolist() == [False, True]
    assert rows["variant"].is_unique and len(rows) == 4
    root = write_rows(rows, tmp_path / "store")
    found = Store(root).lookup([native["variant"].iloc[0]], ["variant", "dataset"])
    assert found["dataset"].tolist() == ["vep"]


def test_a_store_written_before_copies_existed_still_reads(clingen_like, tmp_path):
    """SYNTHETIC rows: files without the copy column beside new ones with copies."""
    rows, _ = with_copies(clingen_like.drop(columns=[OTHER_BUILD_KEY, OTHER_BUILD_SOURCE]))
    root = write_rows(rows, tmp_path / "store")
    for path in root.rglob("*.parquet"):  # as the writer made them before this change
        old = pq.read_table(path)
        pq.write_table(old.drop_columns([COPY_COLUMN]), path)
    assert not Store(root).has_copies()
    assert len(labelled_rows(Store(root), "2019")) == len(clingen_like)
    lifted = clingen_like[clingen_like[OTHER_BUILD_KEY].notna()].head(3)
    copies, _ = with_copies(lifted)
    append_rows(copies[copies[COPY_COLUMN].notna()], root, tag="copies")
    store = Store(root)
    assert store.has_copies()
    assert len(labelled_rows(store, "2019")) == len(clingen_like)
    assert len(store.lookup(lifted[OTHER_BUILD_KEY].tolist())) == 3


def test_resolving_sources_leaves_ambiguous_keys_out():
    """SYNTHETIC candidates: agreeing sources merge, conflicts and shared GRCh38 keys go."""
    candidates = pd.DataFrame(
        [
            ("GRCh37:1:100:A:G", "GRCh38:1:200:A:G", "a"),
            ("GRCh37:1:100:A:G", "GRCh38:1:200:A:G", "b"),  # agrees
            ("GRCh37:1:300:A:G", "GRCh38:1:400:A:G", "a"),
            ("GRCh37:1:300:A:G", "GRCh38:1:401:A:G", "b"),  # conflicts
            ("GRCh37:1:500:A:G", "GRCh38:1:600:A:G", "a"),
            ("GRCh37:1:501:A:G", "GRCh38:1:600:A:G", "a"),  # one GRCh38 key for two variants
        ],
        columns=["grch37", "grch38", "source"],
    )
    resolved = resolve_candidates(candidates)
    assert resolved.to_dict("records") == [
        {"grch37": "GRCh37:1:100:A:G", "grch38": "GRCh38:1:200:A:G", "source": "a,b"}
    ]
    assert resolved.attrs == {"conflicting": 1, "shared": 1}


def test_streamed_dbnsfp_v4_rows_are_indexed_under_both_builds(tmp_path, tiny: TinyHome):
    """SYNTHETIC v4-named dbNSFP rows: each keyed on the build asked, copied to the other."""
    root = tmp_path / "store"
    path = FIXTURES / "dbnsfp_v4_hvar_mutpred.tsv"
    report = stream_dbnsfp(path, root, "GRCh38", frequencies=tiny.frequencies, chunk_rows=2)
    assert (report.written, report.copies, report.already_stored) == (3, 3, 0)
    store = Store(root)
    found = store.lookup(["GRCh38:7:140753336:A:T", "GRCh37:7:140453136:A:T"], ["variant"])
    assert len(found) == 2
    stored = store.read_all().set_index("variant")
    assert stored.loc["GRCh37:7:140453136:A:T", COPY_COLUMN] == "GRCh38:7:140753336:A:T"
    assert (
        store.dataset_rows("dbnsfp_v4_hvar_mutpred.tsv", ["variant"])["variant"]
        .str.startswith("GRCh38:")
        .all()
    )
    again = stream_dbnsfp(path, root, "GRCh37", frequencies=tiny.frequencies)
    assert (again.written, again.copies, again.already_stored) == (0, 0, 3)


# =========================================================================== e2e: real data


@pytest.fixture(scope="module")
def clingen() -> dict[str, pd.DataFrame]:
    return {year: read_clingen_set(year) for year in ("2019", "2020")}


@pytest.mark.e2e  # reads the three ClinVar GRCh38 VCFs in full (about 10 s)
def test_clingen_grch38_keys_come_from_real_sources(clingen):
    """GRCh38 keys of the real ClinGen sets: how many, agreed where two sources give one."""
    lifted = {year: lift_to_grch38(frame) for year, frame in clingen.items()}
    # Of 11,740 distinct 2019 and 9,058 distinct 2020 variants (rs id and alleles, or allele id).
    assert len(lifted["2019"]) == 2_088 and len(lifted["2020"]) == 207
    for table in lifted.values():
        assert table.attrs == {"conflicting": 0, "shared": 0}
        assert table["grch37"].is_unique and table["grch38"].is_unique
    # The first 2019 row (rs539283387): macarthur-lab's GRCh38 table gives 1:1020183.
    keys = lifted["2019"].set_index("grch37")["grch38"]
    assert keys["GRCh37:1:955563:G:C"] == "GRCh38:1:1020183:G:C"
    # Both routes give 11 of the 2019 variants a key: the same key each time.
    by_rs, by_id = by_rs_and_alleles(clingen["2019"]), by_allele_id(clingen["2019"])
    both = by_rs.merge(by_id, on="grch37")
    assert both["grch37"].nunique() == 11 and (both["grch38_x"] == both["grch38_y"]).all()
    # No lift jumps: neighbours within 100 kb moved by the same offset (within 1 kb).
    table = pd.concat(lifted.values())
    loci = table["grch37"].str.split(":", expand=True)
    offset = table["grch38"].str.split(":").str[2].astype(int) - loci[2].astype(int)
    frame = pd.DataFrame({"chrom": loci[1], "pos": loci[2].astype(int), "offset": offset})
    frame = frame.sort_values(["chrom", "pos"])
    step = frame.groupby("chrom")[["pos", "offset"]].diff()
    near = step["pos"] < 100_000
    assert near.sum() > 1_000 and (step.loc[near, "offset"].abs() <= 1_000).all()


def test_grch38_clinvar_vcf_finds_clingen_rows_under_grch38_only(trained_home):
    """The real ClinVar 2020-08 GRCh38 P/LP VCF against the real store (``vipredict
    features``: both ClinGen sets, lift included): its ClinGen variants, each once."""
    store = Store.open(trained_home)
    train = labelled_rows(store, "2019")
    assert len(train) == 11_740 and train["variant"].str.startswith("GRCh37:").all()
    inputs = read_inputs(resolve("clinvar_2020_pathogenic_vcf"))
    keys = [r.key for r in inputs.records if r.key is not None and not r.error]
    assert len(keys) == 15_054 and all(k.startswith("GRCh38:") for k in keys)
    found = store.lookup(keys, ["variant", "label", "dataset"])
    # 328 P/LP records share an rs id and both alleles with a ClinGen variant (323 of 2019,
    # 5 of 2020); all are labelled P/LP there.
    assert len(found) == 328 and (found["label"] == 1).all()
    assert found["dataset"].value_counts().to_dict() == {"clingen_2019": 323, "clingen_2020": 5}
    lifts = read_lift_table(store.root).set_index("grch38")
    copies = store.read_all().set_index("variant").loc[found["variant"], COPY_COLUMN]
    assert (lifts.loc[copies.index, "grch37"].to_numpy() == copies.to_numpy()).all()
    # The same coordinates asked as GRCh37 never reach the GRCh38 copies.
    as37 = store.lookup(["GRCh37:" + k.split(":", 1)[1] for k in found["variant"]], ["variant"])
    assert not set(as37["variant"]) & set(found["variant"])
