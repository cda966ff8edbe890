"""Annotations a pipeline sends: inline in ``POST /predict`` and ``POST /queue``, and in a
VEP VCF's ``CSQ`` field uploaded to ``POST /predict/vcf``, on the SYNTHETIC tiny home.

The tiny home's variants, scores and frequencies are made up (``tests/synthetic.py``);
these tests check that a variant sent with its own values is scored from exactly
those values (the same answer as the store's row built from the same values), that a
bad value is that variant's named error, and that the OpenAPI document declares the
fields. No figure is read from them.

The synthetic EA scores are on EA's own 0-100 scale while the models (and the inline
range) use the fraction; the variants compared here are therefore ones whose
synthetic EA is missing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from starlette.testclient import TestClient
from synthetic import TinyHome

from vipredict.io.inline import ANNOTATION_RULES
from vipredict.model.scorer import RESULT_COLUMNS, Scorer, has_enough_annotation
from vipredict.queue.genes import GeneContext
from vipredict.queue.store import QueueStore
from vipredict.schema import CONSERVATION_SCORES, FUNCTIONAL_SCORES
from vipredict.service.predictor import PredictionService
from vipredict.service.queue import QueueService
from vipredict.service.schemas import VariantIn
from vipredict.variants import parse_variant_key

#: What an inline answer must share with the stored variant's answer: everything the
#: evidence model says (frequencies and the priority model read the store's invented
#: gnomAD columns, which an inline variant does not send).
EVIDENCE_FIELDS = (
    "variant",
    "gene",
    "score",
    "posterior",
    "likelihood_ratio",
    "evidence",
    "profile",
    "points",
    "next_level",
    "top_features",
    "annotation_warnings",
    "error",
    "error_detail",
)
_SENT = ("gene", "aa_ref", "aa_pos", "aa_alt", *CONSERVATION_SCORES, *FUNCTIONAL_SCORES)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _annotations(row: pd.Series) -> dict[str, Any]:
    """The canonical values of one SYNTHETIC annotation row, as a pipeline would send them."""
    return {c: _plain(row[c]) for c in _SENT if c in row.index and pd.notna(row[c])}


@pytest.fixture(scope="module")
def sent(tiny: TinyHome, tiny_scorer: Scorer) -> list[tuple[str, dict[str, Any]]]:
    """(key, annotations) of SYNTHETIC store variants the evidence model judges, EA missing."""
    rows = tiny.annotations
    judged = has_enough_annotation(tiny_scorer.evidence_model, rows)
    chosen = rows[judged & rows["ea_score"].isna()].head(6)
    assert len(chosen) == 6
    return [(str(row["variant"]), _annotations(row)) for _, row in chosen.iterrows()]


def _post(client: TestClient, entries: list[dict]) -> list[dict]:
    response = client.post("/predict", json={"variants": entries})
    assert response.status_code == 200, response.text
    answers = response.json()
    assert len(answers) == len(entries)
    return answers


def _evidence(answer: dict) -> dict:
    return {field: answer[field] for field in EVIDENCE_FIELDS}


def test_inline_annotations_score_like_the_stored_variant(
    client: TestClient, sent: list[tuple[str, dict]]
):
    """The same values sent inline or read from the store: the same evidence, field by field
    (score, calibration, profile, explanation), while the store's answer is unchanged."""
    inline = _post(client, [{"variant": k, "annotations": a} for k, a in sent])
    stored = _post(client, [{"variant": k} for k, _ in sent])
    for answer, reference in zip(inline, stored, strict=True):
        assert answer["score"] is not None and answer["top_features"]
        assert _evidence(answer) == _evidence(reference)
        # Nothing about frequency was sent: the criteria are unknown, not the store's.
        assert {answer["frequency_evidence"][c]["status"] for c in ("BA1", "BS1", "PM2")} == {
            "unknown"
        }
    assert _post(client, [{"variant": k} for k, _ in sent]) == stored  # nothing cached


