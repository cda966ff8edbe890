"""Queue exports: CSV and TSV for people and spreadsheets, a VCF for genome tools.

Tables keep every item in rank order, unscored ones included, with the current
decision of each. Every export leaves out the fields of a guideline version the
deployment does not report (``VIPREDICT_GUIDELINES``): ``evidence``, ``points``,
``next_level*`` and the VCF's ``VIP_EVIDENCE``/``VIPQ_POINTS`` are ACMG/AMP v3's,
``mis_prd`` and ``VIP_MIS_PRD`` SVCv4's. (The queue still orders by the v3 points
and says so in ``reason``: the order is how work is arranged, not evidence.)

The VCF holds the items that have a variant key, sorted by contig and position as
tools expect; the rank, the reason and the decision ride in INFO (text
percent-encoded, as VCF 4.3 prescribes for reserved characters).

Notes and queue names are whatever a client sent, so no export lets them act:
a table cell that a spreadsheet would read as a formula is written as text (a
leading ``'``, OWASP's CSV-injection advice), and VCF text is percent-encoded
wherever it could end a line (for any reader's idea of a line) or, in a header,
close its quotes or its ``<...>``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from vipredict.config import ACMG_V3, SVCV4, get_settings
from vipredict.io.vcf import VIP_RESULT_HEADERS, number_text, result_headers
from vipredict.model.scorer import reported_columns
from vipredict.queue.ranking import ITEM_COLUMNS
from vipredict.queue.store import DECISION_COLUMNS, QueueRecord
from vipredict.variants import CANONICAL_CONTIGS, split_keys

FORMATS = ("csv", "tsv", "vcf")
EXPORT_COLUMNS = (*ITEM_COLUMNS, *DECISION_COLUMNS)
QUEUE_INFO = (
    ("VIPQ_RANK", "1", "Integer", "rank in the vipredict curation queue (1 = review first)"),
    ("VIPQ_GENE", "1", "String", "gene symbol"),
    ("VIPQ_POINTS", "1", "Integer", "Tavtigian points of the PP3/BP4 evidence (ACMG/AMP v3)"),
    ("VIPQ_PRIORITY", "1", "Float", "vipredict-af priority score (orders work; not evidence)"),
    ("VIPQ_SETTLE", "1", "Float", "settle score of the default queue order"),
    ("VIPQ_FREQ", ".", "String", "frequency criteria met (BA1, BS1, PM2_Supporting)"),
    ("VIPQ_AF_BAND", "1", "String", "frequency band of the largest ancestry-group AF"),
    ("VIPQ_GROUPS", ".", "String", "ancestry groups in which the variant is observed"),
    ("VIPQ_ACMG_SF", "0", "Flag", "gene on the ACMG SF v3.2 list"),
    ("VIPQ_DECISION", "1", "String", "latest curator decision (accept, reject, defer)"),
    ("VIPQ_CURATOR", "1", "String", "curator of the latest decision"),
    ("VIPQ_NOTE", "1", "String", "note of the latest decision (percent-encoded)"),
    ("VIPQ_REASON", "1", "String", "why the item has its rank (percent-encoded)"),
)
_LIST_INFO = frozenset(("VIPQ_FREQ", "VIPQ_GROUPS"))
_RESERVED = {
    "%": "%25",
    ";": "%3B",
    "=": "%3D",
    ",": "%2C",
    " ": "%20",
    "\t": "%09",
    "\n": "%0A",
    "\r": "%0D",
    ":": "%3A",
}
#: A structured header value (``##key=<...,Name="...">``) also may not close its quotes or brackets.
_HEADER_RESERVED = {**_RESERVED, '"': "%22", "\\": "%5C", "<": "%3C", ">": "%3E"}
#: First characters that make a spreadsheet read a cell as a formula (OWASP: CSV injection).
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


class ExportError(ValueError):
    """A queue that cannot be written in the asked format (the message says why)."""


def _percent(ch: str) -> str:
    return "".join(f"%{byte:02X}" for byte in ch.encode())


def _encoded(text: str, reserved: Mapping[str, str]) -> str:
    """``text`` with reserved characters and every control or line/paragraph separator
    percent-encoded: ``str.splitlines`` and other readers end lines at ``\\x85``,
    ``\\u2028``, ``\\x1c`` ... too, and a record must stay one line for all of them."""
    return "".join(
        reserved.get(ch) or (_percent(ch) if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch)
        for ch in text
    )


def encode_info(text: str) -> str:
    """Percent-encode the characters a VCF INFO value may not hold."""
    return _encoded(text, _RESERVED)


def encode_header(text: str) -> str:
    """Percent-encode a value quoted inside a structured ``##`` header line."""
    return _encoded(text, _HEADER_RESERVED)


def neutral_cell(value: Any) -> Any:
    """A text cell a spreadsheet shows as text: a formula-leading one gets a leading ``'``."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_LEADS) else value


def _guidelines(guidelines: Sequence[str] | None) -> tuple[str, ...]:
    """The guideline versions to export: the settings' unless given."""
    return tuple(get_settings().guidelines if guidelines is None else guidelines)


