"""``vipredict predict``: every input record answered with RESULT_COLUMNS, bad ones named.

The CLI's logic runs on the SYNTHETIC tiny home (fast tier): the bad-record
cases of ``tests/fixtures/mixed_records.vcf`` re-keyed onto a tiny store variant,
VCF/TSV inputs, the build a VCF header declares. The first invocation of the
module loads the champions as the CLI does; later ones reuse that scorer
(:func:`run_predict`), so the fast tier pays for one model load. The end-to-end
tests score the real VEP and dbNSFP inputs from their own annotations.
"""

from __future__ import annotations

import gzip
import operator
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from homes import PROJECT_ROOT, with_home
from typer.testing import CliRunner
from vcf_cases import (
    HEADER,
    Locus,
    TinyLoci,
    mixed_cases,
    other_base,
    per_allele,
    vcf_line,
    write_vcf,
)

from vipredict.acmg import LEVELS, POINTS
from vipredict.cli import app
from vipredict.config import Settings, get_settings
from vipredict.io.inputs import build_from_header, read_csq_vcf, record_from_key
from vipredict.io.sources import resolve
from vipredict.jobs.predict import predict_file
from vipredict.model import scorer as scorer_module
from vipredict.model.registry import LoadedModel
from vipredict.model.scorer import RESULT_COLUMNS, Scorer, load_scorer

runner = CliRunner()
_LOADED: dict[str, Scorer] = {}


def _load_once(settings: Settings | None = None, **kwargs: bool) -> Scorer:
    """The CLI's ``load_scorer``, run for real the first time and remembered (per home)."""
    home = str((settings or get_settings()).home)
    if home not in _LOADED:
        _LOADED[home] = load_scorer(settings, **kwargs)
    return _LOADED[home]


def run_predict(home: Settings, tmp_path: Path, input_path: Path, *extra: str) -> pd.DataFrame:
    """The CLI's TSV on ``home`` as strings (missing values empty), after a successful run."""
    output = tmp_path / "out.tsv"
    patch = with_home(home)
    try:
        patch.setattr(scorer_module, "load_scorer", _load_once)
        result = runner.invoke(app, ["predict", str(input_path), "--output", str(output), *extra])
    finally:
        patch.undo()
    assert result.exit_code == 0, result.output
    return pd.read_csv(output, sep="\t", dtype=str, keep_default_na=False)


#: Tavtigian points of each level, written out (the ACMG/ClinGen table, not the code's).
LEVEL_POINTS = {"Supporting": 1, "Moderate": 2, "Strong": 4, "VeryStrong": 8}


def code_by_hand(score: float, thresholds: dict[str, float | None]) -> str:
    """The rule, read off the thresholds: the strongest PP3 level the score reaches (at or
    above), else the strongest BP4 level it reaches (at or below), else none."""
    for family, reaches in (("PP3", operator.ge), ("BP4", operator.le)):
        for level in reversed(LEVELS):
            threshold = thresholds[f"{family}_{level}"]
            if threshold is not None and reaches(score, threshold):
                return f"{family}_{level}"
    return "none"


def points_by_hand(code: str) -> int:
    if code == "none":
        return 0
    family, level = code.split("_")
    return LEVEL_POINTS[level] * (1 if family == "PP3" else -1)


def next_level_by_hand(
    score: float, thresholds: dict[str, float | None]
) -> tuple[str, float] | None:
    """The next stronger calibrated level of the score's own family (with no evidence: the
    nearer of the first calibrated PP3 and BP4 levels), and the score distance to it."""
    code = code_by_hand(score, thresholds)
    families = ("PP3", "BP4") if code == "none" else (code.split("_")[0],)
    above = -1 if code == "none" else LEVELS.index(code.split("_")[1])
    options = []
    for family in families:
        for level in LEVELS[above + 1 :]:
            threshold = thresholds[f"{family}_{level}"]
            if threshold is not None:
                options.append((abs(threshold - score), f"{family}_{level}"))
                break
    if not options:
        return None
    distance, nearest = min(options)
    return nearest, distance