def test_a_mixed_request_answers_each_variant_from_its_own_source(
    client: TestClient, sent: list[tuple[str, dict]], judged_keys: list[str]
):
    """Keys, annotated variants, a repeat with other values, frequencies and bad values in
    one request: answers in order, each from what was sent for it."""
    (key, values), (other, other_values) = sent[0], sent[1]
    changed = {**values, "sift_score": 1.0 - values.get("sift_score", 0.5), "cadd_phred": 0.5}
    common = {"gnomADg": {"nfe": {"ac": 2_000, "an": 10_000}, "all": {"af": 0.15}}}
    entries = [
        {"variant": judged_keys[0]},
        {"variant": key, "annotations": values},
        {"variant": key, "annotations": changed},
        {"variant": other, "annotations": {**other_values, "vest4_score": "0.9"}},
        {"variant": key},
        {"variant": "GRCh37:1:1:A:G", "annotations": values},
        {"variant": key, "annotations": values, "frequencies": common},
        {"variant": "GRCh37:1:1:A:AT", "annotations": values},
        {"variant": key.lower(), "annotations": values},
    ]
    answers = _post(client, entries)
    alone = {
        k: _post(client, [entry])[0]
        for k, entry in (("key", entries[0]), ("values", entries[1]), ("changed", entries[2]))
    }
    assert _evidence(answers[0]) == _evidence(alone["key"])
    assert _evidence(answers[1]) == _evidence(alone["values"])
    assert _evidence(answers[2]) == _evidence(alone["changed"])
    assert answers[2]["score"] != answers[1]["score"]  # a repeat is scored from its own values
    assert answers[3]["error"] == "invalid_annotation" and answers[3]["score"] is None
    assert answers[3]["error_detail"] == "vest4_score: expected a number, got text '0.9'"
    assert _evidence(answers[4]) == _evidence(answers[1])  # the key alone: the store's row
    # Sent with annotations, a variant the store lacks is scored like any other.
    assert answers[5]["score"] == answers[1]["score"] and answers[5]["error"] is None
    frequency = answers[6]["frequency_evidence"]
    assert frequency["BA1"]["status"] == "met" and frequency["BA1"]["group"] == "gnomADg:nfe"
    assert "gnomADg" in frequency["BA1"]["source"]
    assert frequency["PM2"]["status"] == "not_met"
    assert _evidence(answers[6]) == _evidence(answers[1])  # frequency is not PP3/BP4 evidence
    assert answers[7]["error"] == "not_snv"
    # The same values again (here under another spelling of the key): the same answer.
    assert answers[8]["input"] == key.lower()
    assert {**answers[8], "input": key} == answers[1]


def test_bad_values_are_named_per_variant_and_the_batch_is_answered(
    client: TestClient, sent: list[tuple[str, dict]]
):
    """SYNTHETIC bad values between good variants: 200, each bad one its named error."""
    key, values = sent[2]
    bad = {
        "text score": ({"sift_score": "deleterious(0.01)"}, None, "sift_score: expected a number"),
        "boolean": ({"cadd_phred": True}, None, "cadd_phred: expected a number, got a boolean"),
        "EA 0-100": ({"ea_score": 87}, None, "ea_score: 87 is outside 0-1"),
        "probability > 1": ({"polyphen2_score": 1.5}, None, "polyphen2_score: 1.5 is outside"),
        "three-letter": ({"aa_alt": "Trp"}, None, "aa_alt: 'Trp' is not a one-letter"),
        "synonymous": ({"aa_ref": "W", "aa_alt": "W"}, None, "synonymous"),
        "percent AF": (None, {"gnomADe": {"afr": {"af": 12.5}}}, "frequencies.gnomADe.afr.af"),
        "ac > an": (None, {"gnomADe": {"afr": {"ac": 9, "an": 4}}}, "ac 9 is larger than an 4"),
    }
    entries = [{"variant": key, "annotations": values}]
    for change, frequencies, _ in bad.values():
        entry: dict[str, Any] = {"variant": key, "annotations": {**values, **(change or {})}}
        if frequencies:
            entry["frequencies"] = frequencies
        entries += [entry, {"variant": key, "annotations": values}]
    answers = _post(client, entries)
    good, refused = answers[0::2], answers[1::2]
    assert all(a["score"] is not None and a["error"] is None for a in good)
    for (name, (_, _, named)), answer in zip(bad.items(), refused, strict=True):
        assert answer["error"] in ("invalid_annotation", "not_missense"), name
        assert named in answer["error_detail"], name
        assert answer["score"] is None and answer["evidence"] == "none", name
        assert answer["input"] == key, name


@pytest.mark.parametrize(
    "entry",
    [
        {"variant": "GRCh37:1:1:A:G", "annotations": {"sift": 0.1}},
        {"variant": "GRCh37:1:1:A:G", "annotations": {"Polyphen2_HDIV_score": 0.9}},
        {"variant": "GRCh37:1:1:A:G", "frequencies": {"gnomADg": {"popmax": {"af": 0.1}}}},
        {"variant": "GRCh37:1:1:A:G", "frequencies": {"gnomADg": {"afr": {"hom": 1}}}},
        {"variant": "GRCh37:1:1:A:G", "gnomad": {}},
    ],
)
def test_names_the_schema_does_not_declare_are_that_variants_error(
    client: TestClient, entry: dict, judged_keys: list[str]
):
    """A misspelt or undeclared name is that variant's ``unknown_field``, never a value
    silently ignored; the other variants of the request are answered."""
    response = client.post("/predict", json={"variants": [entry, {"variant": judged_keys[0]}]})
    assert response.status_code == 200, response.text
    refused, good = response.json()
    assert refused["error"] == "unknown_field" and refused["score"] is None
    assert "not a field vipredict reads" in refused["error_detail"]
    assert good["error"] is None and good["score"] is not None


