"""Every VIPREDICT_* setting is read in one place, validated once, and names itself when wrong."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vipredict.config import (
    DEFAULT_BS1_FAF,
    GUIDELINES,
    Limits,
    ModelRole,
    SettingsError,
    feature_set_file,
    feature_set_of,
    get_settings,
    training_config_file,
)
from vipredict.features.sets import FeatureSetError, feature_set_for, load_feature_set


def test_defaults_from_an_empty_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = get_settings({})
    assert settings.home == (tmp_path / ".vipredict").resolve()
    assert settings.store_dir == settings.home / "store"
    assert settings.api_keys == frozenset()
    assert settings.limits == Limits(10_000, 50 * 1024 * 1024)
    assert settings.bs1_faf == DEFAULT_BS1_FAF
    assert settings.queue_url == f"sqlite:///{settings.home / 'queue.db'}"
    assert settings.dask_scheduler is None
    assert settings.guidelines == GUIDELINES == ("acmg_v3", "svcv4")  # both by default


def test_every_setting_is_read_from_the_environment(tmp_path):
    env = {
        "VIPREDICT_HOME": str(tmp_path / "h"),
        "VIPREDICT_DATA_MIRROR": str(tmp_path / "m"),
        "VIPREDICT_QUEUE_URL": "postgresql+psycopg://curator@db/queue",
        "VIPREDICT_DASK_SCHEDULER": "tcp://127.0.0.1:8786",
        "VIPREDICT_API_KEYS": " k1, ,alice: k2 ,bob:k:3",
        "VIPREDICT_MAX_VARIANTS": "7",
        "VIPREDICT_MAX_BYTES": "99",
        "VIPREDICT_BS1_FAF": "0.003",
        "VIPREDICT_GUIDELINES": "svcv4",
    }
    settings = get_settings(env)
    assert settings.home == Path(env["VIPREDICT_HOME"]).resolve()
    assert settings.data_mirror == Path(env["VIPREDICT_DATA_MIRROR"]).resolve()
    assert settings.queue_url == env["VIPREDICT_QUEUE_URL"]
    assert settings.dask_scheduler == env["VIPREDICT_DASK_SCHEDULER"]
    assert settings.api_keys == {"k1", "k2", "k:3"}
    assert settings.curator_of("k2") == "alice"
    assert settings.curator_of("k:3") == "bob"  # the curator is what precedes the first colon
    assert settings.curator_of("k1") == "key-" + hashlib.sha256(b"k1").hexdigest()[:8]
    assert settings.limits == Limits(7, 99)
    assert settings.bs1_faf == 0.003
    assert settings.guidelines == ("svcv4",)


@pytest.mark.parametrize(
    "name,value",
    [
        ("VIPREDICT_MAX_VARIANTS", "0"),
        ("VIPREDICT_MAX_VARIANTS", "ten"),
        ("VIPREDICT_MAX_BYTES", "-1"),
        ("VIPREDICT_BS1_FAF", "1.5"),
        ("VIPREDICT_BS1_FAF", "1%"),
        ("VIPREDICT_API_KEYS", "alice:k1,bob:k1"),
        ("VIPREDICT_API_KEYS", "al ice:k1"),
        ("VIPREDICT_API_KEYS", "alice:"),
        ("VIPREDICT_GUIDELINES", "acmg_v2"),
        ("VIPREDICT_GUIDELINES", "svcv4,acmg"),
        ("VIPREDICT_GUIDELINES", ","),
    ],
)
def test_a_bad_value_names_its_variable(name, value):
    with pytest.raises(SettingsError, match=name) as refused:
        get_settings({name: value})
    if name == "VIPREDICT_API_KEYS":
        assert "k1" not in str(refused.value)  # a key is a secret: never repeated


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("acmg_v3", ("acmg_v3",)),
        (" SVCv4 ", ("svcv4",)),
        ("svcv4,acmg_v3", ("acmg_v3", "svcv4")),  # always in GUIDELINES order
        ("acmg_v3, svcv4, acmg_v3", ("acmg_v3", "svcv4")),
        ("", GUIDELINES),  # empty is unset
    ],
)
def test_guidelines_are_read_case_and_order_blind(value: str, expected: tuple[str, ...]):
    assert get_settings({"VIPREDICT_GUIDELINES": value}).guidelines == expected


def test_a_bad_guideline_names_the_choices():
    with pytest.raises(SettingsError, match="acmg_v3, svcv4") as refused:
        get_settings({"VIPREDICT_GUIDELINES": "acmg_v2"})
    assert "'acmg_v2'" in str(refused.value)


def test_roles_name_their_feature_sets_and_only_the_evidence_role_emits_evidence():
    evidence = feature_set_for(ModelRole.EVIDENCE)
    priority = feature_set_for(ModelRole.PRIORITY)
    assert (evidence.name, priority.name) == (feature_set_of(ModelRole.EVIDENCE), "af")
    assert evidence.emits_evidence and not priority.emits_evidence
    assert not any(family == "frequency" for family in evidence.families)


def test_a_role_played_by_the_wrong_kind_of_set_is_refused(monkeypatch):
    import vipredict.features.sets as sets

    monkeypatch.setattr(sets, "feature_set_of", lambda role: "af")
    with pytest.raises(FeatureSetError, match="evidence role"):
        sets.feature_set_for(ModelRole.EVIDENCE)


def test_configuration_files_ship_with_the_package():
    """features/*.toml and training/*.toml are package data: a wheel finds them too."""
    assert feature_set_file("noaf").is_file() and feature_set_file("af").is_file()
    assert training_config_file().is_file()
    assert load_feature_set("noaf").registered_model == "vipredict-noaf"
    with pytest.raises(FeatureSetError, match="no feature set 'nope'"):
        load_feature_set("nope")


def test_the_lean_registered_name_is_the_feature_sets_own(monkeypatch):
    """``registered_model_of`` reads one key of the TOML without the feature builders (so that
    checking a champion's version stays light); it names the model the checked set names."""
    import vipredict.config as config
    from vipredict.config import registered_model_of

    for role in ModelRole:
        assert registered_model_of(role) == feature_set_for(role).registered_model
    monkeypatch.setattr(config, "feature_set_of", lambda role: "af")
    assert registered_model_of(ModelRole.EVIDENCE) == "vipredict-af"
