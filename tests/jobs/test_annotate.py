"""``vipredict annotate``: every record kept, its fields, evidence as ``predict``, BGZF + tabix.

The logic is tested on the SYNTHETIC tiny home (fast tier): VCFs written from
its store's loci and the bad-record cases of ``tests/fixtures/mixed_records.vcf``
re-keyed onto them (``vcf_cases.py``). The end-to-end tests annotate the real
ClinVar 2015 BRCA VCF against the real trained home.
"""

from __future__ import annotations

import gzip
import math
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pysam
import pytest
from typer.testing import CliRunner
from vcf_cases import (
    FIXTURES,
    HEADER,
    TinyLoci,
    TinyVcf,
    body,
    info,
    is_bgzf,
    mixed_cases,
    per_allele,
    vcf_line,
    write_vcf,
)

from vipredict.cli import app
from vipredict.config import Settings
from vipredict.io.sources import resolve
from vipredict.io.vcf import VIP_INFO_HEADERS, join_present, read_header, significant_text
from vipredict.jobs.annotate import (
    AnnotationReport,
    annotate_text,
    annotate_vcf,
    default_columns,
    spread_text,
)
from vipredict.jobs.predict import predict_file
from vipredict.model.registry import ModelNotReadyError
from vipredict.model.scorer import Scorer, load_scorer
from vipredict.store.partitioned import Store

runner = CliRunner()
RESULT_KEYS = ("VIP_SCORE", "VIP_POST", "VIP_EVIDENCE", "VIP_MIS_PRD", "VIP_ERR")
COMMENT = "# a comment line inside the body"


def is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def assert_alleles_equal_predict(output: Path, expected: pd.DataFrame) -> None:
    """VIP_* of every allele of ``output`` equal ``predict_file``'s row of that allele."""
    ours = per_allele(output, RESULT_KEYS)
    assert len(ours) == len(expected)
    for mine, theirs in zip(ours, expected.to_dict("records"), strict=True):
        assert mine["VIP_ERR"] == (theirs["error"] or "."), (mine, theirs)
        if mine["VIP_EVIDENCE"] == "":  # a line without an ALT column gets VIP_ERR alone
            assert theirs["error"] == "malformed_record" and mine["VIP_SCORE"] == ""
            continue
        assert mine["VIP_EVIDENCE"] == ("." if theirs["error"] else theirs["evidence"])
        points = theirs["mis_prd"]
        assert mine["VIP_MIS_PRD"] == ("." if theirs["error"] else str(int(points))), mine
        for key, column in (("VIP_SCORE", "score"), ("VIP_POST", "posterior")):
            if is_missing(theirs[column]):
                assert mine[key] == "."
            else:
                assert float(mine[key]) == pytest.approx(float(theirs[column]), rel=1e-5)


# --------------------------------------------------------------------------- synthetic: logic


