"""``vipredict audit --labelled FILE``: a researcher's labelled VCF or TSV, audited by ancestry.

Real files: the DITTO VEP VCF (ClinVar fields in its CSQ, gnomAD v3 frequencies) and
macarthur-lab's ClinVar 2016 x ExAC TSV (per-group AC/AN). Scoring and the report run
on the SYNTHETIC tiny home (logic only: no figure), and on the real trained home in
the end-to-end tier.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vipredict.audit.labelled import (
    _split,
    _withheld,
    label_of,
    labelled_sets,
    read_labelled,
    score_file,
    vcf_labels,
)
from vipredict.audit.run import run_audit
from vipredict.config import Settings
from vipredict.io.files import open_text
from vipredict.io.inputs import read_inputs
from vipredict.io.readers.popfreq import corrected_exac_join_header
from vipredict.io.readers.sites import frequencies_from_columns
from vipredict.io.sources import resolve
from vipredict.model.scorer import Scorer


def _macarthur() -> Path:
    """The macarthur-lab ClinVar x ExAC TSV, through the manifest (checksum verified)."""
    return resolve("clinvar_exac_5000_tsv")


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Pathogenic", 1), ("Likely_pathogenic", 1), ("Pathogenic/Likely_pathogenic", 1),
        ("Likely pathogenic;Pathogenic", 1), ("Pathogenic;not provided", 1), ("LP", 1), ("1", 1),
        ("Benign", 0), ("Benign/Likely_benign", 0), ("Benign;Likely benign", 0), ("b", 0),
        ("0", 0), ("0.0", 0),
        ("Uncertain_significance", None), ("Pathogenic;Uncertain significance", None),
        ("Conflicting_interpretations_of_pathogenicity", None), ("Pathogenic,_risk_factor", None),
        ("Pathogenic;Benign", None), ("not provided", None), ("", None), (None, None),
    ],
)  # fmt: skip
def test_labels(text: str | None, label: int | None) -> None:
    got = label_of(text)
    assert (math.isnan(got) and label is None) or got == label


def test_split_and_withheld_follow_the_store_datasets() -> None:
    assert _split("clingen_2020,clingen_2019") == "train_2019"  # in both: in-sample
    assert _split("clingen_2020") == "validation_2020" and _split("") == "other"
    assert _withheld("vep_dbnsfp_benign")  # the independent VEP-format test set
    assert not _withheld("clingen_2019,vep_dbnsfp_benign") and not _withheld("dbnsfp_v23_test")


def test_ditto_vcf_labels_come_from_its_csq_clinvar_field() -> None:
    """The real DITTO VEP VCF: one label per allele, aligned with the scorer's records."""
    path = resolve("ditto_vep_vcf")
    with open_text(path) as handle:
        labels = np.array(vcf_labels(handle.read().split("\n")))
    records = read_inputs(path).records
    assert len(labels) == len(records) == 207
    assert (labels == 1).sum() > 0 and (labels == 0).sum() > 0
    labelled = read_labelled(path)
    assert labelled.counts["records"] == 207
    assert labelled.counts["pathogenic_labels"] == int((labels == 1).sum())
    freq = labelled.inputs.frequencies
    assert freq is not None and set(freq["dataset"]) == {"gnomADv3"}
    # Per-group gnomAD v3 values come as AFs only; the overall value has AC and AN too.
    groups = freq[freq["group"] != "all"]
    assert groups["ac"].isna().all() and groups["af"].notna().all()
    assert freq.loc[freq["group"] == "all", "an"].notna().all()


