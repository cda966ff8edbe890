"""Feature-set definitions (``features/*.toml``): which feature families a model sees.

The definitions are configuration, not code, so adding a model variant is a new
TOML file. The one rule enforced here: a set that emits PP3/BP4 evidence may not
contain a population-frequency feature (that evidence belongs to BA1/BS1/PM2).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from vipredict.config import PROJECT_ROOT
from vipredict.features.table import FEATURE_FAMILIES

FEATURE_SET_DIR = PROJECT_ROOT / "features"


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


def load_feature_set(name: str, directory: Path = FEATURE_SET_DIR) -> FeatureSet:
    path = directory / f"{name}.toml"
    if not path.is_file():
        raise FeatureSetError(f"no feature set {name!r} ({path} does not exist)")
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