@pytest.fixture(scope="module")
def mixed(tiny_loci: TinyLoci, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mixed-records cases on a tiny store variant, a comment line among them (SYNTHETIC)."""
    lines = [case.line for case in mixed_cases(tiny_loci.evidence[0])]
    lines.insert(1, COMMENT)
    return write_vcf(tmp_path_factory.mktemp("mixed") / "mixed.vcf", lines)


@pytest.fixture(scope="module")
def annotated(
    tiny_vcf: TinyVcf, tiny_store: Store, tiny_scorer: Scorer, tmp_path_factory
) -> tuple[Path, AnnotationReport]:
    output = tmp_path_factory.mktemp("annotated") / "tiny.out.vcf.gz"
    report = annotate_vcf(tiny_vcf.path, output, tiny_store, tiny_scorer, show_progress=False)
    return output, report


def test_named_errors_for_bad_records_and_comment_lines_pass(
    mixed, tiny_loci, tiny_store, tiny_scorer, tmp_path
):
    """SYNTHETIC store: each bad record of the mixed fixture keeps its line and gets its error."""
    output = tmp_path / "mixed.out.vcf.gz"
    report = annotate_vcf(mixed, output, tiny_store, tiny_scorer, show_progress=False)
    with gzip.open(output, "rt") as handle:
        out = [line.rstrip("\n") for line in handle if not line.startswith("##")]
    assert out[2] == COMMENT
    records = [line for line in out[1:] if not line.startswith("#")]
    cases = mixed_cases(tiny_loci.evidence[0])
    assert [info(line)["VIP_ERR"] for line in records] == [case.errors for case in cases]
    assert report.records == 10 and report.alleles == 11
    assert report.errors == {
        "ref_mismatch": 1, "unknown_contig": 1, "not_snv": 1, "malformed_record": 2,
        "no_features": 2,
    }  # fmt: skip
    short = records[6]  # "<chrom><TAB><pos>": padded like the service does, only the error
    good = tiny_loci.evidence[0]
    assert short.split("\t") == [good.chrom, str(good.pos), *["."] * 5, "VIP_ERR=malformed_record"]
    scored = info(records[0])
    assert scored["VIP_EVIDENCE"] not in (".", "none") and 0 < float(scored["VIP_SCORE"]) < 1
    assert info(records[1]) == scored and info(records[9]) == scored  # chr prefix, lower case


def test_every_record_is_kept_in_order_with_its_own_fields(tiny_vcf, annotated, tiny_loci):
    """SYNTHETIC store: each line keeps its first seven fields and its own INFO, in order."""
    output, report = annotated
    before, after = body(tiny_vcf.path), body(output)
    assert len(after) == len(before) == report.records == report.alleles
    for old, new in zip(before, after, strict=True):
        assert new.split("\t")[:7] == old.split("\t")[:7]
        assert info(old).items() <= info(new).items()
    assert [e or "." for e in tiny_vcf.errors] == [info(line)["VIP_ERR"] for line in after]
    assert report.in_store == len(tiny_loci.rows)
    assert report.errors["ref_mismatch"] == tiny_vcf.errors.count("ref_mismatch") > 0
    assert report.errors["no_features"] == tiny_vcf.errors.count("no_features") > 0
    assert report.errors["insufficient_annotation"] == len(tiny_loci.thin) > 0


def test_header_declares_every_field_before_chrom(tiny_vcf, annotated, tiny_scorer):
    """SYNTHETIC store: the input header, plus our declarations just before ``#CHROM``."""
    output, _ = annotated
    header, _ = read_header(output)
    original, _ = read_header(tiny_vcf.path)
    assert [h for h in header if not h.startswith("##INFO=<ID=VIP_")] == original
    chrom_line = header.index(HEADER[-1])
    declared = {h.split(",")[0][len("##INFO=<ID=") :]: i for i, h in enumerate(header)}
    wanted = [*RESULT_KEYS, *(f"VIP_{n}" for n in tiny_scorer.evidence_model.feature_names)]
    assert all(declared[key] < chrom_line for key in wanted)
    assert set(VIP_INFO_HEADERS) <= set(header)
    used = {key for line in body(output) for key in info(line)}
    assert used <= set(declared) and set(RESULT_KEYS) <= used
    assert len(used & set(wanted)) > 20  # the synthetic rows lack only two conservation scores


@pytest.mark.parametrize("source", ["tiny", "mixed"])
def test_evidence_scores_and_errors_equal_predict(
    source, tiny_vcf, mixed, tiny_store, tiny_scorer, tmp_path
):
    """SYNTHETIC store: per allele, annotate and ``predict_file`` (same scorer) agree."""
    path = tiny_vcf.path if source == "tiny" else mixed
    output = tmp_path / "out.vcf"
    report = annotate_vcf(path, output, tiny_store, tiny_scorer, show_progress=False)
    expected = predict_file(tiny_scorer, path, "vcf")
    assert report.alleles == len(expected)
    assert_alleles_equal_predict(output, expected)
    assert (expected["error"] == "").sum() > 0 and (expected["error"] != "").sum() > 0


def test_annotating_twice_replaces_the_earlier_fields(annotated, tiny_store, tiny_scorer, tmp_path):
    """SYNTHETIC store: the output of annotate, annotated again, is the same file."""
    output, _ = annotated
    again = tmp_path / "again.vcf.gz"
    annotate_vcf(output, again, tiny_store, tiny_scorer, show_progress=False)
    assert body(again) == body(output)
    assert read_header(again)[0] == read_header(output)[0]


def test_undeclared_vip_keys_in_the_input_are_replaced_not_repeated(
    tiny_loci, tiny_store, tiny_scorer, tmp_path
):
    """SYNTHETIC store: a stale VIP_ERR the header does not declare (hand-edited file)."""
    good = tiny_loci.evidence[0]
    line = vcf_line(good.chrom, good.pos, good.ref, good.alt, "VIP_ERR=stale;KEEP=1")
    source, output = write_vcf(tmp_path / "stale.vcf", [line]), tmp_path / "stale.out.vcf"
    annotate_vcf(source, output, tiny_store, tiny_scorer, show_progress=False)
    keys = [kv.split("=", 1)[0] for kv in body(output)[0].split("\t")[7].split(";")]
    assert keys.count("VIP_ERR") == 1 and keys[0] == "KEEP"
    assert "stale" not in body(output)[0] and info(body(output)[0])["VIP_ERR"] == "."


def test_other_columns_are_rendered_on_the_fly_like_the_stored_text(tiny_vcf, tiny_store, tmp_path):
    """SYNTHETIC store: the store's pre-rendered INFO text equals rendering the columns now."""
    stored, rendered = tmp_path / "stored.vcf", tmp_path / "rendered.vcf"
    columns = default_columns(None, tiny_store)
    assert columns == tiny_store.info_columns
    annotate_vcf(tiny_vcf.path, stored, tiny_store, None, columns, show_progress=False)
    annotate_vcf(tiny_vcf.path, rendered, tiny_store, None, columns[::-1], show_progress=False)
    assert [info(line) for line in body(stored)] == [info(line) for line in body(rendered)]
    narrow = tmp_path / "narrow.vcf"
    annotate_vcf(tiny_vcf.path, narrow, tiny_store, None, ["cadd_phred"], show_progress=False)
    keys = {key for line in body(narrow) for key in info(line) if key.startswith("VIP_")}
    assert keys == {"VIP_cadd_phred", "VIP_ERR"}


def assert_store_values(output: Path, store: Store, columns: list[str]) -> int:
    """Each VIP_<feature> of ``output`` is the stored value to six digits; absent when missing.

    Returns how many alleles the store holds.
    """
    rows = []
    for line in body(output):
        chrom, pos, _, ref, alts = line.split("\t")[:5]
        values = info(line)
        assert not {"VIP_SCORE", "VIP_POST", "VIP_EVIDENCE"} & set(values)
        split = {k: v.split(",") for k, v in values.items() if k.startswith("VIP_")}
        for k, alt in enumerate(alts.split(",")):
            key = f"GRCh37:{chrom}:{pos}:{ref}:{alt}"
            rows.append({"variant": key, **{n: v[k] for n, v in split.items()}})
    written = pd.DataFrame(rows).drop_duplicates("variant").set_index("variant")
    stored = store.lookup(list(written.index), ["variant", *columns]).set_index("variant")
    assert set(written.columns) - {"VIP_ERR"} <= {f"VIP_{c}" for c in columns}
    for name in columns:
        text = written.reindex(columns=[f"VIP_{name}"])[f"VIP_{name}"].loc[stored.index]
        value = stored[name].to_numpy(dtype=float)
        missing = np.isnan(value)
        assert text[missing].isin([".", np.nan]).all(), name  # absent (or "." for another ALT)
        expected = [float(f"{v:.6g}") for v in value[~missing]]
        assert text[~missing].astype(float).tolist() == expected, name
    absent = written.drop(index=stored.index).drop(columns="VIP_ERR")
    assert absent.isna().all().all() or absent.isin([".", np.nan]).all().all()
    return len(stored)


def test_features_only_writes_the_store_values(tiny_vcf, tiny_loci, tiny_store, tmp_path):
    """SYNTHETIC store: without a scorer, each VIP_<feature> is the stored value (6 digits)."""
    output = tmp_path / "features.vcf"
    annotate_vcf(tiny_vcf.path, output, tiny_store, None, show_progress=False)
    columns = default_columns(None, tiny_store)
    assert assert_store_values(output, tiny_store, columns) == len(tiny_loci.rows)


def test_a_store_without_the_models_features_is_refused(
    tiny_vcf, tiny_store, tiny_scorer, tmp_path
):
    model = tiny_scorer.evidence_model
    model = replace(model, feature_names=[*model.feature_names, "not_stored"])
    with pytest.raises(ModelNotReadyError, match=r"lacks .* features \['not_stored'\]"):
        annotate_vcf(
            tiny_vcf.path,
            tmp_path / "x.vcf",
            tiny_store,
            replace(tiny_scorer, evidence_model=model),
        )
    assert not (tmp_path / "x.vcf").exists()


def test_unknown_columns_are_refused(tiny_vcf, tiny_store, tmp_path):
    with pytest.raises(KeyError, match="revel_score"):
        annotate_vcf(
            tiny_vcf.path,
            tmp_path / "x.vcf",
            tiny_store,
            None,
            ["revel_score"],
            show_progress=False,
        )


def test_a_line_longer_than_a_block_is_still_annotated(tiny_loci, tiny_store, tmp_path):
    """SYNTHETIC store: one record with a 300 kB INFO among short ones."""
    good = tiny_loci.evidence[0]
    first = vcf_line(good.chrom, good.pos, good.ref, good.alt)
    long = vcf_line(good.chrom, good.pos, good.ref, good.alt, "NOTE=" + "x" * 300_000)
    source = write_vcf(tmp_path / "long.vcf", [*[first] * 2000, long, first])
    output = tmp_path / "long.out.vcf"
    report = annotate_vcf(
        source, output, tiny_store, None, block_bytes=1 << 16, show_progress=False
    )
    assert report.records == len(body(output)) == 2002 and report.in_store == 2002
    assert info(body(output)[2000])["NOTE"] == "x" * 300_000
    assert body(output)[2001] == body(output)[0]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_an_upload_annotated_in_memory_equals_the_file(
    newline, tiny_vcf, mixed, tiny_store, tiny_scorer, tmp_path
):
    """SYNTHETIC store: ``annotate_text`` (POST /predict/vcf) writes what ``annotate_vcf`` does.

    Results only (no feature columns) for both; a U+2028 inside a field splits nothing.
    """
    lines = [*read_header(mixed)[0], *body(mixed), *body(tiny_vcf.path)[:40]]
    lines.append(lines[-1].replace("DP=", "NOTE=a\u2028b;DP="))
    text = "\n".join(lines) + "\n"
    source = tmp_path / "upload.vcf"
    source.write_bytes(text.encode())
    output = tmp_path / "upload.out.vcf"
    report = annotate_vcf(source, output, tiny_store, tiny_scorer, [], show_progress=False)
    from_file = output.read_text()
    in_memory = annotate_text(text.replace("\n", newline), tiny_store, tiny_scorer)
    assert in_memory == from_file
    assert len(body(output)) == report.records == len(lines) - len(HEADER)
    assert info(body(output)[-1])["NOTE"] == "a\u2028b"
    assert {key for line in body(output) for key in info(line) if key.startswith("VIP_")} == set(
        RESULT_KEYS
    )


def test_cli_writes_bgzf_and_a_tabix_index_without_bgzip(
    tiny_home, tiny_vcf, tiny_loci, tmp_path, monkeypatch
):
    """SYNTHETIC home: a sorted .vcf.gz in, BGZF out through pysam (no ``bgzip``), indexed."""
    packed = tmp_path / "tiny.vcf.gz"
    with open(tiny_vcf.path, "rb") as raw, gzip.open(packed, "wb") as out:
        shutil.copyfileobj(raw, out)  # plain gzip input, as users have it
    real_which, real_bgzf = shutil.which, pysam.BGZFile
    monkeypatch.setattr(shutil, "which", lambda n, *a, **k: None if n == "bgzip" else real_which(n))
    opened: list[str] = []

    def spying(path, mode, *args, **kwargs):
        opened.append(str(path))
        return real_bgzf(path, mode, *args, **kwargs)

    monkeypatch.setattr(pysam, "BGZFile", spying)
    output = tmp_path / "out" / "tiny.annotated.vcf.gz"
    result = runner.invoke(
        app, ["annotate", str(packed), "--output", str(output), "--index"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    n = len(tiny_vcf.errors)
    assert f"{n:,} records ({n:,} alleles, {len(tiny_loci.rows):,} in the store)" in result.output
    assert [Path(p).name for p in opened] == [f".partial-{os.getpid()}-{output.name}"]
    assert is_bgzf(output) and (output.parent / f"{output.name}.tbi").is_file()
    assert {len(line.split("\t")) for line in body(output)} == {8}  # our fields are in INFO
    last = tiny_loci.rows.iloc[-1]
    with pysam.TabixFile(str(output)) as tabix:
        fetched = list(tabix.fetch(str(last["chrom"]), int(last["pos"]) - 1, int(last["pos"])))
    assert [line.split("\t")[:5] for line in fetched] == [
        [str(last["chrom"]), str(last["pos"]), ".", last["ref"], last["alt"]]
    ]
    with pysam.VariantFile(str(output)) as vcf:  # a header and body htslib accepts
        records = list(vcf.fetch("2"))
    assert len(records) == sum(1 for line in body(tiny_vcf.path) if line.startswith("2\t"))
    assert {r.info["VIP_ERR"][0] for r in records} >= {".", "no_features", "ref_mismatch"}


def test_join_present_keeps_rows_with_nothing_to_join():
    """pyarrow 25 drops all-null rows from binary_join_element_wise(null_handling="skip")."""
    left = pa.array(["a", None, None, "d"])
    right = pa.array(["b", None, "c", None])
    assert join_present([left, right], ";").to_pylist() == ["a;b", None, "c", "d"]


def test_significant_text_reads_back_as_six_significant_digits(tiny_loci):
    """SYNTHETIC store values plus random magnitudes from 1e-9 to 1e12, both signs."""
    values = tiny_loci.rows[["cadd_phred", "mutpred2_score", "primateai_score", "volume_delta"]]
    rng = np.random.default_rng(0)
    spread = rng.choice([-1, 1], 2000) * 10 ** rng.uniform(-9, 12, 2000)
    numbers = np.concatenate(
        [values.to_numpy(dtype=float).ravel(), spread, [1e-7, 123456789.0, -0.0001234567, 0.0]]
    )
    texts = significant_text(numbers).to_pylist()
    assert any(t is None for t in texts)  # the store's missing values
    for number, text in zip(numbers, texts, strict=True):
        if math.isnan(number):
            assert text is None
        else:
            assert float(text) == float(f"{number:.6g}")


# --------------------------------------------------------------------------- VEP VCFs and builds

CSQ_FIELDS = (
    "Allele", "Consequence", "SYMBOL", "Feature", "Amino_acids", "Protein_position", "SIFT",
    "PolyPhen", "FATHMM_score", "VEST4_score", "CADD_phred", "GERP++_RS",
    "phyloP100way_vertebrate", "gnomADe_AF",
)  # fmt: skip
CSQ_HEADER = (
    *HEADER[:-1],
    '##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from Ensembl '
    f'VEP. Format: {"|".join(CSQ_FIELDS)}">',
    HEADER[-1],
)


def csq_entry(i: int, allele: str, consequence: str = "missense_variant") -> str:
    """A made-up VEP entry whose scores vary with ``i`` (SYNTHETIC)."""
    values = {
        "Allele": allele, "Consequence": consequence, "SYMBOL": f"G{i % 9}", "Feature": f"NM_{i}",
        "Amino_acids": "KERDGAVLIP"[i % 10] + "/" + "EKDRAGLVPI"[i % 10],
        "Protein_position": str(10 + i), "SIFT": f"deleterious({(i % 50) / 100:.2f})",
        "PolyPhen": f"{(i % 97) / 97:.3f}", "FATHMM_score": f"{-4 + (i % 80) / 10:.1f}&1.0",
        "VEST4_score": f"{(i % 89) / 89:.3f}", "CADD_phred": f"{5 + i % 30}.5",
        "GERP++_RS": f"{-3 + (i % 9)}.1", "phyloP100way_vertebrate": f"{(i % 11) - 2}.25",
        "gnomADe_AF": f"{(i % 7) * 1e-4:.4f}",
    }  # fmt: skip
    return "|".join(values[f] for f in CSQ_FIELDS)


def csq_lines(n: int) -> tuple[list[str], list[str]]:
    """Body lines of a SYNTHETIC VEP VCF with every CSQ case, and the VIP_ERR of each."""
    lines, errors = [], []
    for i in range(n):
        pos = 10_000 + 10 * i
        if i % 7 == 3:
            lines.append(vcf_line("2", pos, "A", "G", "CSQ=" + csq_entry(i, "G", "intron_variant")))
            errors.append("not_missense")
        elif i % 11 == 5:
            lines.append(vcf_line("2", pos, "A", "G", "DP=3"))
            errors.append("csq_missing")
        elif i % 13 == 6:
            lines.append(vcf_line("2", pos, "A", "G,T", "CSQ=" + csq_entry(i, "G")))
            errors.append(".,allele_not_in_csq")
        elif i % 17 == 8:
            lines.append(vcf_line("2", pos, "AT", "A", "CSQ=" + csq_entry(i, "-", "frameshift")))
            errors.append("not_snv")
        else:
            lines.append(vcf_line("2", pos, "A", "G", "DP=1;CSQ=" + csq_entry(i, "G")))
            errors.append(".")
    lines[5:5] = [COMMENT, "2\t5", vcf_line("chrUn_x", 5, "A", "G", "CSQ=" + csq_entry(0, "G"))]
    errors[5:5] = ["malformed_record", "unknown_contig"]
    return lines, errors


def test_a_vep_vcf_is_annotated_from_its_csq_as_predict_answers(tiny_store, tiny_scorer, tmp_path):
    """SYNTHETIC VEP VCF over several blocks: VIP_* per allele are predict's answers from the
    same CSQ annotations (not the store's), every CSQ error named, the features written
    are those of the file (VIP_cadd_phred = its CADD_phred)."""
    lines, errors = csq_lines(400)
    source = write_vcf(tmp_path / "vep.vcf", lines, CSQ_HEADER)
    output = tmp_path / "vep.out.vcf.gz"
    report = annotate_vcf(
        source, output, tiny_store, tiny_scorer, block_bytes=2048, show_progress=False
    )
    records = body(output)
    assert len(records) == report.records == len(lines) - 1  # the comment line passes
    named = [info(line)["VIP_ERR"] for line, e in zip(records, errors, strict=True) if e != "."]
    assert named == [e for e in errors if e != "."]
    expected = predict_file(tiny_scorer, source)
    assert (expected["variant"].str.startswith("GRCh37:") | (expected["variant"] == "")).all()
    assert_alleles_equal_predict(output, expected)
    scored = [line for line in records if info(line)["VIP_ERR"] in (".", "insufficient_annotation")]
    assert len(scored) > 200
    for line in scored:
        cadd = next(v for v in line.split("\t")[7].split("|") if v.endswith(".5"))
        assert float(info(line)["VIP_cadd_phred"]) == float(cadd)


def test_a_vep_vcf_upload_annotated_in_memory_equals_the_file(tiny_store, tiny_scorer, tmp_path):
    """SYNTHETIC VEP VCF: ``annotate_text`` (POST /predict/vcf) writes what ``annotate_vcf``
    does, from the CSQ annotations too."""
    lines, _errors = csq_lines(60)
    source = write_vcf(tmp_path / "vep.vcf", lines, CSQ_HEADER)
    output = tmp_path / "vep.out.vcf"
    annotate_vcf(source, output, tiny_store, tiny_scorer, [], show_progress=False)
    assert annotate_text(source.read_text(), tiny_store, tiny_scorer) == output.read_text()


def test_a_real_vep_vcf_is_annotated_as_predict_answers(tiny_store, tiny_scorer, tmp_path):
    """The real DITTO VEP VCF (GRCh38 from its header) on the SYNTHETIC tiny model: the
    logic only. The store (GRCh37) is not asked: the answers come from CSQ."""
    source = resolve("ditto_vep_vcf")
    output = tmp_path / "ditto.out.vcf.gz"
    report = annotate_vcf(source, output, tiny_store, tiny_scorer, show_progress=False)
    expected = predict_file(tiny_scorer, source)
    assert report.records == report.alleles == len(expected) == 207
    assert_alleles_equal_predict(output, expected)
    assert report.in_store == (expected["variant"] != "").sum() > 50  # annotated from CSQ
    assert set(report.errors) <= {"not_snv", "not_missense", "insufficient_annotation"}


def test_the_store_path_names_build_conflicts_and_positions_past_the_end(
    tiny_loci, tiny_store, tiny_scorer, tmp_path
):
    """SYNTHETIC store: a GRCh37 header with ``build="GRCh38"`` keys nothing; a position past
    chr1's end is named, not looked up; both as ``predict`` names them."""
    good = tiny_loci.evidence[0]
    lines = [
        vcf_line(good.chrom, good.pos, good.ref, good.alt),
        vcf_line("1", 249_250_622, "A", "G"),
        vcf_line(good.chrom, good.pos, good.ref + "A", good.ref),
    ]
    source = write_vcf(tmp_path / "calls.vcf", lines)
    as_header = tmp_path / "as_header.vcf.gz"
    annotate_vcf(source, as_header, tiny_store, tiny_scorer, show_progress=False)
    assert [info(line)["VIP_ERR"] for line in body(as_header)] == [
        ".", "position_out_of_range", "not_snv",
    ]  # fmt: skip
    assert_alleles_equal_predict(as_header, predict_file(tiny_scorer, source))
    conflicted = tmp_path / "conflicted.vcf.gz"
    report = annotate_vcf(
        source, conflicted, tiny_store, tiny_scorer, build="GRCh38", show_progress=False
    )
    assert [info(line)["VIP_ERR"] for line in body(conflicted)] == [
        "build_conflict", "build_conflict", "not_snv",
    ]  # fmt: skip
    assert report.in_store == 0
    assert_alleles_equal_predict(conflicted, predict_file(tiny_scorer, source, build="GRCh38"))


# --------------------------------------------------------------------------- real data (e2e)


@pytest.fixture(scope="module")
def scorer(trained_home: Settings) -> Scorer:
    """The real evidence champion as annotate loads it, with the real store for predict."""
    loaded = load_scorer(trained_home, with_priority=False, with_store=False)
    return replace(loaded, store=Store.open(trained_home))


@pytest.fixture(scope="module")
def store(trained_home: Settings) -> Store:
    return Store.open(trained_home)


@pytest.fixture(scope="module")
def brca() -> Path:
    """ClinVar 2015 BRCA1/2 (GRCh37): 6,184 alleles, 464 multi-allelic records."""
    return resolve("clinvar_2015_brca_vcf")


@pytest.fixture(scope="module")
def brca_annotated(brca, store, scorer, tmp_path_factory) -> tuple[Path, AnnotationReport]:
    output = tmp_path_factory.mktemp("annotate") / "brca.vcf.gz"
    report = annotate_vcf(brca, output, store, scorer, show_progress=False)
    return output, report


def test_real_vcf_every_record_is_kept_in_order_with_its_own_fields(brca, brca_annotated):
    output, report = brca_annotated
    before, after = body(brca), body(output)
    assert len(after) == len(before) == report.records
    for old, new in zip(before, after, strict=True):
        assert new.split("\t")[:7] == old.split("\t")[:7]
        assert info(old).items() <= info(new).items()
    assert report.alleles == 6_184
    assert report.in_store > 150 and report.errors["no_features"] > 1000


def test_real_vcf_header_declares_the_fields_before_chrom_and_htslib_reads_it(
    brca, brca_annotated, scorer
):
    output, _ = brca_annotated
    header, _ = read_header(output)
    original, _ = read_header(brca)
    assert [h for h in header if not h.startswith("##INFO=<ID=VIP_")] == original
    chrom_line = header.index(next(h for h in header if h.startswith("#CHROM")))
    declared = {h.split(",")[0][len("##INFO=<ID=") :]: i for i, h in enumerate(header)}
    wanted = [*RESULT_KEYS, *(f"VIP_{name}" for name in scorer.evidence_model.feature_names)]
    assert all(declared[key] < chrom_line for key in wanted)
    assert set(VIP_INFO_HEADERS) <= set(header)
    used = {key for line in body(output) for key in info(line)}
    assert used <= set(declared)
    assert is_bgzf(output)
    pysam.tabix_index(str(output), preset="vcf", force=True, keep_original=True)
    with pysam.VariantFile(str(output)) as vcf:  # BGZF + a header htslib accepts
        first = next(vcf.fetch("13"))
        assert first.info["VIP_ERR"] is not None


def test_real_vcf_evidence_scores_and_errors_equal_predict(brca, brca_annotated, scorer):
    output, report = brca_annotated
    expected = predict_file(scorer, brca, "vcf")
    assert len(expected) == report.alleles
    assert_alleles_equal_predict(output, expected)
    evidence = [r["VIP_EVIDENCE"] for r in per_allele(output, ["VIP_EVIDENCE"])]
    assert sum(1 for code in evidence if code not in (".", "none")) > 50


def test_real_features_only_cli_writes_the_store_values(trained_home, brca, store, tmp_path):
    output = tmp_path / "features.vcf.gz"
    args = ["annotate", str(brca), "--output", str(output), "--no-score", "--index"]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "6,184 alleles" in result.output and (tmp_path / "features.vcf.gz.tbi").is_file()
    assert assert_store_values(output, store, default_columns(None, store)) > 150


def test_real_unsorted_vcf_is_annotated_but_not_indexed(trained_home, tmp_path):
    output = tmp_path / "mixed.vcf.gz"
    args = ["annotate", str(FIXTURES / "mixed_records.vcf"), "--output", str(output)]
    result = runner.invoke(app, [*args, "--index"], env={"COLUMNS": "200"})
    assert result.exit_code == 1 and "coordinate-sorted" in result.output
    assert len(body(output)) == 10
    assert info(body(output)[0])["VIP_ERR"] == "."  # the real store's 1:955563 G>C is scored


# --------------------------------------------------------------------------- spreading text

#: Text of matched store rows, as a block's found column holds it (synthetic strings).
FOUND_TEXT = ["VIP_a=1", "VIP_a=2;VIP_b=3", "", "VIP_b=4", None, "VIP_a=5"]


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
@pytest.mark.parametrize(
    "matched",
    [
        [-1, 0, 1, -1, -1, 2, 3, -1],  # consecutive rows, alleles without a row between
        [1, 2, 3, 4, 5],  # from a row past the first, through a null one
        [-1, -1, -1],  # nothing matched
        [0, 2, 1, -1, 3],  # out of order: taken
        [0, 1, 1, 2],  # a row twice: taken
    ],
)
def test_spread_text_is_take(kind: pa.DataType, matched: list[int]):
    """Each allele's text is its row's, null where it has none or its row's is null,
    whether the text is shared (consecutive rows) or copied (others)."""
    values = pa.array(FOUND_TEXT, kind)
    rows = np.array(matched, dtype=np.int64)
    expected = pc.take(values, pa.array(rows, mask=rows < 0))
    for column in (values, pa.array(["x", *FOUND_TEXT], kind).slice(1)):  # offset too
        spread = spread_text(column, rows)
        spread.validate(full=True)
        assert spread.type == kind
        assert spread.to_pylist() == expected.to_pylist()


def test_spread_text_of_consecutive_rows_shares_their_text():
    """Consecutive rows (a sorted input's) are not copied: the result reads the found
    column's own text buffer."""
    values = pa.array(FOUND_TEXT, pa.string())
    spread = spread_text(values, np.array([-1, 0, 1, 2, -1, 3]))
    assert spread.buffers()[2].address == values.buffers()[2].address
