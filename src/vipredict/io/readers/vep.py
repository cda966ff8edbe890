"""Ensembl VEP output -> canonical annotation table: the tab format, and the rules its VCF shares.

VEP writes one entry per (variant, transcript): a line of its tab output, or a
``|``-joined entry of a VCF's ``CSQ`` field (:mod:`vipredict.io.readers.csq`). Both
carry the same field names, so the two rules that turn entries into one
annotation row per variant live here, once:

* **transcript rule** (:func:`pick_transcripts`): among the entries of the
  variant whose ``Consequence`` includes ``missense_variant``, ONE entry is taken:
  ``MANE_SELECT`` set > ``CANONICAL=YES`` > ``PICK=1`` > first listed. Its SIFT,
  PolyPhen, protein change, gene and transcript are used, as each ClinGen row
  names one transcript; mixing the most damaging value of each tool over
  transcripts made a variant no transcript is;
* **harmonised mapping** (:data:`SCORE_COLUMNS`): each canonical score comes only
  from a column that measures what the model was trained on. A column that is
  another quantity (:data:`NOT_SUBSTITUTED`: PolyPhen-2 HDIV for HumVar, MutPred
  v1 for MutPred2) is never used: the score stays missing and
  ``annotation_warnings`` says why. The several values a dbNSFP plugin field may
  hold inside the chosen entry are reduced by
  :func:`vipredict.io.readers._values.reduce_values`.

Tab specifics: the REF allele is not in VEP's default columns; it comes from
``GIVEN_REF`` (the allele the user submitted, present when VEP ran with
``--check_ref`` or ``--everything``), falling back to ``USED_REF``. Rows whose
alleles are VEP's ``-`` (insertions/deletions in VEP's trimmed notation) cannot
be turned back into VCF alleles without the reference genome, so they are dropped
and counted. The two declared files differ in column order (and end lines with
CRLF), so columns are always taken by name. A variant with no missense line keeps
its best line by the same preference (its ``consequence`` says what it is).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vipredict.io.readers._common import attach_keys, with_provenance
from vipredict.io.readers._values import MISSING_TOKENS, first_value, non_numeric, reduce_values
from vipredict.io.sources import get_source, resolve
from vipredict.schema import CONSERVATION_SCORES, FUNCTIONAL_SCORES, conform_annotations

VEP_SOURCES = {"benign": "vep_dbnsfp_benign", "pathogenic": "vep_dbnsfp_pathogenic"}

#: Canonical score <- VEP/plugin columns of the SAME quantity, in order of preference:
#: per variant the first of them that holds a number is used.
SCORE_COLUMNS: dict[str, tuple[str, ...]] = {
    "sift_score": ("SIFT", "SIFT_score"),
    # VEP's PolyPhen is HumVar unless VEP ran with --humdiv; dbNSFP's HVAR is HumVar.
    "polyphen2_score": ("PolyPhen", "Polyphen2_HVAR_score"),
    "fathmm_score": ("FATHMM_score",),
    "vest4_score": ("VEST4_score",),
    "mutpred2_score": ("MutPred2_score", "MutPred2.0_score"),
    "ea_score": ("EA_score", "EA_1.0"),
    "primateai_score": ("PrimateAI_score",),
    "mpc_score": ("MPC_score",),
    # dbNSFP's CADD_phred first; the CADD plugin's CADD_PHRED when dbNSFP lacks it.
    "cadd_phred": ("CADD_phred", "CADD_PHRED"),
    "gerp_rs": ("GERP++_RS",),
    "phylop100way": ("phyloP100way_vertebrate",),
    "phastcons100way": ("phastCons100way_vertebrate",),
    "siphy_29way": ("SiPhy_29way_logOdds",),
    "revel_score": ("REVEL_score",),
    "bayesdel_noaf_score": ("BayesDel_noAF_score",),
    # 1000 Genomes phase 3 global AF: dbNSFP's column, else VEP's own (--af).
    "af_global": ("1000Gp3_AF", "AF"),
}
#: Canonical score -> (columns of ANOTHER quantity, why they are not used): never substituted.
#: (No "; " inside a reason: ``annotation_warnings`` items are joined by "; ".)
NOT_SUBSTITUTED: dict[str, tuple[tuple[str, ...], str]] = {
    "polyphen2_score": (
        ("Polyphen2_HDIV_score",),
        "only Polyphen2_HDIV_score given (training used HumVar), left missing",
    ),
    "mutpred2_score": (
        ("MutPred_score",),
        "MutPred_score is MutPred v1, not MutPred2, left missing",
    ),
}
#: The model's evidence inputs: a missing one is named in ``annotation_warnings``.
EVIDENCE_SCORES = (*FUNCTIONAL_SCORES, *CONSERVATION_SCORES)
MISSENSE = "missense_variant"
WARNINGS = "annotation_warnings"
#: Every VEP field the two rules read (the rest of an entry is never looked at).
ENTRY_FIELDS = frozenset(
    {
        *(column for columns in SCORE_COLUMNS.values() for column in columns),
        *(column for columns, _ in NOT_SUBSTITUTED.values() for column in columns),
        *("Allele", "ALLELE_NUM", "Consequence", "SYMBOL", "Feature", "Amino_acids"),
        *("Protein_position", "GIVEN_REF", "USED_REF", "MANE_SELECT", "MANE", "CANONICAL"),
        "PICK",
    }
)
_SEP = ","


# --------------------------------------------------------------------------- the two rules


def is_missense(consequence: pd.Series) -> pd.Series:
    """Whether each entry's consequence terms (``&``- or ``,``-joined) include a missense one."""
    text = consequence.astype("string").fillna("")
    return text.str.contains(rf"(?:^|[&,]){MISSENSE}(?:$|[&,])", regex=True).astype(bool)