def test_macarthur_tsv_labels_and_exac_counts() -> None:
    path = _macarthur()
    labelled = read_labelled(path, frequency_dataset="exac")
    counts = labelled.counts
    assert counts["records"] == 4_999  # README: 4,999 ClinVar alleles
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    expected = table["clinical_significance"].map(label_of)
    assert counts["pathogenic_labels"] == int((expected == 1).sum()) > 1_500
    assert counts["benign_labels"] == int((expected == 0).sum()) > 800
    # The file's ExAC header is out of step with its data; re-labelled, every count fits.
    assert counts["exac_header_relabelled"] == 1 and counts["impossible_frequency_rows"] == 0
    freq = labelled.inputs.frequencies
    assert set(freq["dataset"]) == {"exac"} and "asj" not in set(freq["group"])  # ExAC: no asj
    table.columns = corrected_exac_join_header(list(table.columns))
    row = table[table["AC_AFR"] != ""].iloc[0]
    key = f"GRCh37:{row['chrom']}:{row['pos']}:{row['ref']}:{row['alt']}"
    afr = freq[(freq["variant"] == key) & (freq["group"] == "afr")].iloc[0]
    assert (afr["ac"], afr["an"]) == (float(row["AC_AFR"]), float(row["AN_AFR"]))
    wide = freq.pivot(index="variant", columns="group", values="an")
    groups = [g for g in wide.columns if g != "all"]
    summed = wide[groups].sum(axis=1, min_count=len(groups))
    both = wide["all"].notna() & summed.notna()
    assert both.sum() > 2_000 and (wide.loc[both, "all"] == summed[both]).all()  # AN_Adj


def test_a_header_out_of_step_with_its_data_is_not_used(tmp_path: Path) -> None:
    """The real macarthur file's ExAC columns as written give AC > AN: refused, not read."""
    path = _macarthur()
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    keyed = table.assign(variant=[f"GRCh37:{c}:{p}:{r}:{a}" for c, p, r, a in zip(
        table["chrom"], table["pos"], table["ref"], table["alt"], strict=True)])  # fmt: skip
    as_written = frequencies_from_columns(keyed.drop(columns=["chrom"]), dataset="exac")
    assert as_written.attrs["dropped"]["impossible_counts"] > 2_000
    synthetic = tmp_path / "scrambled.tsv"  # SYNTHETIC: one row with AC > AN
    pd.DataFrame(
        {"variant": ["GRCh37:1:1:A:G", "GRCh37:1:2:A:G"], "label": ["P", "B"],
         "AC_AFR": ["5", "1"], "AN_AFR": ["3", "100"]}
    ).to_csv(synthetic, sep="\t", index=False)  # fmt: skip
    labelled = read_labelled(synthetic, frequency_dataset="x")
    assert labelled.inputs.frequencies is None
    assert labelled.counts["impossible_frequency_rows"] == 1


