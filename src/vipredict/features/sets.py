"""Feature-set definitions (``features/*.toml``): which feature families a model sees.

The definitions are configuration, not code, so adding a model variant is a new
TOML file. The one rule enforced here: a set that emits PP3/BP4 evidence may not
contain a population-frequency feature (that evidence belongs to BA1/BS1/PM2).

An evidence set may declare **annotation profiles** (``[[profiles]]``): the
per-tool sources a variant's annotation may carry, richest first (the ClinGen
tool set; what a standard VEP + dbNSFP run gives; ...). Each profile is its own
model, trained only on variants that carry every one of its sources and
calibrated out of fold on them, and a variant is scored by the first profile it
carries in full. A model then never sees a source missing, so missingness cannot
carry the label: in ClinGen 2019, MutPred2 is missing for 12.6% of B/LB and 0%
of P/LP, and a model that saw that learned "no MutPred2, benign".
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from vipredict.config import ModelRole, feature_set_file, feature_set_of
from vipredict.features.table import FEATURE_FAMILIES


class FeatureSetError(ValueError):
    """A feature-set definition that is unknown or breaks the evidence rule."""


#: Feature families of per-tool scores: a profile keeps only the sources it names
#: from these, and never their ``*_n_missing`` counts (a count is missingness itself).
SOURCE_FAMILIES = ("conservation", "functional")


@dataclass(frozen=True)
class Profile:
    """An annotation profile: the per-tool sources a variant must carry to be scored by it."""

    name: str
    description: str
    sources: tuple[str, ...]

    def carried_by(self, annotations: pd.DataFrame) -> np.ndarray:
        """Whether each row carries every source of this profile."""
        return annotations[list(self.sources)].notna().all(axis=1).to_numpy()


@dataclass(frozen=True)
class FeatureSet:
    name: str
    registered_model: str
    description: str
    families: tuple[str, ...]
    exclude: tuple[str, ...]
    emits_evidence: bool
    profiles: tuple[Profile, ...] = ()

    @property
    def feature_names(self) -> list[str]:
        names = [spec.name for family in self.families for spec in FEATURE_FAMILIES[family]]
        return [name for name in names if name not in self.exclude]

    def profile_features(self, profile: Profile) -> list[str]:
        """A profile's model features: its sources plus every non-source family's features."""
        per_tool = {
            spec.name
            for family in self.families
            if family in SOURCE_FAMILIES
            for spec in FEATURE_FAMILIES[family]
        }
        return [n for n in self.feature_names if n in profile.sources or n not in per_tool]


def _profiles(name: str, raw: list[dict], feature_names: list[str]) -> tuple[Profile, ...]:
    """The declared profiles, checked: unique names, sources that are features of the set."""
    profiles = tuple(
        Profile(str(p["name"]), str(p.get("description", "")), tuple(p["sources"])) for p in raw
    )
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        raise FeatureSetError(f"feature set {name!r}: profile names repeat: {names}")
    for profile in profiles:
        unknown = [s for s in profile.sources if s not in feature_names]
        if unknown or not profile.sources:
            raise FeatureSetError(
                f"feature set {name!r}: profile {profile.name!r} names sources that are not "
                f"its features: {unknown or 'none given'}"
            )
    return profiles


def load_feature_set(name: str) -> FeatureSet:
    """The feature set ``features/<name>.toml`` (shipped in the package), checked."""
    path = feature_set_file(name)
    if not path.is_file():
        raise FeatureSetError(f"no feature set {name!r} (features/{name}.toml does not exist)")
    raw = tomllib.loads(path.read_text())
    unknown = [family for family in raw["families"] if family not in FEATURE_FAMILIES]
    if unknown:
        raise FeatureSetError(f"feature set {name!r}: unknown families {unknown}")
    feature_set = FeatureSet(
        name=raw["name"],
        registered_model=raw["registered_model"],
        description=raw["description"],
        families=tuple(raw["families"]),
        exclude=tuple(raw.get("exclude", ())),
        emits_evidence=bool(raw["emits_evidence"]),
    )
    profiles = _profiles(name, raw.get("profiles", []), feature_set.feature_names)
    feature_set = replace(feature_set, profiles=profiles)
    if feature_set.emits_evidence and "frequency" in feature_set.families:
        raise FeatureSetError(
            f"feature set {name!r} emits PP3/BP4 evidence but uses frequency features: "
            "that double-counts BA1/BS1/PM2"
        )
    return feature_set


def feature_set_for(role: ModelRole) -> FeatureSet:
    """The feature set of the model that plays ``role``, checked against the role.

    Only the evidence role may emit PP3/BP4, and it must: a configuration that
    swapped the roles would otherwise serve frequency-aware evidence.
    """
    feature_set = load_feature_set(feature_set_of(role))
    if feature_set.emits_evidence != (role is ModelRole.EVIDENCE):
        raise FeatureSetError(
            f"feature set {feature_set.name!r} plays the {role} role but emits_evidence is "
            f"{feature_set.emits_evidence}"
        )
    return feature_set


def assign_profiles(profiles: tuple[Profile, ...], annotations: pd.DataFrame) -> np.ndarray:
    """Per row, the name of the first profile whose every source it carries ("" if none).

    Richest first, so a variant with the full ClinGen tool set is judged by the
    model of that set, and one from a standard VEP run by the model of its tools.
    """
    chosen = np.full(len(annotations), "", dtype=object)
    for profile in profiles:
        chosen[(chosen == "") & profile.carried_by(annotations)] = profile.name
    return chosen


def lost_source_scenarios(profiles: tuple[Profile, ...]) -> dict[str, list[str]]:
    """Sources to blank per scenario of lost annotation: each single source the profiles
    name, and each profile's sources alone (``only_<profile>`` blanks every source that
    profile does not name: a variant annotated exactly as that profile)."""
    every = list(dict.fromkeys(s for p in profiles for s in p.sources))
    single = {f"without_{c}": [c] for c in every}
    alone = {f"only_{p.name}": [c for c in every if c not in p.sources] for p in profiles}
    return single | alone
