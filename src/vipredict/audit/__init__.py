"""Ancestry-stratified audit of the PP3/BP4 evidence (``vipredict audit``, ``GET /audit``).

For every labelled set with per-ancestry frequencies, the evidence model's
metrics per ancestry group and allele-frequency band, with bootstrap intervals;
and, for 1000 Genomes people, how many PP3 variants each would receive, by
super-population. Modules: :mod:`.sets` (which rows), :mod:`.groups` (which
group), :mod:`.metrics` (what is measured), :mod:`.genotypes` (healthy people),
:mod:`.report` (HTML, TSV, JSON) and :mod:`.run` (the job).
"""

from vipredict.audit.result import AUDIT_DIR, REPORT_FILE, default_output, latest_report

__all__ = ["AUDIT_DIR", "REPORT_FILE", "default_output", "latest_report"]