def _tiny_file(tmp_path: Path, rows: pd.DataFrame, with_frequencies: bool) -> Path:
    """A SYNTHETIC labelled TSV over tiny-store keys (labels and counts invented)."""
    table = pd.DataFrame({"variant": rows["variant"], "label": ["P", "B"] * (len(rows) // 2)})
    if with_frequencies:
        table["gnomADe_AC_afr"] = [str(i % 7) for i in range(len(rows))]
        table["gnomADe_AN_afr"] = "10000"
        table["gnomADe_AF_nfe"] = ["0.3", "0.0001"] * (len(rows) // 2)
    path = tmp_path / f"mine_{int(with_frequencies)}.tsv"
    table.to_csv(path, sep="\t", index=False)
    return path


@pytest.fixture(scope="module")
def tiny_keys(tiny_scorer: Scorer) -> pd.DataFrame:
    assert tiny_scorer.store is not None
    return tiny_scorer.store.read_all().sort_values("variant").head(60)


def test_file_frequencies_group_the_audit_and_never_reach_the_evidence(
    tiny_scorer: Scorer, tiny_keys: pd.DataFrame, tmp_path: Path
) -> None:
    plain = score_file(tiny_scorer, read_labelled(_tiny_file(tmp_path, tiny_keys, False)))
    rich = score_file(tiny_scorer, read_labelled(_tiny_file(tmp_path, tiny_keys, True)))
    # The evidence model reads no frequency: the same scores with or without them.
    pd.testing.assert_frame_equal(plain.scores, rich.scores)
    assert len(rich.rows) == rich.counts["judged"] > 50  # labelled, scored rows only
    assert set(rich.rows["split"]) == {"other"}
    sets, _ = labelled_sets(tiny_scorer, read_labelled(_tiny_file(tmp_path, tiny_keys, True)))
    assert [s.spec.dataset for s in sets] == ["gnomADe"]
    freq = sets[0].freq
    assert freq["gnomADe_afr_an"].eq(10_000).all() and freq["gnomADe_nfe_af"].notna().all()
    assert freq["gnomADe_observed"].eq(1).all()  # nfe AF > 0 everywhere
    # Without file frequencies the store's own columns group the rows.
    fallback, _ = labelled_sets(tiny_scorer, read_labelled(_tiny_file(tmp_path, tiny_keys, False)))
    assert [s.spec.dataset for s in fallback] == ["gnomad_2017_browser", "exac_browser"]
    stored = tiny_keys.set_index("variant")["gnomad_observed"]
    got = fallback[0].freq["gnomad_observed"].to_numpy()
    np.testing.assert_array_equal(got, stored.reindex(fallback[0].rows["variant"]).to_numpy())


def test_answers_name_the_input_frequencies_and_lend_them_to_priority(
    tiny_scorer: Scorer, tiny_keys: pd.DataFrame, tmp_path: Path
) -> None:
    """The same file through the scorer: BA1 from the input's counts, the source named."""
    labelled = read_labelled(_tiny_file(tmp_path, tiny_keys, True))
    scored = tiny_scorer.score(labelled.inputs)
    features = scored.features.set_index("variant")
    first = tiny_keys["variant"].iloc[0]
    assert "gnomADe (input)" in features.loc[first, "frequency_source"]
    criteria = tiny_scorer.frequency_of(scored.features)
    assert all(c["PM2"]["status"] == "not_met" for c in criteria)  # nfe AF >= 1e-4 everywhere
    # Where the store had no gnomAD groups, vipredict-af reads the input's (and says so).
    empty = tiny_keys[tiny_keys["gnomad_observed"].isna()]["variant"]
    lent = features.loc[empty, "frequency_source"].str.contains("priority model: gnomad_*")
    assert len(empty) and lent.all()
    assert features.loc[empty, "gnomad_afr_an"].eq(10_000).all()


def test_labelled_report_on_the_tiny_home(
    tiny_home: Settings, tiny_keys: pd.DataFrame, tmp_path: Path
) -> None:
    result, folder = run_audit(
        tmp_path / "report",
        tiny_home,
        n_bootstrap=20,
        log_to_mlflow=False,
        show_progress=False,
        labelled=_tiny_file(tmp_path, tiny_keys, True),
    )
    assert result.healthy is None
    assert [s["name"] for s in result.sets] == ["mine_1.tsv_x_gnomADe"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["healthy"] is None and metrics["sets"][0]["in_set"] == 60
    html = (folder / "report.html").read_text()
    assert "mine_1.tsv_x_gnomADe" in html and "1000 Genomes" not in html
    assert not (folder / "healthy_people.tsv").exists()


@pytest.mark.e2e  # scores 4,999 real ClinVar alleles on the real trained home (about a minute)
def test_macarthur_audit_on_the_trained_home(trained_home: Settings, tmp_path: Path) -> None:
    result, folder = run_audit(
        tmp_path / "report",
        trained_home,
        n_bootstrap=50,
        log_to_mlflow=False,
        show_progress=False,
        labelled=_macarthur(),
        frequency_dataset="exac",
    )
    (audited,) = result.sets
    assert audited["frequency_dataset"] == "exac" and audited["records"] == 4_999
    assert 0 < audited["labelled"] <= audited["with_features"]
    groups = result.groups[result.groups["grouping"] == "grpmax_group"]
    assert {"unknown"} < set(groups["group"])  # some variants grouped by their ExAC counts
    assert (folder / "report.html").is_file()


def test_af_only_groups_are_observed_where_their_af_is_positive() -> None:
    """SYNTHETIC wide columns of an AF-only dataset (a VEP CSQ's gnomAD fields)."""
    from vipredict.audit.groups import assign_groups

    freq = pd.DataFrame(
        {
            "v3_afr_af": [0.02, 0.0, np.nan], "v3_nfe_af": [0.001, 0.0, np.nan],
            "v3_fin_af": [0.5, 0.0, np.nan], "v3_afr_ac": np.nan, "v3_nfe_ac": np.nan,
            "v3_fin_ac": np.nan, "v3_observed": [1.0, 0.0, np.nan],
            "v3_grpmax_af": [0.02, 0.0, np.nan],
        }
    )  # fmt: skip
    groups = assign_groups(freq, "v3")
    chosen = groups[groups["grouping"] == "grpmax_group"].set_index("row")["group"]
    assert chosen.tolist() == ["afr", "not observed", "unknown"]
    seen = groups[(groups["grouping"] == "observed_in") & (groups["row"] == 0)]["group"]
    assert set(seen) == {"afr", "nfe", "fin"}
