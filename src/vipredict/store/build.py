"""Building the store from the declared public sources (``vipredict features``).

The ClinGen sets come first, then the unlabelled annotation files in priority
order: a variant keeps the row of the first file that has it. Every file goes
through its reader and the feature builders, joined to the gnomAD/ExAC
frequencies by ancestry, and the result replaces the store's ``base`` files
(rows streamed in by ``vipredict add-dbnsfp`` stay). ``vipredict features
--dask`` reads one file per task (:mod:`vipredict.jobs.dask`) and writes the same rows.

Both builds: the ClinGen sets (GRCh37) get GRCh38 keys where a real source gives
their GRCh38 position, and dbNSFP v3/v4 rows carry both builds' positions; the
writer indexes those rows under the other build too, as copies, and writes the
lift table beside the store (:mod:`vipredict.store.liftover`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vipredict.config import Settings, get_settings
from vipredict.features.table import build_feature_table
from vipredict.io.readers import popfreq
from vipredict.io.readers.clingen import read_clingen_set
from vipredict.io.readers.dbnsfp import read_dbnsfp_source
from vipredict.io.readers.popfreq import read_all_browser_exports
from vipredict.io.readers.vep import read_vep_source
from vipredict.io.sources import sources_matching
from vipredict.progress import Progress
from vipredict.store.liftover import (
    carry_other_build,
    with_copies,
    with_grch38_keys,
    write_lift_table,
)
from vipredict.store.write import replace_base

logger = logging.getLogger(__name__)

#: The long gnomAD/ExAC table and the genes each of its datasets covers.
Frequencies = tuple[pd.DataFrame, dict[str, set[str]]]

#: Unlabelled annotation sources added to the store after the ClinGen sets, in priority order.
EXTRA_ANNOTATION_SOURCES: tuple[tuple[str, str], ...] = (
    ("vep", "vep_dbnsfp_benign"),
    ("vep", "vep_dbnsfp_pathogenic"),
    ("dbnsfp", "dbnsfp_v23_test"),
    ("dbnsfp", "dbnsfp_v24_head"),
    ("dbnsfp", "dbnsfp_v24_chr4"),
)


def unlabelled(frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Annotations from a non-ClinGen source, tagged with their dataset name."""
    frame["dataset"] = dataset
    # Labels of these files are not ClinGen-curated: never let them reach training.
    frame["label"] = pd.NA
    return frame


@dataclass(frozen=True)
class AnnotationFile:
    """One input file of the store: which reader, and which declared source it reads."""

    kind: str  # "clingen", "vep" or "dbnsfp"
    name: str  # ClinGen year, or the source name in the data manifest

    def read(self) -> pd.DataFrame:
        if self.kind == "clingen":  # GRCh37; the GRCh38 key where a real source gives one
            return with_grch38_keys(read_clingen_set(self.name))
        reader = read_vep_source if self.kind == "vep" else read_dbnsfp_source
        return unlabelled(reader(self.name), self.name)


#: The store's inputs in priority order: a variant keeps the row of the first file that has it.
STORE_FILES: tuple[AnnotationFile, ...] = (
    AnnotationFile("clingen", "2019"),
    AnnotationFile("clingen", "2020"),
    *(AnnotationFile(kind, name) for kind, name in EXTRA_ANNOTATION_SOURCES),
)