def expected_answers(model: LoadedModel, rows: pd.DataFrame) -> pd.DataFrame:
    """Profile, score, code and points of store rows, without the Scorer: each row goes to
    the first profile whose every source it carries, is scored by that profile's booster and
    coded against that profile's thresholds by :func:`code_by_hand`."""
    profile = pd.Series("", index=rows.index)
    for candidate in reversed(model.profiles):  # the first carried profile is written last
        carried = rows[list(candidate.profile.sources)].notna().all(axis=1)
        profile[carried] = candidate.name
    score = pd.Series(np.nan, index=rows.index)
    for candidate in model.profiles:
        mine = profile == candidate.name
        if mine.any():
            values = rows.loc[mine, candidate.feature_names].astype("float64")
            score[mine] = candidate.booster.predict(values)
    thresholds = {p.name: p.calibration.thresholds for p in model.profiles}
    codes = [
        code_by_hand(s, thresholds[p]) if p else "none" for s, p in zip(score, profile, strict=True)
    ]
    return pd.DataFrame(
        {"profile": profile, "score": score, "evidence": codes},
        index=rows.index,
    ).assign(points=lambda t: t["evidence"].map(points_by_hand))


@pytest.fixture(scope="module")
def good(tiny_loci: TinyLoci) -> Locus:
    return tiny_loci.evidence[0]


