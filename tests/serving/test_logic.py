"""PredictionService in-process: agreement with Scorer, explanations, frequency criteria, VCF."""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from vipredict.config import PROJECT_ROOT, Settings
from vipredict.serving import (
    BA1_FAF,
    Limits,
    PredictionService,
    ServingError,
    VariantIn,
    decode_upload,
    frequency_evidence,
)
from vipredict.variants import parse_variant_key

SERVING_DIR = PROJECT_ROOT / "serving"


def test_results_agree_with_scorer(prediction_service: PredictionService, judged_keys: list[str]):
    keys = [*judged_keys[::max(1, len(judged_keys) // 200)][:200], "GRCh37:1:1:A:G"]
    served = prediction_service.predict([VariantIn(variant=k) for k in keys])
    reference = prediction_service.scorer.score_keys(keys)
    for out, (_, ref) in zip(served, reference.iterrows(), strict=True):
        if not ref["error"]:
            assert out.variant == ref["variant"]
        assert (out.error or "") == ref["error"]
        assert out.evidence == ref["evidence"]
        assert out.points == int(ref["points"])
        if out.score is None:
            assert pd.isna(ref["score"])
        else:
            assert out.score == pytest.approx(float(ref["score"]), rel=1e-9)
            assert out.posterior == pytest.approx(float(ref["posterior"]), rel=1e-9)


def test_lazy_and_precomputed_answers_match(trained_home: Settings,
                                            prediction_service: PredictionService,
                                            judged_keys: list[str]):
    lazy = PredictionService(prediction_service.scorer, prediction_service.card)
    variants = [VariantIn(variant=k) for k in judged_keys[:50]]
    assert json.loads(lazy.predict_json(variants)) == json.loads(
        prediction_service.predict_json(variants))


def test_top_features_are_the_largest_contributions(prediction_service: PredictionService,
                                                    judged_keys: list[str]):
    key = judged_keys[7]
    out = prediction_service.predict([VariantIn(variant=key)])[0]
    model = prediction_service.scorer.evidence_model
    row = prediction_service.store.lookup([key])[model.feature_names]
    contrib = model.model.booster_.predict(row, pred_contrib=True)[0, :-1]
    expected = sorted(zip(model.feature_names, contrib, strict=True), key=lambda p: -abs(p[1]))[:5]
    assert [c.feature for c in out.top_features] == [name for name, _ in expected]
    assert [c.contribution for c in out.top_features] == pytest.approx([v for _, v in expected])
    logit = math.log(out.score / (1 - out.score))
    bias = model.model.booster_.predict(row, pred_contrib=True)[0, -1]
    assert logit == pytest.approx(bias + contrib.sum(), abs=1e-6)


def test_next_level_points_to_a_stronger_reached_code(prediction_service: PredictionService,
                                                      judged_keys: list[str]):
    thresholds = prediction_service.scorer.evidence_model.calibration.thresholds
    outs = prediction_service.predict([VariantIn(variant=k) for k in judged_keys[:300]])
    checked = 0
    for out in outs:
        if out.next_level is None:
            continue
        threshold = thresholds[out.next_level.code]
        assert threshold is not None
        assert out.next_level.score_distance == pytest.approx(abs(threshold - out.score))
        assert out.next_level.code != out.evidence
        checked += 1
    assert checked > 0


def _freq_frame(**values: float) -> pd.DataFrame:
    columns = {f"{d}_{g}_{s}": np.nan for d in ("gnomad", "exac")
               for g in ("afr", "amr", "asj", "eas", "fin", "nfe", "sas", "oth")
               for s in ("af", "faf95")}
    return pd.DataFrame([{**columns, **values}])


def test_frequency_criteria_skip_bottlenecked_groups_for_ba1():
    finnish = frequency_evidence(_freq_frame(gnomad_fin_faf95=0.2, gnomad_fin_af=0.25,
                                             gnomad_nfe_faf95=0.0, gnomad_nfe_af=0.0))[0]
    assert finnish["BA1"]["met"] is False
    assert finnish["PM2"]["met"] is False and finnish["PM2"]["group"] == "gnomad:fin"
    common = frequency_evidence(_freq_frame(exac_nfe_faf95=0.07, exac_nfe_af=0.08,
                                            gnomad_afr_faf95=0.02, gnomad_afr_af=0.03))[0]
    assert common["BA1"] | {"met": True, "group": "exac:nfe"} == common["BA1"]
    assert common["BA1"]["faf"] > BA1_FAF
    assert common["BS1"]["met"] is True


def test_frequency_criteria_unknown_absent_and_configurable_bs1():
    unknown = frequency_evidence(_freq_frame())[0]
    assert {c["status"] for c in unknown.values()} == {"unknown"}
    absent = frequency_evidence(_freq_frame(gnomad_nfe_af=0.0, gnomad_nfe_faf95=0.0))[0]
    assert absent["PM2"]["met"] is True and absent["PM2"]["group"] is None
    assert absent["BA1"]["met"] is False
    rare = _freq_frame(gnomad_nfe_faf95=0.004, gnomad_nfe_af=0.005)
    assert frequency_evidence(rare)[0]["BS1"]["met"] is False
    assert frequency_evidence(rare, bs1_faf=0.003)[0]["BS1"]["met"] is True


def test_store_variant_with_frequency_gets_named_group(prediction_service: PredictionService):
    table = prediction_service.store.table
    observed = table[(table["gnomad_observed"] == 1) & (table["gnomad_grpmax_faf95"] > 0)]
    key = str(observed["variant"].iloc[0])
    out = prediction_service.predict([VariantIn(variant=key)])[0]
    ba1 = out.frequency_evidence.BA1
    assert ba1.status in ("met", "not_met")
    assert ba1.group is not None and ba1.group.split(":")[1] not in ("asj", "fin", "oth")
    assert ba1.faf >= float(observed["gnomad_grpmax_faf95"].iloc[0]) - 1e-12


def test_priority_is_separate_from_evidence(prediction_service: PredictionService,
                                            judged_keys: list[str]):
    out = prediction_service.predict([VariantIn(variant=judged_keys[0])])[0]
    assert out.model.name == prediction_service.scorer.evidence_model.name
    assert out.priority.model is not None and out.priority.model.startswith("vipredict-af")
    assert out.evidence.startswith(("PP3", "BP4", "none"))


def test_model_card_names_data_calibration_and_rules(prediction_service: PredictionService):
    card = prediction_service.model_card()
    evidence = card["models"][0]
    assert evidence["emits_evidence"] is True
    assert set(evidence["calibration"]["thresholds"]) >= {"PP3_Supporting", "BP4_VeryStrong"}
    assert evidence["training_data"] and evidence["training_data"][0]["digest"]
    assert any("never combine" in rule.lower() for rule in card["combination_rules"])
    assert card["versions"]["lightgbm"] == "4.7.0"
    assert "gene/disease-specific" in card["frequency_rules"]["BS1"]["note"]
    json.dumps(card, allow_nan=False)


def test_json_safe_drops_non_finite_values():
    from vipredict.tracking import json_safe

    assert json_safe({"a": [1.0, float("inf")], "b": {"c": float("nan")}}) == \
        {"a": [1.0, None], "b": {"c": None}}


def _vcf(*body: str) -> str:
    header = ["##fileformat=VCFv4.2", "##reference=GRCh37",
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    return "\n".join([*header, *body]) + "\n"


def test_annotate_vcf_keeps_every_line(prediction_service: PredictionService,
                                       judged_keys: list[str]):
    v = parse_variant_key(judged_keys[3])
    text = _vcf(f"{v.chrom}\t{v.pos}\trs1\t{v.ref}\t{v.alt}\t50\tPASS\tDP=10",
                f"chr{v.chrom}\t{v.pos}\t.\t{v.ref}\t{v.alt},{v.ref}T\t.\t.\t.",
                "1\t100", "garbage line without tabs")
    out = prediction_service.annotate_vcf(gzip.compress(text.encode())).splitlines()
    assert sum(line.startswith("##INFO=<ID=VIP_") for line in out) == 4
    body = [line for line in out if not line.startswith("#")]
    assert len(body) == 4
    assert body[0].split("\t")[7].startswith("DP=10;VIP_SCORE=")
    assert "VIP_ERR=.,not_snv" in body[1]
    assert body[2].endswith("VIP_ERR=malformed_record")
    assert body[3].split("\t")[0] == "garbage line without tabs"
    again = prediction_service.annotate_vcf("\n".join(out)).splitlines()
    assert sum(line.startswith("##INFO=<ID=VIP_") for line in again) == 4
    assert [line.count("VIP_ERR=") for line in again if not line.startswith("#")] == [1] * 4


def test_gzip_members_limits_and_garbage():
    two_members = gzip.compress(b"##fileformat=VCFv4.2\n") + gzip.compress(b"1\t1\t.\tA\tG\n")
    assert decode_upload(two_members, 1000).endswith("A\tG\n")
    with pytest.raises(ServingError) as bomb:
        decode_upload(gzip.compress(b"A" * 10_000), 1000)
    assert bomb.value.status == 413 and "VIPREDICT_MAX_BYTES=1000" in bomb.value.message
    for bad in (b"", b"\x1f\x8b\x08garbage", b"\xff\xfe\x00binary"):
        with pytest.raises(ServingError) as refused:
            decode_upload(bad, 1000)
        assert refused.value.status == 400


def test_variant_limit_names_itself(prediction_service: PredictionService):
    small = PredictionService(prediction_service.scorer, prediction_service.card,
                              Limits(max_variants=2))
    with pytest.raises(ServingError) as refused:
        small.predict_json([VariantIn(variant="GRCh37:1:1:A:G")] * 3)
    assert refused.value.status == 413 and "VIPREDICT_MAX_VARIANTS=2" in refused.value.message


def test_limits_from_env():
    assert Limits.from_env({}) == Limits(10_000, 50 * 1024 * 1024)
    assert Limits.from_env({"VIPREDICT_MAX_VARIANTS": "7", "VIPREDICT_MAX_BYTES": "99"}) == \
        Limits(7, 99)
    with pytest.raises(ValueError):
        Limits.from_env({"VIPREDICT_MAX_VARIANTS": "0"})


def test_service_refuses_to_start_without_champions(tmp_path):
    env = {**os.environ, "VIPREDICT_HOME": str(tmp_path / "empty"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty' / 'mlflow.db'}"}
    done = subprocess.run([sys.executable, "-c", "import service"], cwd=SERVING_DIR, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3
    assert "refuses to start" in done.stderr