def load_frequencies(settings: Settings | None = None) -> Frequencies:
    """gnomAD and ExAC browser exports (69 ACMG genes) as one long table + covered genes.

    Reading the 138 exports takes about 12 s; every ``add-dbnsfp`` run (one per
    chromosome file of dbNSFP) needs them, so the table is kept in the home's cache
    (:data:`FREQUENCY_CACHE`), keyed by the exports' declared checksums and the
    reader's source: a new export or a changed reader reads the files again.
    """
    settings = settings or get_settings()
    cache = settings.home / FREQUENCY_CACHE / f"frequencies-{_frequency_digest()}.parquet"
    if cache.is_file():
        table = pq.read_table(cache)
        covered = json.loads(table.schema.metadata[_COVERED_KEY])
        return table.to_pandas(), {dataset: set(genes) for dataset, genes in covered.items()}
    frames, covered = [], {}
    for dataset in ("gnomad", "exac"):
        frame, genes = read_all_browser_exports(dataset)
        frames.append(frame)
        covered[str(frame["dataset"].iloc[0])] = genes
    long = pd.concat(frames, ignore_index=True)
    _write_cache(long, covered, cache)
    return long, covered


#: Where :func:`load_frequencies` keeps the parsed exports, under the home.
FREQUENCY_CACHE = Path("cache")
_COVERED_KEY = b"vipredict.covered_genes"


def _frequency_digest() -> str:
    """Digest of what the frequency table is made from: the exports' checksums, the reader."""
    digest = hashlib.sha256(Path(popfreq.__file__).read_bytes())
    for dataset in ("gnomad", "exac"):
        for source in sources_matching(f"{dataset}_export_"):
            digest.update(f"{source.name}={source.sha256}".encode())
    return digest.hexdigest()[:16]


def _write_cache(long: pd.DataFrame, covered: dict[str, set[str]], path: Path) -> None:
    """Write the table atomically (a reader never sees half a file); a failure only warns."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(long, preserve_index=False)
        genes = json.dumps({dataset: sorted(g) for dataset, g in covered.items()}).encode()
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), _COVERED_KEY: genes}
        )
        staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        pq.write_table(table, staging)
        staging.replace(path)
    except OSError as error:  # a read-only home still builds, only slower next time
        logger.warning("frequency cache not written to %s: %s", path, error)


def features_of(annotations: pd.DataFrame, frequencies: Frequencies) -> pd.DataFrame:
    """Feature rows of keyed annotations, frequencies by ancestry joined.

    The other build's key of a row, when its source gives one, rides along until
    the store is written (:func:`~vipredict.store.liftover.carry_other_build`).
    """
    table, covered = frequencies
    return carry_other_build(build_feature_table(annotations, table, covered), annotations)


def build_table(progress: Progress = lambda _: None) -> pd.DataFrame:
    """Read every source and build all feature families (nothing written)."""
    annotations = []
    for source in STORE_FILES:
        progress(f"reading {source.kind} {source.name}")
        annotations.append(source.read())
    combined = pd.concat(annotations, ignore_index=True)
    combined = combined[combined["variant"].notna()].drop_duplicates("variant", keep="first")
    progress("reading gnomAD/ExAC frequencies by ancestry")
    frequencies = load_frequencies()
    progress(f"building features for {len(combined):,} variants")
    return features_of(combined, frequencies)


def write_store(
    table: pd.DataFrame, settings: Settings | None = None, progress: Progress = lambda _: None
) -> None:
    """Make ``table`` the store's build (its ``base`` files); streamed rows stay.

    Rows whose source gives their other build's key are indexed under that build
    too (copies), and the lift table is written beside them.
    """
    settings = settings or get_settings()
    settings.ensure_dirs()
    rows, lifts = with_copies(table)
    progress(
        f"writing the feature store {settings.store_dir}: {len(table):,} variants, "
        f"{int(lifts['indexed'].sum()):,} of them indexed under their other build too"
    )
    replace_base(rows, settings.store_dir)
    write_lift_table(lifts, settings.store_dir)


def build_store(
    settings: Settings | None = None, progress: Progress = lambda _: None
) -> pd.DataFrame:
    """``vipredict features``: read every source, build the features, write the store."""
    table = build_table(progress)
    write_store(table, settings, progress)
    return table


__all__ = [
    "STORE_FILES",
    "AnnotationFile",
    "build_store",
    "build_table",
    "load_frequencies",
    "write_store",
]