def _present(frame: pd.DataFrame, column: str) -> pd.Series:
    """Whether a cell holds any value: ``.;.`` or ``.,.`` (one missing token per
    transcript) is as empty as ``.``."""
    values = frame[column] if column in frame.columns else pd.Series("", index=frame.index)
    tokens = values.astype("string").fillna("").str.split(r"[;,&]", regex=True).explode()
    present = ~tokens.str.strip().isin(MISSING_TOKENS)
    return present.groupby(level=0).any().reindex(frame.index, fill_value=False)


def _field_is(frame: pd.DataFrame, column: str, value: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[column].astype("string").str.strip().str.upper().eq(value).fillna(False)


def transcript_rank(entries: pd.DataFrame) -> pd.Series:
    """Preference of each entry: 0 MANE Select, 1 canonical, 2 VEP's pick, 3 any other."""
    rank = pd.Series(3, index=entries.index, dtype="int64")
    rank[_field_is(entries, "PICK", "1")] = 2
    rank[_field_is(entries, "CANONICAL", "YES")] = 1
    rank[_present(entries, "MANE_SELECT") | _present(entries, "MANE")] = 0
    return rank


def pick_transcripts(entries: pd.DataFrame, by: str) -> pd.DataFrame:
    """ONE entry per ``by`` group: missense first, then :func:`transcript_rank`, then listed order.

    Groups keep the order of their first entry. The chosen entry's ``missense``
    column says whether it is a missense entry (a caller that scores missense
    variants only refuses the others).
    """
    consequence = entries["Consequence"] if "Consequence" in entries.columns else None
    missense = (
        is_missense(consequence)
        if consequence is not None
        else pd.Series(False, index=entries.index)
    )
    order = pd.DataFrame(
        {
            "group": pd.factorize(entries[by])[0],
            "other": ~missense.to_numpy(),
            "rank": transcript_rank(entries).to_numpy(),
            "listed": range(len(entries)),
        },
        index=entries.index,
    )
    best = order.sort_values(["group", "other", "rank", "listed"], kind="stable")
    first = best.drop_duplicates("group").index
    return entries.loc[first].assign(missense=missense.loc[first].to_numpy())


def _candidates(entries: pd.DataFrame, canonical: str) -> list[str]:
    return [c for c in SCORE_COLUMNS[canonical] if c in entries.columns]


def harmonised_scores(entries: pd.DataFrame, sep: str) -> pd.DataFrame:
    """Canonical scores of chosen entries: per row the first preferred column with a number."""
    out = pd.DataFrame(index=entries.index)
    for canonical in SCORE_COLUMNS:
        value = pd.Series(float("nan"), index=entries.index, dtype="float64")
        for column in _candidates(entries, canonical):
            value = value.fillna(reduce_values(entries[column], canonical, sep))
        out[canonical] = value
    return out


def _join(parts: list[pd.Series], index: pd.Index) -> pd.Series:
    """Per row, the non-missing messages joined by ``; `` (empty string when none)."""
    out = pd.Series("", index=index, dtype="string")
    for part in parts:
        has = part.notna().to_numpy()
        joined = (out + "; " + part).where(out != "", part)
        out = out.where(~has, joined)
    return out.fillna("").astype("string")


def score_warnings(entries: pd.DataFrame, scores: pd.DataFrame, sep: str) -> pd.Series:
    """``annotation_warnings`` of each row: ``<canonical column>: <why>`` items.

    Named: a value of another quantity that was not substituted, and a
    non-numeric value that was ignored. Plain absence is not repeated here: the
    scorer names the sources a variant lacks against the profile that scored it.
    """
    parts = []
    for canonical in SCORE_COLUMNS:
        candidates = _candidates(entries, canonical)
        missing = scores[canonical].isna()
        refused, why = NOT_SUBSTITUTED.get(canonical, ((), ""))
        for column in (c for c in refused if c in entries.columns):
            hit = missing & _present(entries, column)
            parts.append(pd.Series(f"{canonical}: {why}", index=entries.index).where(hit))
        for column in candidates:
            token = non_numeric(entries[column], sep)
            parts.append(f"{canonical}: non-numeric {column} value '" + token + "' ignored")
    return _join(parts, entries.index)


def _protein(raw: pd.DataFrame) -> pd.DataFrame:
    """aa_ref/aa_alt from ``Amino_acids`` (``S/L``); aa_pos = start of ``Protein_position``."""
    amino = raw.get("Amino_acids", pd.Series(pd.NA, index=raw.index)).astype("string")
    parts = amino.str.extract(r"^(?P<aa_ref>[A-Z*]+)/(?P<aa_alt>[A-Z*]+)$")
    position = raw.get("Protein_position", pd.Series(pd.NA, index=raw.index)).astype("string")
    parts["aa_pos"] = pd.to_numeric(position.str.extract(r"^(\d+)")[0], errors="coerce")
    return parts


def entry_annotations(chosen: pd.DataFrame, sep: str) -> pd.DataFrame:
    """Canonical columns of chosen entries (index kept): scores, protein change, gene,
    ``transcript``, ``consequence`` and ``annotation_warnings``."""
    scores = harmonised_scores(chosen, sep)
    out = pd.concat([scores, _protein(chosen)], axis=1)
    for canonical, column in (("gene", "SYMBOL"), ("transcript", "Feature")):
        if column in chosen.columns:
            out[canonical] = first_value(chosen[column], sep)
    if "Consequence" in chosen.columns:
        out["consequence"] = chosen["Consequence"].astype("string")
    out[WARNINGS] = score_warnings(chosen, scores, sep)
    return out


# --------------------------------------------------------------------------- the tab format


def _header_line(path: Path) -> int:
    """Index of the ``#Allele`` header line (VEP writes ``##`` metadata lines before it)."""
    with Path(path).open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle):
            if line.startswith("#Allele") or line.startswith("#Uploaded_variation"):
                return number
            if not line.startswith("##"):
                break
    raise ValueError(f"{path} is not VEP tab output: no '#Allele' header line")


