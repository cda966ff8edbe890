"""The ClinGen SVI calibration sets (Pejaver et al. 2022) from BayesQuantify's ``.rda`` files.

The two releases spell columns differently (R's ``make.names`` turned
``GERP++_RS`` into ``GERP.._RS`` and ``hg19_pos(1-based)`` into
``hg19_pos.1.based.`` in 2020), so columns are matched after folding
punctuation rather than by exact name.
"""

from __future__ import annotations

import re

import pandas as pd
import pyreadr

from vipredict.io.sources import get_source, resolve
from vipredict.schema import conform_annotations
from vipredict.variants import key_column

CLINGEN_SETS = {"2019": "clingen_2019", "2020": "clingen_2020"}

_COLUMN_MAP = {
    "hg19chr": "chrom",
    "hg19pos1based": "pos",
    "ref": "ref",
    "alt": "alt",
    "rsdbsnp151": "rsid",
    "genename": "gene",
    "aavar": "aavar",
    "clnsig": "clnsig",
    "maf": "af_global",
    "siftscore": "sift_score",
    "fathmmscore": "fathmm_score",
    "vest4score": "vest4_score",
    "revelscore": "revel_score",
    "gerprs": "gerp_rs",
    "phylop100wayvertebrate": "phylop100way",
    "ea10": "ea_score",
    "bayesdelnsfp33anoaf": "bayesdel_noaf_score",
    "mutpred20score": "mutpred2_score",
    "caddv16phred": "cadd_phred",
    "pph2prob": "polyphen2_score",
    "mpcscore": "mpc_score",
    "primateaiscore": "primateai_score",
}
_AAVAR = re.compile(r"^([A-Z*])(\d+)([A-Z*])$")


def _fold(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def label_from_clnsig(clnsig: pd.Series) -> pd.Series:
    """1 for P/LP, 0 for B/LB, NA otherwise (VUS, conflicting)."""
    text = clnsig.astype("string").str.lower()
    pathogenic = text.str.contains("pathogenic") & ~text.str.contains("conflicting")
    benign = text.str.contains("benign") & ~text.str.contains("conflicting")
    label = pd.Series(pd.NA, index=clnsig.index, dtype="Int8")
    label[pathogenic & ~benign] = 1
    label[benign & ~pathogenic] = 0
    return label


def read_clingen_set(year: str) -> pd.DataFrame:
    """Canonical annotation table of the 2019 (train) or 2020 (validation) set, with labels."""
    if year not in CLINGEN_SETS:
        raise ValueError(f"unknown ClinGen set {year!r}; expected one of {sorted(CLINGEN_SETS)}")
    name = CLINGEN_SETS[year]
    raw = next(iter(pyreadr.read_r(resolve(name)).values()))
    renamed = raw.rename(columns={c: _COLUMN_MAP.get(_fold(c), c) for c in raw.columns})
    aa = renamed["aavar"].astype("string").str.extract(_AAVAR)
    frame = renamed.assign(
        build="GRCh37",
        chrom=renamed["chrom"].astype("string"),
        aa_ref=aa[0],
        aa_pos=aa[1],
        aa_alt=aa[2],
        label=label_from_clnsig(renamed["clnsig"]),
        dataset=f"clingen_{year}",
        source=name,
        source_version=get_source(name).version,
    )
    frame["variant"] = key_column(
        "GRCh37", frame["chrom"], frame["pos"], frame["ref"], frame["alt"]
    )
    frame = conform_annotations(frame.drop(columns=["aavar"]))
    return frame[frame["label"].notna()].reset_index(drop=True)
