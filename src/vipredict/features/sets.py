"""Feature-set definitions (``features/*.toml``): which feature families a model sees.

The definitions are configuration, not code, so adding a model variant is a new
TOML file. The one rule enforced here: a set that emits PP3/BP4 evidence may not
contain a population-frequency feature (that evidence belongs to BA1/BS1/PM2).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

from vipredict.config import ModelRole, feature_set_file, feature_set_of
from vipredict.features.table import FEATURE_FAMILIES


class FeatureSetError(ValueError):
    """A feature-set definition that is unknown or breaks the evidence rule."""


@dataclass(frozen=True)
class FeatureSet:
    name: str
    registered_model: str
    description: str
    families: tuple[str, ...]
    exclude: tuple[str, ...]
    emits_evidence: bool

    @property
    def feature_names(self) -> list[str]:
        names = [spec.name for family in self.families for spec in FEATURE_FAMILIES[family]]
        return [name for name in names if name not in self.exclude]


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
