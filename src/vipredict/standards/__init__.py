"""vipredict's answers in the field's own exchange forms (GA4GH VA-Spec with VRS variants).

The result rows (:data:`vipredict.model.scorer.RESULT_FIELDS`) stay the one schema;
this package only renders them, through the standards' own models, for tools that
read ClinGen-style evidence (:mod:`vipredict.standards.va`).
"""

from __future__ import annotations

from vipredict.standards.va import va_json, va_statements

__all__ = ["va_json", "va_statements"]
