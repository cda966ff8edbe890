"""Bounds on the work one record of a user's file may cause, checked before that work is done.

Every reader of VCF text (``vipredict predict``, ``vipredict annotate``, ``POST
/predict/vcf``, ``POST /queue`` with ``vcf`` text, VEP VCFs with ``CSQ``) makes a
label, and usually a key, for each ALT of a record. Without bounds, the cost of
one line is the product of its REF length and its ALT count: one line with a
2 MB REF and 10,000 ALTs is about 2 KB gzipped, counts as 10,000 variants, and
allocates tens of GB in labels and error details. So the raw fields of a record
are measured here first (lengths and a count of commas, no per-ALT work), and a
record past a bound becomes ONE record with a named error
(:data:`BOUND_ERRORS`); the rest of the file is read as usual.

The bounds are generous for what vipredict scores (missense SNVs: REF and ALT of
one base on a primary chromosome) yet keep indels and MNVs answerable with their
own named errors (``not_snv``), so a caller learns what each record is:

* :data:`MAX_ALLELE_BASES` = 1,000: a REF or ALT longer is ``allele_too_long``.
  Short-read callers report indels up to a few hundred bases; longer events are
  structural variants (symbolic ALTs such as ``<DEL>`` stay short), which no
  missense predictor answers.
* :data:`MAX_ALTS` = 50 ALTs on one line, else ``too_many_alts``. Records with
  more alleles exist (STR loci in large cohorts) but never as missense SNVs, and
  50 keeps the product REF x ALTs (labels) at most 50 kB a line.
* :data:`MAX_CHROM_CHARS` = 64: longer is ``chrom_too_long``. The longest contig
  names in GRCh38's analysis sets (``chrUn_JTFH01001998v1_decoy``, HLA alleles)
  are about 30 characters.
* :data:`MAX_POS_CHARS` = 12: a longer POS is ``position_too_long`` (the longest
  chromosome has 9 digits; the field would otherwise be echoed into each ALT's
  label and error detail).
* :data:`MAX_CSQ_ENTRIES` = 5,000 VEP ``CSQ`` entries in one record, else
  ``too_many_csq_entries`` for each of its ALTs. VEP writes one entry per ALT and
  overlapping transcript or regulatory feature: a few hundred at the busiest loci,
  times a few ALTs.

Variants are also counted while a file is read (:class:`VariantCounter`), so a
request past its limit stops at the first variant too many
(:class:`TooManyVariantsError`), before the rest of the file is turned into records.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_ALLELE_BASES = 1_000
MAX_ALTS = 50
MAX_CHROM_CHARS = 64
MAX_POS_CHARS = 12
MAX_CSQ_ENTRIES = 5_000

ALLELE_TOO_LONG = "allele_too_long"
TOO_MANY_ALTS = "too_many_alts"
CHROM_TOO_LONG = "chrom_too_long"
POSITION_TOO_LONG = "position_too_long"
TOO_MANY_CSQ_ENTRIES = "too_many_csq_entries"
#: Errors of a line refused as a whole, before its ALTs are read: one record stands for it.
LINE_ERRORS = frozenset({CHROM_TOO_LONG, POSITION_TOO_LONG, TOO_MANY_ALTS, ALLELE_TOO_LONG})
#: Every named error of a record past a bound (a CSQ entry count is judged per ALT).
BOUND_ERRORS = LINE_ERRORS | {TOO_MANY_CSQ_ENTRIES}


def record_bound(chrom: str, pos: str, ref: str, alts: str) -> tuple[str, str] | None:
    """``(reason, detail)`` of a VCF record past a bound, or None when it is within them.

    Only lengths and a comma count are taken: nothing here grows with the ALT
    count times the REF length, and no field is echoed into the detail.
    """
    if len(chrom) > MAX_CHROM_CHARS:
        return CHROM_TOO_LONG, f"CHROM of {len(chrom):,} characters (at most {MAX_CHROM_CHARS})"
    if len(pos) > MAX_POS_CHARS:
        return POSITION_TOO_LONG, f"POS of {len(pos):,} characters (at most {MAX_POS_CHARS})"
    n_alts = alts.count(",") + 1
    if n_alts > MAX_ALTS:
        return TOO_MANY_ALTS, f"{n_alts:,} ALT alleles on one line (at most {MAX_ALTS})"
    if len(ref) > MAX_ALLELE_BASES:
        return ALLELE_TOO_LONG, f"REF of {len(ref):,} bases (at most {MAX_ALLELE_BASES:,})"
    longest = max(len(alt) for alt in alts.split(",")) if len(alts) > MAX_ALLELE_BASES else 0
    if longest > MAX_ALLELE_BASES:
        return ALLELE_TOO_LONG, f"an ALT of {longest:,} bases (at most {MAX_ALLELE_BASES:,})"
    return None


def csq_entries_bound(value: str) -> tuple[str, str] | None:
    """``(reason, detail)`` of a CSQ value with too many entries, counted before splitting."""
    n_entries = value.count(",") + 1
    if n_entries > MAX_CSQ_ENTRIES:
        detail = f"{n_entries:,} CSQ entries in one record (at most {MAX_CSQ_ENTRIES:,})"
        return TOO_MANY_CSQ_ENTRIES, detail
    return None


class TooManyVariantsError(ValueError):
    """More variants than a request may hold; raised at the first one too many."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit:,} variants")
        self.limit = limit


@dataclass
class VariantCounter:
    """Counts the variants of a file as they are read; ``limit`` None counts without bound."""

    limit: int | None = None
    seen: int = 0

    def add(self, n: int = 1) -> None:
        """Count ``n`` more variants (before they are built): past the limit, raise."""
        self.seen += n
        if self.limit is not None and self.seen > self.limit:
            raise TooManyVariantsError(self.limit)
