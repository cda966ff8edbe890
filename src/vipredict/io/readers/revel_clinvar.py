"""REVEL scores of ClinVar variants in 58 ACMG genes (bcmechen/revel-clinvar master table).

Its 33,842 missense VUS are the one real *unlabelled* REVEL score set in the
mirror: the stand-in, in the calibration tests and README, for the gnomAD score
set ClinGen used for the unlabelled-fraction window condition.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd

from vipredict.io.readers._common import with_provenance
from vipredict.io.sources import resolve
from vipredict.schema import conform_annotations
from vipredict.variants import key_column

SOURCE = "revel_clinvar_master"


def read_revel_clinvar(path: Path | None = None) -> pd.DataFrame:
    """Canonical table with ``revel_score``, ``clnsig`` and the master table's ``CLASS``."""
    source_name = SOURCE if path is None else None
    path = path or resolve(SOURCE)
    with zipfile.ZipFile(path) as archive:
        member = archive.namelist()[0]
        raw = pd.read_csv(archive.open(member), low_memory=False, dtype={"chr": str})
    frame = pd.DataFrame(
        {
            "build": "GRCh37",
            "chrom": raw["chr"].astype("string"),
            "pos": raw["hg19_pos"],
            "ref": raw["ref"],
            "alt": raw["alt"],
            "gene": raw["GENE"],
            "aa_ref": raw["aaref"],
            "aa_alt": raw["aaalt"],
            "revel_score": raw["REVEL"],
            "clnsig": raw["CLNSIG"],
            "clinvar_class": raw["CLASS"],
            "consequence": raw["MOLECULAR CONSEQUENCE"],
        }
    )
    frame["variant"] = key_column(
        "GRCh37", frame["chrom"], frame["pos"], frame["ref"], frame["alt"]
    )
    return conform_annotations(with_provenance(frame, source_name))


def missense_vus_revel_scores() -> pd.Series:
    """REVEL scores of the missense VUS, one per variant: an unlabelled score distribution."""
    table = read_revel_clinvar()
    vus = table[
        (table["clinvar_class"] == "VUS")
        & table["consequence"].astype("string").str.contains("missense", na=False)
        & table["revel_score"].notna()
    ]
    return vus.drop_duplicates("variant")["revel_score"].reset_index(drop=True)
