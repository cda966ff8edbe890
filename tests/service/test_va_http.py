"""``?format=va`` on ``POST /predict`` and ``POST /predict/vcf`` (the app on the SYNTHETIC tiny
home): GA4GH VA-Spec statements the library's models validate, one per variant, the bad
ones as their named errors. The figures are made up; the forms are what is checked."""

from __future__ import annotations

import gzip

from starlette.testclient import TestClient
from va_checks import check_answer, check_statement, is_error, statement_result

from vipredict.variants import parse_variant_key
from vipredict.vrs import vrs_id


def _vcf(keys: list[str], build: str = "GRCh37") -> str:
    lines = []
    for key in keys:
        v = parse_variant_key(key)
        lines.append(f"{v.chrom}\t{v.pos}\t.\t{v.ref}\t{v.alt}\t.\t.\t.\n")
    columns = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    return f"##fileformat=VCFv4.2\n##reference={build}\n{columns}" + "".join(lines)


def test_predict_answers_va_statements(client: TestClient, judged_keys: list[str]):
    keys = judged_keys[:5]
    entries = [{"variant": k} for k in keys] + [{"variant": "not-a-key"}]
    response = client.post("/predict?format=va", json={"variants": entries})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    answers = response.json()
    assert len(answers) == len(entries)
    for key, obj in zip(keys, answers, strict=False):
        check_statement(obj)
        assert obj["proposition"]["subjectVariant"]["id"] == vrs_id(key)
        assert statement_result(obj)["input"] == key
    assert is_error(answers[-1]) and answers[-1]["input"] == "not-a-key"
    check_answer(answers[-1])


def test_predict_refuses_an_unknown_answer_format(client: TestClient, judged_keys: list[str]):
    response = client.post("/predict?format=xml", json={"variants": [{"variant": judged_keys[0]}]})
    assert response.status_code == 400
    assert "json or va" in response.text


def test_vcf_upload_answers_va_statements(client: TestClient, judged_keys: list[str]):
    keys = judged_keys[5:9]
    text = _vcf(keys) + "1\t100\n"  # a broken record: its own named error
    upload = gzip.compress(text.encode())
    response = client.post("/predict/vcf?format=va", files={"file": ("in.vcf.gz", upload)})
    assert response.status_code == 200, response.text
    answers = response.json()
    assert len(answers) == len(keys) + 1
    for obj in answers:
        check_answer(obj)
    assert [obj["proposition"]["subjectVariant"]["id"] for obj in answers[:-1]] == [
        vrs_id(k) for k in keys
    ]
    assert is_error(answers[-1])