def _raw_table(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, sep="\t", skiprows=_header_line(path), dtype=str, keep_default_na=False)
    raw.columns = [c.strip().lstrip("#") for c in raw.columns]
    return raw


def _locus(raw: pd.DataFrame) -> pd.DataFrame:
    """chrom/pos from ``chrom:start-end``; ref from GIVEN_REF (else USED_REF); alt = Allele."""
    location = raw["Location"].str.extract(r"^(?P<chrom>[^:]+):(?P<pos>\d+)(?:-\d+)?$")
    ref_column = "GIVEN_REF" if "GIVEN_REF" in raw.columns else "USED_REF"
    if ref_column not in raw.columns:
        raise ValueError("VEP table lacks GIVEN_REF/USED_REF: rerun VEP with --check_ref")
    return pd.DataFrame(
        {
            "chrom": location["chrom"],
            "pos": location["pos"],
            "ref": raw[ref_column],
            "alt": raw["Allele"],
        },
        index=raw.index,
    )


def read_vep_tab(path: Path, build: str = "GRCh38", source_name: str | None = None) -> pd.DataFrame:
    """VEP tab file -> canonical annotations, one row per variant (transcript rule), plus
    ``consequence``, ``transcript`` and ``annotation_warnings``."""
    raw = _raw_table(Path(path))
    keyed = attach_keys(
        pd.concat([raw, _locus(raw)], axis=1), build, f"VEP table {Path(path).name}"
    )
    dropped = keyed.attrs["dropped"]
    chosen = pick_transcripts(keyed, "variant")
    locus = chosen[["variant", "build", "chrom", "pos", "ref", "alt"]]
    frame = pd.concat([locus, entry_annotations(chosen, _SEP)], axis=1).reset_index(drop=True)
    out = conform_annotations(with_provenance(frame, source_name))
    out.attrs["dropped"] = dropped
    return out


def read_vep_source(name: str) -> pd.DataFrame:
    """A declared VEP table (``vep_dbnsfp_benign``/``vep_dbnsfp_pathogenic``) with provenance."""
    return read_vep_tab(resolve(name), get_source(name).build, source_name=name)
