"""``vipredict annotate`` on a real ClinVar VCF: every record kept, evidence as ``predict`` says."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pysam
import pytest
from typer.testing import CliRunner

from vipredict.annotate import (
    annotate_vcf,
    default_columns,
    join_present,
    read_header,
    significant_text,
)
from vipredict.cli import app
from vipredict.config import Settings
from vipredict.featurestore import PartitionedStore, load_store
from vipredict.predict import VIP_INFO_HEADERS, predict_file
from vipredict.readers._common import open_text
from vipredict.scoring import Scorer, load_scorer
from vipredict.sources import resolve

FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()


def body(path: Path) -> list[str]:
    with open_text(path) as handle:
        return [line.rstrip("\n") for line in handle if line.strip() and not line.startswith("#")]


def info(line: str) -> dict[str, str]:
    fields = line.split("\t")
    pairs = (kv.partition("=") for kv in fields[7].split(";")) if len(fields) > 7 else ()
    return {key: value for key, _, value in pairs if key and key != "."}


@pytest.fixture(scope="module")
def scorer(trained_home: Settings) -> Scorer:
    return load_scorer(trained_home)


@pytest.fixture(scope="module")
def store(trained_home: Settings) -> PartitionedStore:
    return PartitionedStore.open(trained_home)


@pytest.fixture(scope="module")
def brca() -> Path:
    """ClinVar 2015 BRCA1/2 (GRCh37): 6,184 alleles, 464 multi-allelic records."""
    return resolve("clinvar_2015_brca_vcf")


@pytest.fixture(scope="module")
def annotated(brca, store, scorer, tmp_path_factory) -> tuple[Path, object]:
    output = tmp_path_factory.mktemp("annotate") / "brca.vcf.gz"
    report = annotate_vcf(brca, output, store, scorer, show_progress=False)
    return output, report


def test_every_record_is_kept_in_order_with_its_own_fields(brca, annotated):
    output, report = annotated
    before, after = body(brca), body(output)
    assert len(after) == len(before) == report.records
    for old, new in zip(before, after, strict=True):
        assert new.split("\t")[:7] == old.split("\t")[:7]
        assert info(old).items() <= info(new).items()
    assert report.in_store > 150 and report.errors["no_features"] > 1000


def test_header_declares_the_fields_before_chrom_and_htslib_reads_it(brca, annotated, scorer):
    output, _ = annotated
    header, _ = read_header(output)
    original, _ = read_header(brca)
    assert [h for h in header if not h.startswith("##INFO=<ID=VIP_")] == original
    chrom_line = header.index(next(h for h in header if h.startswith("#CHROM")))
    declared = {h.split(",")[0][len("##INFO=<ID=") :]: i for i, h in enumerate(header)}
    wanted = ["VIP_SCORE", "VIP_POST", "VIP_EVIDENCE", "VIP_ERR"]
    wanted += [f"VIP_{name}" for name in scorer.evidence_model.feature_names]
    assert all(declared[key] < chrom_line for key in wanted)
    assert set(VIP_INFO_HEADERS) <= set(header)
    used = {key for line in body(output) for key in info(line)}
    assert used <= set(declared)
    pysam.tabix_index(str(output), preset="vcf", force=True, keep_original=True)
    with pysam.VariantFile(str(output)) as vcf:  # BGZF + a header htslib accepts
        first = next(vcf.fetch("13"))
        assert first.info["VIP_ERR"] is not None


def _per_alt(output: Path) -> list[dict[str, str]]:
    """One dict per ALT of every record, in file order (Number=A fields split)."""
    rows = []
    for line in body(output):
        values = info(line)
        alts = line.split("\t")[4].split(",")
        for k in range(len(alts)):
            rows.append(
                {
                    key: values.get(key, "").split(",")[k]
                    for key in ("VIP_SCORE", "VIP_EVIDENCE", "VIP_ERR")
                }
            )
    return rows


def test_evidence_scores_and_errors_equal_predict(brca, annotated, scorer):
    output, report = annotated
    expected = predict_file(scorer, brca, "vcf")
    ours = _per_alt(output)
    assert len(ours) == len(expected) == report.alleles
    for mine, theirs in zip(ours, expected.to_dict("records"), strict=True):
        assert mine["VIP_ERR"] == (theirs["error"] or ".")
        assert mine["VIP_EVIDENCE"] == ("." if theirs["error"] else theirs["evidence"])
        score = theirs["score"]
        if score is None or pd_isna(score):
            assert mine["VIP_SCORE"] == "."
        else:
            assert float(mine["VIP_SCORE"]) == pytest.approx(float(score), rel=1e-5)
    assert sum(1 for r in ours if r["VIP_EVIDENCE"] not in (".", "none")) > 50


def pd_isna(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def test_named_errors_for_bad_records_and_comment_lines_pass(store, scorer, tmp_path):
    lines = (FIXTURES / "mixed_records.vcf").read_text().splitlines()
    lines.insert(4, "# a comment line inside the body")
    source = tmp_path / "mixed.vcf"
    source.write_text("\n".join(lines) + "\n")
    output = tmp_path / "mixed.out.vcf.gz"
    annotate_vcf(source, output, store, scorer, show_progress=False)
    with gzip.open(output, "rt") as handle:
        out = [line.rstrip("\n") for line in handle if not line.startswith("##")]
    assert out[2] == "# a comment line inside the body"
    errors = [info(line)["VIP_ERR"] for line in out[1:] if not line.startswith("#")]
    assert errors == [
        ".",
        ".",
        "ref_mismatch",
        "unknown_contig",
        "not_snv",
        "malformed_record",
        "malformed_record",
        ".,no_features",
        "no_features",
        ".",
    ]
    short = out[8]  # "1<TAB>955563": padded like the service does, only the error
    assert short.split("\t")[:2] == ["1", "955563"] and info(short) == {
        "VIP_ERR": "malformed_record"
    }
    scored = info(out[1])
    assert scored["VIP_EVIDENCE"] != "." and 0 < float(scored["VIP_SCORE"]) < 1


def test_features_only_cli_writes_the_store_values(trained_home, brca, tmp_path):
    output = tmp_path / "features.vcf.gz"
    args = ["annotate", str(brca), "--output", str(output), "--no-score", "--index"]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "6,184 alleles" in result.output and (tmp_path / "features.vcf.gz.tbi").is_file()
    table = load_store(trained_home).set_index("variant")
    checked = 0
    for line in body(output):
        chrom, pos, _, ref, alt = line.split("\t")[:5]
        values = info(line)
        assert "VIP_SCORE" not in values
        key = f"GRCh37:{chrom}:{pos}:{ref}:{alt}"
        if key not in table.index:
            continue
        checked += 1
        for name in default_columns(None):
            value = table.at[key, name]
            if pd_isna(value):
                assert f"VIP_{name}" not in values
            else:
                assert float(values[f"VIP_{name}"]) == float(f"{value:.6g}")
    assert checked > 150


def test_an_unsorted_vcf_is_annotated_but_not_indexed(trained_home, tmp_path):
    output = tmp_path / "mixed.vcf.gz"
    args = ["annotate", str(FIXTURES / "mixed_records.vcf"), "--output", str(output)]
    result = runner.invoke(app, [*args, "--index"], env={"COLUMNS": "200"})
    assert result.exit_code == 1 and "coordinate-sorted" in result.output
    assert len(body(output)) == 10


def test_annotating_twice_replaces_the_earlier_fields(annotated, store, scorer, tmp_path):
    output, _ = annotated
    again = tmp_path / "again.vcf.gz"
    annotate_vcf(output, again, store, scorer, show_progress=False)
    assert body(again) == body(output)
    assert read_header(again)[0] == read_header(output)[0]


def test_undeclared_vip_keys_in_the_input_are_replaced_not_repeated(store, scorer, tmp_path):
    """Synthetic edge case: a stale VIP_ERR the header does not declare (hand-edited file)."""
    lines = (FIXTURES / "mixed_records.vcf").read_text().splitlines()
    head = [line for line in lines if line.startswith("#")]
    first = next(line for line in lines if not line.startswith("#"))
    fields = first.split("\t")
    fields[7] = "VIP_ERR=stale;KEEP=1"
    source, output = tmp_path / "stale.vcf", tmp_path / "stale.out.vcf"
    source.write_text("\n".join([*head, "\t".join(fields)]) + "\n")
    annotate_vcf(source, output, store, scorer, show_progress=False)
    keys = [kv.split("=", 1)[0] for kv in body(output)[0].split("\t")[7].split(";")]
    assert keys.count("VIP_ERR") == 1 and "KEEP" in keys
    assert "stale" not in body(output)[0]


def test_other_columns_are_rendered_on_the_fly_like_the_stored_text(brca, store, tmp_path):
    stored = tmp_path / "stored.vcf"
    rendered = tmp_path / "rendered.vcf"
    columns = default_columns(None, store)
    annotate_vcf(brca, stored, store, None, columns, show_progress=False)
    annotate_vcf(brca, rendered, store, None, columns[::-1], show_progress=False)
    assert [info(line) for line in body(stored)] == [info(line) for line in body(rendered)]
    narrow = tmp_path / "narrow.vcf"
    annotate_vcf(brca, narrow, store, None, ["cadd_phred"], show_progress=False)
    keys = {key for line in body(narrow) for key in info(line) if key.startswith("VIP_")}
    assert keys == {"VIP_cadd_phred", "VIP_ERR"}


def test_a_store_without_the_models_features_is_refused(brca, store, scorer, tmp_path):
    from dataclasses import replace

    from vipredict.tracking import ModelNotReadyError

    model = replace(
        scorer.evidence_model, feature_names=[*scorer.evidence_model.feature_names, "not_stored"]
    )
    with pytest.raises(ModelNotReadyError, match=r"lacks .* features \['not_stored'\]"):
        annotate_vcf(brca, tmp_path / "x.vcf", store, replace(scorer, evidence_model=model))


def test_unknown_columns_are_refused(brca, store, tmp_path):
    with pytest.raises(KeyError, match="revel_score"):
        annotate_vcf(brca, tmp_path / "x.vcf", store, None, ["revel_score"], show_progress=False)


def test_a_line_longer_than_a_block_is_still_annotated(store, tmp_path):
    """Synthetic edge case: one record with a 300 kB INFO among short ones."""
    lines = (FIXTURES / "mixed_records.vcf").read_text().splitlines()
    head, first = lines[:3], lines[3]
    long = first.rsplit("\t", 1)[0] + "\tNOTE=" + "x" * 300_000
    source = tmp_path / "long.vcf"
    source.write_text("\n".join([*head, *[first] * 2000, long, first]) + "\n")
    output = tmp_path / "long.out.vcf"
    report = annotate_vcf(source, output, store, None, block_bytes=1 << 16, show_progress=False)
    assert report.records == len(body(output)) == 2002
    assert info(body(output)[2000])["NOTE"] == "x" * 300_000


def test_join_present_keeps_rows_with_nothing_to_join():
    """pyarrow 25 drops all-null rows from binary_join_element_wise(null_handling="skip")."""
    left = pa.array(["a", None, None, "d"])
    right = pa.array(["b", None, "c", None])
    assert join_present([left, right], ";").to_pylist() == ["a;b", None, "c", "d"]


def test_significant_text_reads_back_as_six_significant_digits(trained_home):
    table = load_store(trained_home)
    values = table[["cadd_phred", "mutpred2_score", "primateai_score", "volume_delta"]]
    numbers = np.concatenate([values.to_numpy().ravel(), [1e-7, 123456789.0, -0.0001234567]])
    texts = significant_text(numbers).to_pylist()
    for number, text in zip(numbers, texts, strict=True):
        if math.isnan(number):
            assert text is None
        else:
            assert float(text) == float(f"{number:.6g}")