def table_text(record: QueueRecord, fmt: str, guidelines: Sequence[str] | None = None) -> str:
    """CSV or TSV of all items with their current decisions; text cells never formulas.

    Only text cells change: numeric columns (a score of -0.5) are numbers, and a
    spreadsheet reads them as numbers. Rows end in CRLF (RFC 4180), so a cell
    holding a lone CR is quoted: unquoted, spreadsheets start a new row there.
    """
    sep = "," if fmt == "csv" else "\t"
    table = record.items[reported_columns(_guidelines(guidelines), EXPORT_COLUMNS)].copy()
    for column in table.columns:
        if not pd.api.types.is_numeric_dtype(table[column]):
            table[column] = table[column].map(neutral_cell)
    return table.to_csv(sep=sep, index=False, na_rep="", lineterminator="\r\n")


def _info(item: dict[str, Any], guidelines: Sequence[str]) -> str:
    def present(key: str) -> bool:
        value = item.get(key)
        return value is not None and not pd.isna(value) and value != ""

    fields = [f"VIPQ_RANK={int(item['rank'])}"]
    for key, value in (
        ("VIP_SCORE", "score"),
        ("VIP_POST", "posterior"),
        ("VIPQ_PRIORITY", "priority_score"),
        ("VIPQ_SETTLE", "settle"),
    ):
        if present(value):
            fields.append(f"{key}={number_text(float(item[value]))}")
    if ACMG_V3 in guidelines:
        fields.append(f"VIP_EVIDENCE={item['evidence']}")
    if SVCV4 in guidelines:
        fields.append(f"VIP_MIS_PRD={'.' if pd.isna(item['mis_prd']) else int(item['mis_prd'])}")
    if ACMG_V3 in guidelines:
        fields.append(f"VIPQ_POINTS={int(item['points'])}")
    for key, value in (
        ("VIPQ_GENE", "gene"),
        ("VIPQ_FREQ", "frequency_evidence"),
        ("VIPQ_AF_BAND", "af_band"),
        ("VIPQ_GROUPS", "groups_observed"),
        ("VIPQ_DECISION", "decision"),
        ("VIPQ_CURATOR", "curator"),
        ("VIPQ_NOTE", "note"),
        ("VIPQ_REASON", "reason"),
    ):
        if present(value):
            text = str(item[value])  # list values keep their commas as delimiters
            fields.append(f"{key}={text if key in _LIST_INFO else encode_info(text)}")
    if item.get("acmg_sf"):
        fields.append("VIPQ_ACMG_SF")
    return ";".join(fields)


def keyed_items(items: pd.DataFrame) -> pd.DataFrame:
    """Items with a variant key: those the scorer could not key cannot be VCF records."""
    return items[items["variant"].fillna("").astype(str) != ""]


def vcf_text(record: QueueRecord, guidelines: Sequence[str] | None = None) -> str:
    """A VCF 4.2 of the keyed items, one build per file, sorted by contig and position."""
    chosen = _guidelines(guidelines)
    queue_info = [i for i in QUEUE_INFO if i[0] != "VIPQ_POINTS" or ACMG_V3 in chosen]
    items = keyed_items(record.items)
    parts = split_keys(items["variant"]).reset_index(drop=True)
    builds = sorted(set(parts["build"]))
    if len(builds) > 1:
        raise ExportError(f"queue mixes builds {', '.join(builds)}; a VCF holds one build")
    parts["contig_order"] = parts["chrom"].map(CANONICAL_CONTIGS.index)
    rows = pd.concat([parts, items.reset_index(drop=True)], axis=1)
    rows = rows.sort_values(["contig_order", "pos", "ref", "alt"], kind="stable")
    meta = record.meta
    header = [
        "##fileformat=VCFv4.2",
        "##source=vipredict-queue",
        f"##reference={builds[0] if builds else 'GRCh37'}",
        f"##vipredict_queue=<ID={meta['id']},Ordering={meta['ordering']},"  # the server's own
        f'Created="{meta["created_at"]}",Name="{encode_header(str(meta["name"]))}">',  # a client's
        *(f"##contig=<ID={c}>" for c in CANONICAL_CONTIGS if c in set(parts["chrom"])),
        *result_headers(chosen, VIP_RESULT_HEADERS),
        *(f'##INFO=<ID={i},Number={n},Type={t},Description="{d}">' for i, n, t, d in queue_info),
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    body = [
        "\t".join(
            (
                *(str(r["chrom"]), str(r["pos"]), ".", str(r["ref"]), str(r["alt"]), ".", "."),
                _info(r, chosen),
            )
        )
        for r in rows.to_dict("records")
    ]
    return "\n".join(header + body) + "\n"


def export_text(record: QueueRecord, fmt: str, guidelines: Sequence[str] | None = None) -> str:
    """The export in ``fmt``; ``guidelines``: the versions whose fields it carries (default:
    the settings', ``VIPREDICT_GUIDELINES``)."""
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "vcf":
        return vcf_text(record, guidelines)
    return table_text(record, fmt, guidelines)


def write_export(
    record: QueueRecord, fmt: str, output: Path, guidelines: Sequence[str] | None = None
) -> int:
    """Write the export; returns the number of items written (not text lines: a quoted
    note may span several)."""
    text = export_text(record, fmt, guidelines)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, newline="")  # the text holds its own line ends
    return len(keyed_items(record.items) if fmt == "vcf" else record.items)
