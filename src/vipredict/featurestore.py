"""The feature store: every variant vipredict knows, with its features, in one parquet table.

``vipredict features`` builds it from the declared sources; training reads its
labelled rows, and the CLI and the service look variants up in it. The store also
remembers the reference allele at every locus it holds, which is how a request
with the wrong REF is told apart from a variant that merely has no features.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from vipredict.config import Settings, get_settings
from vipredict.features.table import build_feature_table, read_feature_table, write_feature_table
from vipredict.readers.clingen import read_clingen_set
from vipredict.readers.popfreq import read_all_browser_exports

Progress = Callable[[str], None]

#: Unlabelled annotation sources added to the store after the ClinGen sets, in priority order.
EXTRA_ANNOTATION_SOURCES: tuple[tuple[str, str], ...] = (
    ("vep", "vep_dbnsfp_benign"),
    ("vep", "vep_dbnsfp_pathogenic"),
    ("dbnsfp", "dbnsfp_v23_test"),
    ("dbnsfp", "dbnsfp_v24_head"),
    ("dbnsfp", "dbnsfp_v24_chr4"),
)


def _read_extra(kind: str, name: str) -> pd.DataFrame:
    from vipredict.readers.dbnsfp import read_dbnsfp_source
    from vipredict.readers.vep import read_vep_source

    reader = read_vep_source if kind == "vep" else read_dbnsfp_source
    frame = reader(name)
    frame["dataset"] = name
    # Labels of these files are not ClinGen-curated: never let them reach training.
    frame["label"] = pd.NA
    return frame


def load_frequencies() -> tuple[pd.DataFrame, dict[str, set[str]]]:
    """gnomAD and ExAC browser exports (69 ACMG genes) as one long table + covered genes."""
    frames, covered = [], {}
    for dataset in ("gnomad", "exac"):
        frame, genes = read_all_browser_exports(dataset)
        frames.append(frame)
        covered[str(frame["dataset"].iloc[0])] = genes
    return pd.concat(frames, ignore_index=True), covered


def build_store(
    settings: Settings | None = None, progress: Progress = lambda _: None
) -> pd.DataFrame:
    """Read every source, build all feature families, write the parquet store."""
    settings = settings or get_settings()
    settings.ensure_dirs()
    progress("reading ClinGen SVI 2019 and 2020 sets")
    annotations = [read_clingen_set("2019"), read_clingen_set("2020")]
    for kind, name in EXTRA_ANNOTATION_SOURCES:
        progress(f"reading {name}")
        annotations.append(_read_extra(kind, name))
    combined = pd.concat(annotations, ignore_index=True)
    combined = combined[combined["variant"].notna()].drop_duplicates("variant", keep="first")
    progress("reading gnomAD/ExAC frequencies by ancestry")
    frequencies, covered = load_frequencies()
    progress(f"building features for {len(combined):,} variants")
    table = build_feature_table(combined, frequencies, covered)
    write_feature_table(table, settings.feature_table)
    return table


def load_store(settings: Settings | None = None) -> pd.DataFrame:
    settings = settings or get_settings()
    if not settings.feature_table.is_file():
        raise FileNotFoundError(
            f"no feature table at {settings.feature_table}; run `vipredict features`"
        )
    return read_feature_table(settings.feature_table)


def labelled_rows(table: pd.DataFrame, year: str) -> pd.DataFrame:
    rows = table[(table["dataset"] == f"clingen_{year}") & table["label"].notna()]
    return rows.reset_index(drop=True)


@dataclass
class FeatureStore:
    """In-memory lookup over the store (tens of thousands of rows: a hash index is enough)."""

    table: pd.DataFrame

    def __post_init__(self) -> None:
        indexed = self.table.set_index("variant", drop=False)
        self._by_key = indexed[~indexed.index.duplicated()]
        locus = self._by_key["variant"].str.rsplit(":", n=2).str[0]
        refs = self._by_key["variant"].str.split(":").str[3]
        self._ref_at = dict(zip(locus, refs, strict=True))

    @classmethod
    def load(cls, settings: Settings | None = None) -> FeatureStore:
        return cls(load_store(settings))

    def __len__(self) -> int:
        return len(self._by_key)

    def lookup(self, keys: Iterable[str]) -> pd.DataFrame:
        """Rows for the keys found, in request order (keys not found are absent)."""
        wanted = [key for key in keys if key in self._by_key.index]
        return self._by_key.loc[wanted]

    def contains(self, key: str) -> bool:
        return key in self._by_key.index

    def reference_at(self, build: str, chrom: str, pos: int) -> str | None:
        """The reference allele the store saw at a locus, if it holds any variant there."""
        return self._ref_at.get(f"{build}:{chrom}:{pos}")