@pytest.mark.parametrize(
    "entry",
    [
        {"variant": "GRCh37:1:1:A:G", "annotations": [0.1]},
        {"variant": "GRCh37:1:1:A:G", "frequencies": {"gnomAD g": {}}},
    ],
)
def test_a_body_of_another_shape_refuses_the_request(client: TestClient, entry: dict):
    """``annotations`` that is not an object, or a dataset name outside its pattern, is not
    a misspelt name but another shape of request: 400."""
    response = client.post("/predict", json={"variants": [entry]})
    assert response.status_code == 400, response.text


def test_openapi_declares_the_inline_fields(client: TestClient):
    """GET /docs.json: every canonical name with its description, unit and range; the groups."""
    schemas = client.get("/docs.json").json()["components"]["schemas"]
    variant = schemas["VariantIn"]["properties"]
    assert {"annotations", "frequencies"} <= set(variant)
    fields = schemas["InlineAnnotations"]["properties"]
    assert set(fields) == set(ANNOTATION_RULES)
    assert schemas["InlineAnnotations"]["additionalProperties"] is False
    for name, field in fields.items():
        assert field["description"] and field["x-unit"], name
        assert "invalid_annotation" in field["description"], name
    sift = fields["sift_score"]["anyOf"][0]
    assert (sift["type"], sift["minimum"], sift["maximum"]) == ("number", 0, 1)
    assert (
        fields["ea_score"]["anyOf"][0]["maximum"] == 1
        and "EA_1.0" in (fields["ea_score"]["description"])
    )
    assert "minimum" not in fields["fathmm_score"]["anyOf"][0]
    assert fields["aa_pos"]["anyOf"][0] == {"type": "integer", "minimum": 1}
    assert "HumVar" in fields["polyphen2_score"]["description"]
    groups = schemas["GroupFrequencies"]["properties"]
    assert {"afr", "nfe", "remaining", "all"} <= set(groups)
    counts = schemas["GroupCounts"]["properties"]
    assert counts["af"]["anyOf"][0]["maximum"] == 1 and counts["ac"]["anyOf"][0]["minimum"] == 0
    outs = schemas["VariantOut"]["properties"]
    assert {"annotation_warnings", "profile"} <= set(outs)


def test_a_queue_takes_annotated_variants(
    prediction_service: PredictionService,
    sent: list[tuple[str, dict]],
    judged_keys: list[str],
    tmp_path: Path,
):
    """POST /queue's logic (in-process): annotated, keyed and refused variants become items
    scored as /predict scores them."""
    queues = QueueService(
        prediction_service, QueueStore(f"sqlite:///{tmp_path / 'q.db'}"), GeneContext()
    )
    (key, values), plain = sent[3], judged_keys[7]
    variants = [
        {"variant": key, "annotations": values},
        {"variant": plain},
        {"variant": "GRCh37:1:1:A:G", "annotations": {**values, "mpc_score": -1}},
    ]
    answer = queues.create(json.dumps({"variants": variants}).encode())
    assert answer.status == 200, answer.body
    items = {item["input"]: item for item in json.loads(answer.body)["items"]}
    served = prediction_service.predict([VariantIn.model_validate(v) for v in variants])
    for out in served:
        item = items[out.input]
        assert item["error"] == (out.error or "")
        if out.score is None:
            assert item["score"] is None
        else:
            assert item["score"] == pytest.approx(out.score, abs=1e-9)  # stored rounded
    assert items["GRCh37:1:1:A:G"]["error"] == "invalid_annotation"
    only_refused = queues.create(json.dumps({"variants": variants[2:]}).encode())
    assert only_refused.status == 200, only_refused.body
    assert [i["error"] for i in json.loads(only_refused.body)["items"]] == ["invalid_annotation"]


