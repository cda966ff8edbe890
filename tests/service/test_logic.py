"""PredictionService in-process, on the SYNTHETIC tiny home: answers worked out without the
Scorer, explanations, frequency criteria, the model card, the annotated VCF, uploads and limits.

The tiny home's variants, scores and frequencies are made up: these tests check
what the service does with whatever the champions say, never a real figure.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
from importlib import metadata

import numpy as np
import pandas as pd
import pytest

from vipredict.acmg import BA1_FAF
from vipredict.config import (
    DEFAULT_BS1_FAF,
    MAX_AUTO_WORKERS,
    Limits,
    Settings,
    SettingsError,
    get_settings,
)
from vipredict.features.frequency import GRPMAX_EXCLUDED
from vipredict.io.files import json_safe
from vipredict.io.vcf import VIP_INFO_HEADERS
from vipredict.model.registry import LoadedModel
from vipredict.model.scorer import frequency_evidence
from vipredict.schema import CONSERVATION_SCORES, FUNCTIONAL_SCORES
from vipredict.service.predictor import PredictionService, service_workers
from vipredict.service.schemas import VariantIn
from vipredict.service.security import ServingError, decode_upload
from vipredict.variants import parse_variant_key

#: Keys that never reach the store's answer: unknown locus, wrong build, indel, garbage.
BAD_KEYS = ("GRCh37:1:1:A:G", "GRCh38:1:1000000:G:A", "GRCh37:1:1000000:G:GA", "not a key")


def _wrong_ref(key: str) -> str:
    """``key`` with a REF the store does not hold at that locus (a ref_mismatch)."""
    v = parse_variant_key(key)
    wrong = next(b for b in "ACGT" if b not in (v.ref, v.alt))
    return f"{v.build}:{v.chrom}:{v.pos}:{wrong}:{v.alt}"


#: Tavtigian points of each code, written out (the ACMG/ClinGen table, not the code's).
HAND_POINTS = {
    "none": 0,
    "PP3_Supporting": 1, "PP3_Moderate": 2, "PP3_Strong": 4, "PP3_VeryStrong": 8,
    "BP4_Supporting": -1, "BP4_Moderate": -2, "BP4_Strong": -4, "BP4_VeryStrong": -8,
}  # fmt: skip


def code_of(score: float, thresholds: dict[str, float | None]) -> str:
    """The strongest code whose threshold the score reaches (PP3 at or above, BP4 at or
    below; PP3 first), or none: the rule read off the thresholds."""
    reached = [
        code
        for code, threshold in thresholds.items()
        if threshold is not None
        and (score >= threshold if code.startswith("PP3") else score <= threshold)
    ]
    strength = {"Supporting": 1, "Moderate": 2, "Strong": 3, "VeryStrong": 4}
    return max(
        reached, key=lambda c: (c.startswith("PP3"), strength[c.split("_")[1]]), default="none"
    )


def expected_answers(model: LoadedModel, rows: pd.DataFrame) -> pd.DataFrame:
    """Profile, score, posterior and code of store rows, worked out without the Scorer: the
    first profile whose every source the row carries, that profile's booster score, the
    posterior read off its calibration curve, the code its thresholds give."""
    out = pd.DataFrame({"profile": "", "score": np.nan, "posterior": np.nan}, index=rows.index)
    for candidate in reversed(model.profiles):  # the first carried profile is written last
        out.loc[rows[list(candidate.profile.sources)].notna().all(axis=1), "profile"] = (
            candidate.name
        )
    for candidate in model.profiles:
        mine = out["profile"] == candidate.name
        if mine.any():
            score = candidate.booster.predict(rows.loc[mine, candidate.feature_names].astype(float))
            calibration = candidate.calibration
            out.loc[mine, "score"] = score
            out.loc[mine, "posterior"] = np.interp(score, calibration.grid, calibration.posterior)
    thresholds = {p.name: p.calibration.thresholds for p in model.profiles}
    out["evidence"] = [
        code_of(score, thresholds[profile]) if profile else "none"
        for score, profile in zip(out["score"], out["profile"], strict=True)
    ]
    return out


def test_stored_variants_get_the_answer_of_their_profile(
    prediction_service: PredictionService, store_rows: pd.DataFrame
):
    """Every SYNTHETIC store row through the warmed cache, against :func:`expected_answers`,
    the LR of that posterior at ClinGen's prior (by hand), the points of the code (by hand)
    and the priority model's own score. A row with no score at all is ``no_features``; one
    that carries no profile is ``insufficient_annotation``."""
    outs = prediction_service.predict([VariantIn(variant=str(k)) for k in store_rows["variant"]])
    model = prediction_service.scorer.evidence_model
    priority = prediction_service.scorer.priority_model
    assert priority is not None
    priority_scores = priority.predict(store_rows)
    expected = expected_answers(model, store_rows)
    scores = [c for c in (*CONSERVATION_SCORES, *FUNCTIONAL_SCORES) if c in store_rows]
    blank = store_rows[scores].isna().all(axis=1).to_numpy()
    for i, (out, want) in enumerate(zip(outs, expected.itertuples(), strict=True)):
        assert (out.variant, out.gene) == (
            store_rows["variant"].iloc[i],
            store_rows["gene"].iloc[i],
        )
        assert (out.model.name, out.model.version) == (model.name, model.version)
        if not want.profile:
            assert out.error == ("no_features" if blank[i] else "insufficient_annotation")
            assert (out.score, out.posterior, out.profile) == (None, None, None)
            assert (out.evidence, out.points, out.next_level) == ("none", 0, None)
            continue
        assert out.error is None and out.profile == want.profile
        assert out.score == pytest.approx(want.score, rel=1e-9)
        assert out.posterior == pytest.approx(want.posterior, rel=1e-9)
        if want.posterior < 1:
            odds = want.posterior / (1 - want.posterior) / (0.0441 / (1 - 0.0441))
            assert out.likelihood_ratio == pytest.approx(odds, rel=1e-9)
        assert (out.evidence, out.points) == (want.evidence, HAND_POINTS[want.evidence])
        assert out.priority.score == pytest.approx(priority_scores[i], rel=1e-9)
    assert {"none", "PP3_Supporting", "BP4_Supporting", "PP3_Moderate"} < set(expected["evidence"])
    assert expected["profile"].nunique() >= 4 and blank.any()


def test_keys_the_store_cannot_answer_get_named_errors(
    prediction_service: PredictionService, judged_keys: list[str]
):
    """A stored locus asked with another REF, a locus not stored, another build, an indel and
    garbage: each its own named error, no score and no evidence, its key kept when it had one."""
    wrong = _wrong_ref(judged_keys[0])
    stored_ref = parse_variant_key(judged_keys[0]).ref
    keys = [wrong, *BAD_KEYS]
    expected = [
        ("ref_mismatch", wrong, f"reference at this locus is {stored_ref}"),
        ("no_features", BAD_KEYS[0], "not in the feature store"),
        ("no_features", BAD_KEYS[1], "not in the feature store"),
        ("not_snv", None, "not a single-nucleotide variant"),
        ("malformed_record", None, "is not build:chrom:pos:ref:alt"),
    ]
    outs = prediction_service.predict([VariantIn(variant=k) for k in keys])
    for out, key, (error, variant, detail) in zip(outs, keys, expected, strict=True):
        assert (out.input, out.error, out.variant) == (key, error, variant)
        assert detail in (out.error_detail or "")
        assert (out.score, out.evidence, out.points, out.profile) == (None, "none", 0, None)
        assert out.model.name == prediction_service.scorer.evidence_model.name


def test_lazy_and_precomputed_answers_match(
    prediction_service: PredictionService,
    judged_keys: list[str],
    unjudged_keys: dict[str, list[str]],
):
    """A service that scores on demand answers exactly as the warmed cache (synthetic keys)."""
    lazy = PredictionService(prediction_service.scorer, prediction_service.card)
    keys = [*judged_keys[:50], *(k for ks in unjudged_keys.values() for k in ks[:3]), *BAD_KEYS]
    variants = [VariantIn(variant=k) for k in keys]
    assert json.loads(lazy.predict_json(variants)) == json.loads(
        prediction_service.predict_json(variants)
    )


def test_a_store_past_the_preload_bound_is_answered_on_demand_within_the_cache_bound(
    prediction_service: PredictionService,
    tiny_home: Settings,
    judged_keys: list[str],
    unjudged_keys: dict[str, list[str]],
):
    """A store larger than VIPREDICT_PRELOAD_ROWS (here: any store) is not scored at start-up,
    keeps at most VIPREDICT_CACHE_ROWS answers, and answers exactly as the preloaded service
    (synthetic keys: asked in small requests, some twice, so the cache fills and evicts)."""
    settings = dataclasses.replace(tiny_home, preload_rows=0, cache_rows=5)
    bounded = PredictionService.from_scorer(prediction_service.scorer, settings)
    assert bounded.cache_status()["scored"] == 0 and bounded.cache_status()["limit"] == 5
    keys = [*judged_keys[:40], *(k for ks in unjudged_keys.values() for k in ks[:3]), *BAD_KEYS]
    for start in range(0, len(keys), 7):
        batch = [VariantIn(variant=k) for k in [*keys[start : start + 7], *keys[:2]]]
        assert json.loads(bounded.predict_json(batch)) == json.loads(
            prediction_service.predict_json(batch)
        )
        status = bounded.cache_status()
        assert status["scored"] <= 5 and status["explained"] <= 5
    assert prediction_service.cache_status()["limit"] is None


def test_workers_follow_the_setting_else_the_store(tiny_home: Settings, monkeypatch):
    """VIPREDICT_WORKERS wins; unset, a preloaded store gets one worker (each more would
    score it whole again) and a store answered on demand one per core, at most four."""
    assert service_workers(dataclasses.replace(tiny_home, workers=3)) == 3
    assert service_workers(dataclasses.replace(tiny_home, workers=None)) == 1
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    large = dataclasses.replace(tiny_home, workers=None, preload_rows=0)
    assert service_workers(large) == 2
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert service_workers(large) == MAX_AUTO_WORKERS
    assert get_settings({"VIPREDICT_WORKERS": "2"}).workers == 2
    assert get_settings({}).workers is None
    with pytest.raises(SettingsError, match="VIPREDICT_WORKERS"):
        get_settings({"VIPREDICT_WORKERS": "0"})


def test_top_features_are_the_largest_contributions(
    prediction_service: PredictionService, judged_keys: list[str]
):
    """TreeSHAP of a synthetic variant under the profile that scored it: the five largest
    |contributions|, adding up to the logit."""
    key = judged_keys[7]
    out = prediction_service.predict([VariantIn(variant=key)])[0]
    profiles = prediction_service.scorer.evidence_model.profiles
    model = next(p for p in profiles if p.name == out.profile)
    row = prediction_service.store.lookup([key])[model.feature_names].astype("float64")
    contributions = model.booster.predict(row, pred_contrib=True)[0]
    contrib, bias = contributions[:-1], contributions[-1]
    expected = sorted(zip(model.feature_names, contrib, strict=True), key=lambda p: -abs(p[1]))[:5]
    assert [c.feature for c in out.top_features] == [name for name, _ in expected]
    assert [c.contribution for c in out.top_features] == pytest.approx([v for _, v in expected])
    logit = math.log(out.score / (1 - out.score))
    assert logit == pytest.approx(bias + contrib.sum(), abs=1e-6)


def test_next_level_points_to_a_stronger_reached_code(
    prediction_service: PredictionService,
    judged_keys: list[str],
    unjudged_keys: dict[str, list[str]],
):
    """Synthetic judged keys head to a code calibrated for their own profile; a variant with
    an error heads nowhere."""
    profiles = prediction_service.scorer.evidence_model.profiles
    thresholds = {p.name: p.calibration.thresholds for p in profiles}
    outs = prediction_service.predict([VariantIn(variant=k) for k in judged_keys])
    checked = 0
    for out in outs:
        if out.next_level is None:
            continue
        threshold = thresholds[str(out.profile)][out.next_level.code]
        assert threshold is not None
        assert out.next_level.score_distance == pytest.approx(abs(threshold - out.score))
        assert out.next_level.code != out.evidence
        checked += 1
    assert checked > 0
    thin = unjudged_keys["insufficient_annotation"]
    for out in prediction_service.predict([VariantIn(variant=k) for k in thin]):
        assert out.score is None and out.error == "insufficient_annotation"
        assert (
            out.profile is None
            and out.next_level is None
            and out.evidence == "none"
            and out.points == 0
        )


def _freq_frame(**values: float) -> pd.DataFrame:
    columns = {
        f"{d}_{g}_{s}": np.nan
        for d in ("gnomad", "exac")
        for g in ("afr", "amr", "asj", "eas", "fin", "nfe", "sas", "oth")
        for s in ("af", "faf95")
    }
    return pd.DataFrame([{**columns, **values}])


def test_frequency_criteria_skip_bottlenecked_groups_for_ba1():
    finnish = frequency_evidence(
        _freq_frame(
            gnomad_fin_faf95=0.2, gnomad_fin_af=0.25, gnomad_nfe_faf95=0.0, gnomad_nfe_af=0.0
        ),
        DEFAULT_BS1_FAF,
    )[0]
    assert finnish["BA1"]["met"] is False
    assert finnish["PM2"]["met"] is False and finnish["PM2"]["group"] == "gnomad:fin"
    common = frequency_evidence(
        _freq_frame(
            exac_nfe_faf95=0.07, exac_nfe_af=0.08, gnomad_afr_faf95=0.02, gnomad_afr_af=0.03
        ),
        DEFAULT_BS1_FAF,
    )[0]
    assert common["BA1"] | {"met": True, "group": "exac:nfe"} == common["BA1"]
    assert common["BA1"]["faf"] > BA1_FAF
    assert common["BS1"]["met"] is True


def test_frequency_criteria_unknown_absent_and_configurable_bs1():
    unknown = frequency_evidence(_freq_frame(), DEFAULT_BS1_FAF)[0]
    assert {unknown[c]["status"] for c in ("BA1", "BS1", "PM2")} == {"unknown"}
    absent = frequency_evidence(
        _freq_frame(gnomad_nfe_af=0.0, gnomad_nfe_faf95=0.0), DEFAULT_BS1_FAF
    )[0]
    assert absent["PM2"]["met"] is True and absent["PM2"]["group"] is None
    assert absent["BA1"]["met"] is False
    rare = _freq_frame(gnomad_nfe_faf95=0.004, gnomad_nfe_af=0.005)
    assert frequency_evidence(rare, DEFAULT_BS1_FAF)[0]["BS1"]["met"] is False
    assert frequency_evidence(rare, bs1_faf=0.003)[0]["BS1"]["met"] is True


def test_store_variants_get_their_frequency_criteria(
    prediction_service: PredictionService, store_rows: pd.DataFrame
):
    """Invented frequencies of the synthetic store: a rare observed variant, a common one,
    a covered one never observed, and one in a gene the frequency data do not cover."""
    observed = store_rows[
        (store_rows["gnomad_observed"] == 1) & (store_rows["gnomad_grpmax_faf95"] > 0)
    ].sort_values("gnomad_grpmax_faf95")
    rare, common = observed.iloc[0], observed.iloc[-1]
    absent = store_rows[(store_rows["gnomad_observed"] == 0) & store_rows["gnomad_nfe_af"].eq(0)]
    uncovered = store_rows[store_rows["gnomad_nfe_af"].isna() & store_rows["exac_nfe_af"].isna()]
    keys = [rare["variant"], common["variant"], absent["variant"].iloc[0]]
    keys.append(uncovered["variant"].iloc[0])
    outs = prediction_service.predict([VariantIn(variant=str(k)) for k in keys])
    evidence = [out.frequency_evidence for out in outs]
    assert all(e is not None for e in evidence)
    for out, row in ((evidence[0], rare), (evidence[1], common)):
        ba1 = out.BA1
        assert ba1.group is not None and ba1.group.split(":")[1] not in GRPMAX_EXCLUDED
        assert ba1.faf >= float(row["gnomad_grpmax_faf95"]) - 1e-12
    assert evidence[0].BA1.status == "not_met" and evidence[0].PM2.status == "not_met"
    assert common["gnomad_grpmax_faf95"] > BA1_FAF
    assert evidence[1].BA1.status == "met" and evidence[1].BS1.status == "met"
    assert evidence[2].PM2.status == "met" and evidence[2].PM2.group is None
    assert evidence[2].BA1.status == "not_met"
    assert {evidence[3].BA1.status, evidence[3].BS1.status, evidence[3].PM2.status} == {"unknown"}


def test_priority_is_separate_from_evidence(
    prediction_service: PredictionService, judged_keys: list[str]
):
    out = prediction_service.predict([VariantIn(variant=judged_keys[0])])[0]
    assert out.model.name == prediction_service.scorer.evidence_model.name == "vipredict-noaf"
    assert out.priority.model is not None and out.priority.model.startswith("vipredict-af")
    assert out.priority.score is not None and out.priority.score != out.score
    assert out.evidence.startswith(("PP3", "BP4", "none"))


def test_model_card_names_data_calibration_and_rules(prediction_service: PredictionService):
    """The card of the synthetic champions: data digest, thresholds, rules, limits, versions."""
    card = prediction_service.model_card()
    evidence, priority = card["models"]
    assert evidence["emits_evidence"] is True and priority["emits_evidence"] is False
    assert set(evidence["calibration"]["thresholds"]) >= {"PP3_Supporting", "BP4_VeryStrong"}
    assert evidence["training_data"] and evidence["training_data"][0]["digest"]
    assert any("never combine" in rule.lower() for rule in card["combination_rules"])
    assert card["versions"]["lightgbm"] == metadata.version("lightgbm")
    assert "gene/disease-specific" in card["frequency_rules"]["BS1"]["note"]
    assert card["frequency_rules"]["BS1"]["threshold"] == prediction_service.scorer.bs1_faf
    assert card["frequency_rules"]["BA1"]["threshold"] == BA1_FAF
    assert card["feature_store"]["n_variants"] == len(prediction_service.store)
    limits = prediction_service.limits
    assert card["limits"] == {"max_variants": limits.max_variants, "max_bytes": limits.max_bytes}
    json.dumps(card, allow_nan=False)


def test_json_safe_drops_non_finite_values():
    assert json_safe({"a": [1.0, float("inf")], "b": {"c": float("nan")}}) == {
        "a": [1.0, None],
        "b": {"c": None},
    }


def _vcf(*body: str) -> str:
    header = [
        "##fileformat=VCFv4.2",
        "##reference=GRCh37",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    return "\n".join([*header, *body]) + "\n"


def _vip_headers(lines: list[str]) -> int:
    return sum(line.startswith("##INFO=<ID=VIP_") for line in lines)


def test_annotate_vcf_keeps_every_line(
    prediction_service: PredictionService, judged_keys: list[str]
):
    """A gzip upload of a synthetic variant, a multi-allelic indel and two broken lines:
    every line comes back, each allele with its result or its named error; annotating
    the output again replaces the fields instead of repeating them."""
    v = parse_variant_key(judged_keys[3])
    text = _vcf(
        f"{v.chrom}\t{v.pos}\trs1\t{v.ref}\t{v.alt}\t50\tPASS\tDP=10",
        f"chr{v.chrom}\t{v.pos}\t.\t{v.ref}\t{v.alt},{v.ref}T\t.\t.\t.",
        "1\t100",
        "garbage line without tabs",
    )
    out = prediction_service.annotate_vcf(gzip.compress(text.encode())).splitlines()
    assert _vip_headers(out) == len(VIP_INFO_HEADERS) == 5  # MIS_PRD with the v3 code
    body = [line for line in out if not line.startswith("#")]
    assert len(body) == 4
    assert body[0].split("\t")[7].startswith("DP=10;VIP_SCORE=")
    assert body[0].split("\t")[:7] == [v.chrom, str(v.pos), "rs1", v.ref, v.alt, "50", "PASS"]
    assert "VIP_ERR=.,not_snv" in body[1]
    assert body[2].endswith("VIP_ERR=malformed_record")
    assert body[3].split("\t")[0] == "garbage line without tabs"
    again = prediction_service.annotate_vcf("\n".join(out)).splitlines()
    assert _vip_headers(again) == 5
    assert [line.count("VIP_ERR=") for line in again if not line.startswith("#")] == [1] * 4
    assert [line for line in again if not line.startswith("#")][:2] == body[:2]


def test_gzip_members_limits_and_garbage():
    two_members = gzip.compress(b"##fileformat=VCFv4.2\n") + gzip.compress(b"1\t1\t.\tA\tG\n")
    assert decode_upload(two_members, 1000).endswith("A\tG\n")
    with pytest.raises(ServingError) as bomb:
        decode_upload(gzip.compress(b"A" * 10_000), 1000)
    assert bomb.value.status == 413 and "VIPREDICT_MAX_BYTES=1000" in bomb.value.message
    for bad in (b"", b"\x1f\x8b\x08garbage", b"\xff\xfe\x00binary", gzip.compress(b"x" * 99)[:-8]):
        with pytest.raises(ServingError) as refused:
            decode_upload(bad, 1000)
        assert refused.value.status == 400


def test_variant_limit_names_itself(prediction_service: PredictionService):
    small = PredictionService(
        prediction_service.scorer, prediction_service.card, Limits(max_variants=2)
    )
    for call in (small.predict_json, small.predict):
        with pytest.raises(ServingError) as refused:
            call([VariantIn(variant="GRCh37:1:1:A:G")] * 3)
        assert refused.value.status == 413
        assert "VIPREDICT_MAX_VARIANTS=2" in refused.value.message
    assert len(json.loads(small.predict_json([VariantIn(variant="GRCh37:1:1:A:G")] * 2))) == 2
    upload = _vcf(*(f"1\t{p}\t.\tA\tG\t.\t.\t." for p in (1, 2, 3))).encode()
    with pytest.raises(ServingError) as refused:
        small.predict_upload(upload, "json")
    assert refused.value.status == 413


def test_service_limits_come_from_the_settings(tiny_home, prediction_service: PredictionService):
    """Defaults, overrides, refusals by name; the loaded service keeps its home's limits."""
    assert get_settings({}).limits == Limits(10_000, 50 * 1024 * 1024)
    env = {"VIPREDICT_MAX_VARIANTS": "7", "VIPREDICT_MAX_BYTES": "99"}
    assert get_settings(env).limits == Limits(7, 99)
    for name, value in (("VIPREDICT_MAX_VARIANTS", "0"), ("VIPREDICT_MAX_BYTES", "lots")):
        with pytest.raises(SettingsError, match=name):
            get_settings({name: value})
    assert prediction_service.limits == tiny_home.limits