@pytest.fixture(scope="module")
def mixed(good: Locus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mixed-records cases on a tiny store variant (SYNTHETIC)."""
    lines = [case.line for case in mixed_cases(good)]
    return write_vcf(tmp_path_factory.mktemp("mixed") / "mixed.vcf", lines)


@pytest.fixture(scope="module")
def vcf_results(tiny_home, mixed, tmp_path_factory) -> pd.DataFrame:
    return run_predict(tiny_home, tmp_path_factory.mktemp("vcf"), mixed)


def test_every_vcf_record_gets_a_row_in_order(vcf_results, good):
    """SYNTHETIC store: the TSV has exactly RESULT_COLUMNS; 10 records, one with two ALTs."""
    assert tuple(vcf_results.columns) == RESULT_COLUMNS
    assert len(vcf_results) == 11
    c, p, r, a = good.chrom, good.pos, good.ref, good.alt
    assert vcf_results["input"].iloc[[0, 1, 7, 8, 10]].tolist() == [
        f"{c}:{p}:{r}:{a}", f"chr{c}:{p}:{r}:{a}", f"{c}:{p}:{r}:{a}",
        f"{c}:{p}:{r}:{other_base(r, a)}", f"{c}:{p}:{r.lower()}:{a.lower()}",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("row", "error"),
    [
        (0, ""),  # a tiny store variant with evidence
        (1, ""),  # the same with a chr prefix
        (2, "ref_mismatch"),
        (3, "unknown_contig"),
        (4, "not_snv"),
        (5, "malformed_record"),
        (6, "malformed_record"),
        (8, "no_features"),  # the second ALT of the multi-allelic record
        (9, "no_features"),
        (10, ""),  # lowercase bases are upper-cased
    ],
)
def test_bad_records_get_named_errors_and_good_ones_evidence(
    vcf_results, tiny_loci, tiny_scorer, good, row, error
):
    """SYNTHETIC store: an error row has no score, evidence or next level, and says why; a
    good row gets the score and code its profile's booster and thresholds give."""
    result = vcf_results.iloc[row]
    assert result["error"] == error
    if error:
        assert result["evidence"] == "none" and result["points"] == "0"
        assert result["score"] == result["posterior"] == result["next_level"] == ""
        assert result["next_level_distance"] == "" and result["error_detail"] != ""
    else:
        expected = expected_answers(
            tiny_scorer.evidence_model, tiny_loci.rows.set_index("variant").loc[[good.key]]
        ).iloc[0]
        assert float(result["score"]) == pytest.approx(expected["score"], rel=1e-9)
        assert (result["profile"], result["evidence"]) == (
            expected["profile"],
            expected["evidence"],
        )
        assert int(result["points"]) == expected["points"] and result["error_detail"] == ""
        assert result["model"].startswith("vipredict-noaf")
        assert result["priority_model"].startswith("vipredict-af")
        gene = tiny_loci.rows.set_index("variant").at[good.key, "gene"]
        assert result["variant"] == good.key and result["gene"] == gene


@pytest.mark.parametrize(
    ("row", "keyed", "detail"),
    [
        (2, True, "the reference at this locus is"),
        (8, True, "is not in the feature store"),
        (9, True, "is not in the feature store"),
        (3, False, "chrUn_gl000220"),
        (4, False, "is not a single-nucleotide variant"),
        (6, False, "fewer than 5 VCF columns"),
    ],
)
def test_an_error_row_keeps_its_key_when_it_had_one(vcf_results, good, row, keyed, detail):
    """SYNTHETIC store: ref_mismatch/no_features rows name their variant; parse errors cannot."""
    result = vcf_results.iloc[row]
    assert (result["variant"] != "") == keyed
    if keyed:
        assert result["variant"].startswith("GRCh37:")
    assert detail in result["error_detail"]


def test_multi_allelic_records_are_split_per_alt(vcf_results, good):
    other = f"GRCh37:{good.chrom}:{good.pos}:{good.ref}:{other_base(good.ref, good.alt)}"
    assert vcf_results["variant"].iloc[7:9].tolist() == [good.key, other]
    assert vcf_results["error"].iloc[7:9].tolist() == ["", "no_features"]
    assert vcf_results.iloc[7].drop("input").equals(vcf_results.iloc[0].drop("input"))


def test_evidence_and_points_agree(vcf_results):
    for evidence, points in zip(vcf_results["evidence"], vcf_results["points"], strict=True):
        assert int(points) == POINTS.get(evidence, 0)


@pytest.fixture(scope="module")
def locus_results(tiny_home, tiny_vcf, tmp_path_factory) -> pd.DataFrame:
    """The CLI's answers to the VCF of every tiny store locus (SYNTHETIC)."""
    return run_predict(tiny_home, tmp_path_factory.mktemp("loci"), tiny_vcf.path)


def test_every_store_locus_is_answered_and_thin_rows_get_no_evidence(locus_results, tiny_vcf):
    """SYNTHETIC store: the sorted VCF of all loci; errors as the store says, in order."""
    table = locus_results
    assert table["error"].tolist() == list(tiny_vcf.errors)
    thin = table[table["error"] == "insufficient_annotation"]
    assert len(thin) > 0 and (thin["score"] == "").all()  # no profile carried: no score
    assert (thin["evidence"] == "none").all() and (thin["next_level"] == "").all()
    scored = table[table["error"] == ""]
    assert (scored["next_level"] != "").any()
    assert set(scored["BA1"]) <= {"met", "not_met", "unknown"} and len(set(scored["BA1"])) > 1


def test_each_scored_locus_gets_the_code_its_profile_thresholds_give(
    locus_results, tiny_loci, tiny_scorer
):
    """SYNTHETIC store, every scored locus: the profile, score, code, points and next level
    worked out without the Scorer (:func:`expected_answers`, :func:`next_level_by_hand`).
    The loci span several profiles and codes on both sides, so a code read against
    another profile's thresholds, or a weaker level winning over a stronger, shows."""
    scored = locus_results[locus_results["error"] == ""].reset_index(drop=True)
    model = tiny_scorer.evidence_model
    rows = tiny_loci.rows.set_index("variant").loc[scored["variant"]].reset_index(drop=True)
    expected = expected_answers(model, rows)
    np.testing.assert_allclose(scored["score"].astype(float), expected["score"], rtol=1e-9)
    assert scored["profile"].tolist() == expected["profile"].tolist()
    assert scored["evidence"].tolist() == expected["evidence"].tolist()
    assert scored["points"].astype(int).tolist() == expected["points"].tolist()
    assert expected["profile"].nunique() >= 4
    assert {"none", "PP3_Supporting", "PP3_Moderate", "BP4_Supporting"} < set(expected["evidence"])
    thresholds = {p.name: p.calibration.thresholds for p in model.profiles}
    for answer, (score, profile) in zip(
        scored.itertuples(), zip(expected["score"], expected["profile"], strict=True), strict=True
    ):
        heading = next_level_by_hand(score, thresholds[profile])
        if heading is None:
            assert answer.next_level == "" and answer.next_level_distance == ""
        else:
            assert answer.next_level == heading[0]
            assert float(answer.next_level_distance) == pytest.approx(heading[1], abs=1e-12)


def test_gzipped_vcf_and_tsvs_of_variants(tiny_home, mixed, good, tmp_path):
    """SYNTHETIC store: a gzipped VCF, a TSV of keys and a TSV of locus columns."""
    packed = tmp_path / "in.vcf.gz"
    with open(mixed, "rb") as raw, gzip.open(packed, "wb") as out:
        shutil.copyfileobj(raw, out)
    assert len(run_predict(tiny_home, tmp_path, packed)) == 11
    keys = tmp_path / "keys.tsv"
    keys.write_text(f"variant\n{good.key}\nnonsense\nGRCh38:1:5:A:G\n{good.key}\n")
    table = run_predict(tiny_home, tmp_path, keys, "--format", "tsv")
    assert table["error"].tolist() == ["", "malformed_record", "no_features", ""]
    assert table.iloc[0].equals(table.iloc[3])  # a repeat is answered alike
    loci = tmp_path / "loci.tsv"
    loci.write_text(f"#CHROM\tPOS\tREF\tALT\nchr{good.chrom}\t{good.pos}\t{good.ref}\t{good.alt}\n")
    table = run_predict(tiny_home, tmp_path, loci)
    assert table["variant"].tolist() == [good.key] and table["error"].tolist() == [""]


@pytest.mark.parametrize(
    ("header", "build"),
    [
        (["##reference=hg38.fa"], "GRCh38"),
        (["##contig=<ID=1,assembly=b37>"], "GRCh37"),
        ([], "GRCh37"),
    ],
)
def test_build_is_read_from_the_vcf_header(header, build):
    assert build_from_header(header, "GRCh37") == build


def test_a_grch38_vcf_is_looked_up_as_grch38(tiny_home, good, tmp_path):
    """SYNTHETIC store (GRCh37 only): the same locus in a file whose header says hg38."""
    header = ["##fileformat=VCFv4.2", "##reference=hg38.fa", HEADER[-1]]
    line = vcf_line(good.chrom, good.pos, good.ref, good.alt)
    table = run_predict(tiny_home, tmp_path, write_vcf(tmp_path / "hg38.vcf", [line], header))
    assert table["variant"].tolist() == [good.key.replace("GRCh37", "GRCh38")]
    assert table["error"].tolist() == ["no_features"]


def test_missing_input_file_is_a_clear_error(tiny_home, tmp_path):
    missing = tmp_path / "nope.vcf"
    result = runner.invoke(
        app, ["predict", str(missing), "--output", "x.tsv"], env={"COLUMNS": "1000"}
    )
    assert result.exit_code != 0
    assert f"{missing} does not exist" in result.output


# --------------------------------------------------------------------------- VEP VCFs (issue 11)

#: Errors a VEP VCF's records may get before any scoring (the reader's, not the model's).
READER_ERRORS = {
    "not_snv", "not_missense", "allele_not_in_csq", "csq_missing", "csq_malformed",
    "missing_csq_fields", "ref_mismatch", "unknown_contig", "position_out_of_range",
    "malformed_record", "build_conflict",
}  # fmt: skip


@pytest.fixture(scope="module")
def ditto_results(tiny_home, tmp_path_factory) -> pd.DataFrame:
    return run_predict(tiny_home, tmp_path_factory.mktemp("ditto"), resolve("ditto_vep_vcf"))


def test_a_real_vep_vcf_is_scored_from_its_csq(ditto_results):
    """The real DITTO VEP VCF on the SYNTHETIC tiny model (the logic, not a figure): every
    missense SNV with its CSQ annotations gets a model answer, every other record a named
    reader error, in input order, keyed on GRCh38 from the header."""
    inputs = read_csq_vcf(resolve("ditto_vep_vcf"))
    annotated = set(inputs.annotations["variant"])
    table = ditto_results
    assert tuple(table.columns) == RESULT_COLUMNS
    assert table["input"].tolist() == [r.label for r in inputs.records]
    mine = table["variant"].isin(annotated)
    assert mine.sum() == len(annotated) > 50
    # Every annotated missense SNV that carries the sources of some declared profile
    # (read from features/noaf.toml here) is scored; the others are named as such.
    profiles = tomllib.loads((PROJECT_ROOT / "features" / "noaf.toml").read_text())["profiles"]
    rows = inputs.annotations.set_index("variant").loc[table.loc[mine, "variant"]]
    carried = np.zeros(len(rows), dtype=bool)
    for profile in profiles:
        carried |= rows[profile["sources"]].notna().all(axis=1).to_numpy()
    errors = table.loc[mine, "error"].to_numpy()
    assert carried.sum() > 50
    assert (errors[carried] == "").all()
    assert set(errors[~carried]) <= {"insufficient_annotation"}
    assert table.loc[~mine, "error"].isin(READER_ERRORS).all()
    assert (table.loc[~mine, "error_detail"] != "").all()
    assert table.loc[mine, "variant"].str.startswith("GRCh38:").all()


def test_an_explicit_build_against_the_vep_vcf_header_is_a_conflict(tiny_home, tmp_path):
    table = run_predict(tiny_home, tmp_path, resolve("ditto_vep_vcf"), "--build", "GRCh37")
    snv = table["input"].str.split(":").map(lambda p: len(p[2]) == 1 and len(p[3]) == 1)
    assert set(table.loc[snv, "error"]) == {"build_conflict"}
    assert set(table.loc[~snv, "error"]) == {"not_snv"}
    assert "header says GRCh38" in table.loc[snv, "error_detail"].iloc[0]


def test_predict_annotate_and_queue_build_answer_a_vep_vcf_alike(tiny_scorer, tmp_path):
    """The real DITTO VEP VCF on the SYNTHETIC tiny model: ``predict``, ``annotate`` (VIP_*)
    and ``queue build`` (its items) give each allele the same answer."""
    from vipredict.jobs.annotate import annotate_vcf
    from vipredict.queue.build import QueueSpec, queue_from_file
    from vipredict.queue.genes import GeneContext
    from vipredict.queue.store import QueueStore

    source = resolve("ditto_vep_vcf")
    predicted = predict_file(tiny_scorer, source)
    output = tmp_path / "ditto.vcf.gz"
    assert tiny_scorer.store is not None
    annotate_vcf(source, output, tiny_scorer.store, tiny_scorer, show_progress=False)
    written = per_allele(output, ("VIP_SCORE", "VIP_EVIDENCE", "VIP_ERR"))
    assert [w["VIP_ERR"] for w in written] == [e or "." for e in predicted["error"]]
    shown = [w["VIP_EVIDENCE"] for w in written]
    pairs = zip(predicted["error"], predicted["evidence"], strict=True)
    assert shown == [("." if error else evidence) for error, evidence in pairs]
    store = QueueStore(f"sqlite:///{tmp_path / 'queue.db'}")
    _queue_id, items = queue_from_file(tiny_scorer, store, source, QueueSpec(), GeneContext())
    assert len(items) == len(predicted)  # (the file repeats a record: both are kept)

    def answers(table: pd.DataFrame) -> list[tuple[str, str, str, float]]:
        """(input, error, evidence, rounded score) of every row, in a fixed order."""
        score = pd.to_numeric(table["score"], errors="coerce").round(9).fillna(-1.0)
        rows = zip(table["input"], table["error"].fillna(""), table["evidence"], score, strict=True)
        return sorted((str(i), str(e), str(v), float(s)) for i, e, v, s in rows)

    assert answers(items) == answers(predicted)


# --------------------------------------------------------------------------- real data (e2e)


def test_vep_input_is_scored_from_its_own_annotations(trained_home, tmp_path):
    """External check on another curation (VusPrize, GRCh38 VEP+dbNSFP): P ranks above B."""
    from sklearn.metrics import roc_auc_score

    scores = {}
    for label, name in ((1, "vep_dbnsfp_pathogenic"), (0, "vep_dbnsfp_benign")):
        table = run_predict(
            trained_home, tmp_path, resolve(name), "--format", "vep", "--build", "GRCh38"
        )
        assert tuple(table.columns) == RESULT_COLUMNS
        scored = table[table["error"] == ""]
        assert len(scored) > 0.9 * len(table)
        scores[label] = scored["score"].astype(float).tolist()
    labels = [1] * len(scores[1]) + [0] * len(scores[0])
    assert roc_auc_score(labels, scores[1] + scores[0]) > 0.85


@pytest.mark.parametrize(
    ("name", "fmt", "build"),
    [
        ("vep_dbnsfp_benign", "vep", "GRCh38"),
        ("dbnsfp_v24_chr4", "dbnsfp", "GRCh37"),  # dbnsfp_v23_test (47k rows) would take 40 s
    ],
)
def test_annotated_inputs_score_like_the_store_rows_built_from_them(
    trained_home, tmp_path, name, fmt, build
):
    """A real VEP/dbNSFP file, scored from its own annotations, gets the answers the store
    gives for the rows it built from that same file (the evidence model uses no frequency)."""
    table = run_predict(trained_home, tmp_path, resolve(name), "--format", fmt, "--build", build)
    assert tuple(table.columns) == RESULT_COLUMNS and len(table) > 0
    scorer = _LOADED[str(trained_home.home)]
    assert scorer.store is not None
    own = scorer.store.dataset_rows(name, ["variant"])["variant"]
    same = table[table["variant"].isin(set(own))]
    assert len(same) > 0.5 * len(table)
    stored = scorer.score_records([record_from_key(k) for k in same["variant"]])
    for column in ("error", "evidence", "points", "next_level"):
        assert same[column].tolist() == stored[column].fillna("").astype(str).tolist(), column
    mine = pd.to_numeric(same["score"], errors="coerce").to_numpy()
    np.testing.assert_allclose(mine, stored["score"].to_numpy(dtype=float), rtol=1e-6)
