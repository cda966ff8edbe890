"""Gene lists that tell the queue where a curator's review is most likely to settle a variant.

Two kinds of gene knowledge raise a variant in the default order:

* the ACMG secondary-findings list (SF v3.2, a declared data file with its
  citation): established, actionable gene-disease relationships that
  laboratories must settle;
* a ClinGen gene-disease validity curation, *where known*. The public data
  mirror holds no ClinGen validity export, so this is a hook: drop ClinGen's
  CSV download (search.clinicalgenome.org, "Gene-Disease Validity") at
  ``$VIPREDICT_HOME/clingen_gene_validity.csv`` and every queue built
  afterwards uses it. Without it the validity of every gene is ``unknown``
  and changes nothing.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from vipredict.config import Settings, get_settings

ACMG_SF_FILE = "data/acmg_sf_v3.2.toml"
VALIDITY_FILE = "clingen_gene_validity.csv"
#: ClinGen gene-disease validity classifications, strongest first.
VALIDITY_ORDER = (
    "definitive",
    "strong",
    "moderate",
    "limited",
    "disputed",
    "refuted",
    "no known disease relationship",
)
#: Classifications under which a variant can be classified pathogenic (ClinGen SOP).
ESTABLISHED = frozenset(("definitive", "strong", "moderate"))


@dataclass(frozen=True)
class GeneList:
    """A published gene list with what a report needs to cite it."""

    name: str
    version: str
    citation: str
    doi: str
    genes: frozenset[str]

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


@cache
def acmg_sf() -> GeneList:
    """ACMG SF v3.2 (Miller et al. 2023), read once from the packaged data file."""
    data = tomllib.loads(resources.files("vipredict").joinpath(ACMG_SF_FILE).read_text())
    return GeneList(
        name=data["name"],
        version=data["version"],
        citation=data["citation"],
        doi=data["doi"],
        genes=frozenset(data["genes"]),
    )


@dataclass(frozen=True)
class GeneContext:
    """Gene knowledge the ranking uses: the ACMG SF list and ClinGen validity where known."""

    acmg: GeneList = field(default_factory=acmg_sf)
    validity: Mapping[str, str] = field(default_factory=dict)
    validity_source: str | None = None

    def in_acmg(self, gene: str | None) -> bool:
        return gene is not None and gene.upper() in self.acmg.genes

    def validity_of(self, gene: str | None) -> str:
        """Strongest ClinGen classification of the gene, or ``unknown``."""
        return self.validity.get((gene or "").upper(), "unknown")

    def established(self, gene: str | None) -> bool:
        return self.validity_of(gene) in ESTABLISHED


def _header_index(rows: list[list[str]]) -> int:
    """Row holding the column names: ClinGen's export has a banner above its header."""
    for i, row in enumerate(rows):
        names = {cell.strip().lower() for cell in row}
        if "classification" in names and names & {"gene symbol", "gene"}:
            return i
    raise ValueError("no header with a gene symbol and a CLASSIFICATION column")


def parse_gene_validity(text: str) -> dict[str, str]:
    """Gene -> strongest classification from ClinGen's gene-validity CSV (or a gene/TSV table).

    ClinGen lists one row per gene-disease-mode curation, so a gene can have
    several; the strongest counts, because one established disease is enough
    for a variant in that gene to be classifiable.
    """
    dialect = "excel-tab" if "\t" in text.splitlines()[0] else "excel"
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if row]
    start = _header_index(rows)
    names = [cell.strip().lower() for cell in rows[start]]
    gene_at = names.index("gene symbol") if "gene symbol" in names else names.index("gene")
    class_at = names.index("classification")
    strongest: dict[str, str] = {}
    for row in rows[start + 1 :]:
        if len(row) <= max(gene_at, class_at) or row[gene_at].startswith("+"):
            continue  # ClinGen's "+++++" separator rows, short rows
        gene = row[gene_at].strip().upper()
        level = row[class_at].strip().lower()
        if not gene or level not in VALIDITY_ORDER:
            continue
        current = strongest.get(gene)
        if current is None or VALIDITY_ORDER.index(level) < VALIDITY_ORDER.index(current):
            strongest[gene] = level
    return strongest


def load_gene_context(settings: Settings | None = None) -> GeneContext:
    """ACMG SF always; ClinGen validity when its export sits in the vipredict home."""
    settings = settings or get_settings()
    path: Path = settings.home / VALIDITY_FILE
    if not path.is_file():
        return GeneContext()
    return GeneContext(validity=parse_gene_validity(path.read_text()), validity_source=str(path))