def _csq_vcf(cases: list[tuple[str, dict[str, Any]]]) -> str:
    """A SYNTHETIC VEP VCF: one missense CSQ entry per variant holding the given values."""
    fields = (
        "Allele|Consequence|SYMBOL|Feature|CANONICAL|Amino_acids|Protein_position|SIFT|"
        "PolyPhen|FATHMM_score|VEST4_score|MutPred2_score|PrimateAI_score|MPC_score|"
        "CADD_phred|GERP++_RS|phyloP100way_vertebrate"
    )
    columns = {
        "SIFT": "sift_score",
        "PolyPhen": "polyphen2_score",
        "FATHMM_score": "fathmm_score",
        "VEST4_score": "vest4_score",
        "MutPred2_score": "mutpred2_score",
        "PrimateAI_score": "primateai_score",
        "MPC_score": "mpc_score",
        "CADD_phred": "cadd_phred",
        "GERP++_RS": "gerp_rs",
        "phyloP100way_vertebrate": "phylop100way",
    }
    lines = [
        "##fileformat=VCFv4.2",
        f'##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from '
        f'Ensembl VEP. Format: {fields}">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    for key, values in cases:
        v = parse_variant_key(key)
        entry = [
            v.alt,
            "missense_variant",
            values["gene"],
            "ENST00000000001",
            "YES",
            f"{values['aa_ref']}/{values['aa_alt']}",
            str(values["aa_pos"]),
        ]
        for column, name in columns.items():
            value = values.get(name)
            text = "" if value is None else repr(float(value))
            if column in ("SIFT", "PolyPhen") and text:
                text = f"tool_call({text})"
            entry.append(text)
        lines.append(f"{v.chrom}\t{v.pos}\t.\t{v.ref}\t{v.alt}\t.\t.\tCSQ={'|'.join(entry)}")
    first = parse_variant_key(cases[0][0])
    lines.append(f"{first.chrom}\t{first.pos + 1}\t.\tA\tG\t.\t.\tDP=3")
    return "\n".join(lines) + "\n"


def test_a_vep_vcf_upload_is_scored_from_its_csq(client: TestClient, sent: list[tuple[str, dict]]):
    """A SYNTHETIC CSQ VCF: JSON answers equal the inline answers for the same values, the
    TSV has the result columns with the same scores, and a record without CSQ is named."""
    cases = [(k, a) for k, a in sent if {"aa_ref", "aa_alt", "aa_pos", "gene"} <= set(a)][:3]
    assert len(cases) == 3
    text = _csq_vcf(cases)
    upload = {"file": ("vep.vcf", text.encode())}
    answers = client.post("/predict/vcf?format=json", files=upload)
    assert answers.status_code == 200, answers.text
    *scored, missing = answers.json()
    inline = _post(client, [{"variant": k, "annotations": a} for k, a in cases])
    for answer, reference in zip(scored, inline, strict=True):
        assert answer["score"] == pytest.approx(reference["score"], rel=1e-12)
        assert (answer["evidence"], answer["profile"]) == (
            reference["evidence"],
            reference["profile"],
        )
    assert missing["error"] == "csq_missing" and missing["score"] is None
    table = client.post("/predict/vcf?format=tsv", files=upload)
    assert table.status_code == 200, table.text
    rows = pd.read_csv(
        pd.io.common.StringIO(table.text), sep="\t", dtype=str, keep_default_na=False
    )
    assert tuple(rows.columns) == RESULT_COLUMNS
    assert [float(s) for s in rows["score"][:3]] == pytest.approx([a["score"] for a in scored])
    assert rows["error"].tolist()[-1] == "csq_missing"
    assert not any(math.isnan(float(s)) for s in rows["score"][:3])
    annotated = client.post("/predict/vcf?format=vcf", files=upload)
    assert annotated.status_code == 200, annotated.text
    body = [line.split("\t") for line in annotated.text.splitlines() if not line.startswith("#")]
    info = [dict(item.partition("=")[::2] for item in line[7].split(";")) for line in body]
    assert [float(i["VIP_SCORE"]) for i in info[:3]] == pytest.approx(
        [a["score"] for a in scored], abs=1e-4
    )
    assert info[-1]["VIP_ERR"] == "csq_missing"


@pytest.mark.parametrize(
    "header,build,error",
    [
        ("##reference=GRCh37", "GRCh38", "build_conflict"),
        ("##reference=GRCh38", None, "no_features"),
        ("##reference=GRCh38", "GRCh38", "no_features"),
        ("##reference=GRCh37", "GRCh37", ""),
        (None, None, ""),
    ],
)
def test_an_upload_is_keyed_on_its_headers_build(
    client: TestClient, judged_keys: list[str], header: str | None, build: str | None, error: str
):
    """A SYNTHETIC GRCh37 store variant uploaded under a header and a ?build: the header's
    build when none is asked, GRCh37 when neither says, a named conflict when they differ."""
    v = parse_variant_key(judged_keys[4])
    lines = [
        "##fileformat=VCFv4.2",
        *([header] if header else []),
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
        f"{v.chrom}\t{v.pos}\t.\t{v.ref}\t{v.alt}\t.\t.\t.",
    ]
    params = {"format": "json", **({"build": build} if build else {})}
    upload = {"file": ("in.vcf", "\n".join(lines).encode())}
    response = client.post("/predict/vcf", params=params, files=upload)
    assert response.status_code == 200, response.text
    (answer,) = response.json()
    assert (answer["error"] or "") == error
    if error == "build_conflict":
        assert "GRCh38" in answer["error_detail"] and answer["score"] is None
