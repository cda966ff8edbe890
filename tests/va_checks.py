"""What every VA-Spec answer must pass: re-parsed by the ``ga4gh.va_spec`` models themselves.

Shared by the standards tests and the HTTP tests, so both hold the output to the
same check: a statement validates as a VA-Spec ``Statement`` about a
``VariantPathogenicityProposition`` whose subject is a VRS ``Allele`` (its identifier
computed again from its content), and each of
its evidence lines as the ACMG 2015 profile's ``VariantPathogenicityEvidenceLine``;
anything else must be a per-variant error object.
"""

from __future__ import annotations

from typing import Any

from ga4gh.core import ga4gh_identify
from ga4gh.va_spec.acmg_2015 import VariantPathogenicityEvidenceLine
from ga4gh.va_spec.base import Statement, VariantPathogenicityProposition
from ga4gh.vrs.models import Allele

#: The keys of a per-variant error object, and nothing else.
ERROR_KEYS = {"input", "variant", "error", "error_detail"}
#: The criteria of a statement's evidence lines, in their order.
CRITERIA = ("PP3", "BP4", "BA1", "BS1", "PM2")


def is_error(obj: dict[str, Any]) -> bool:
    return obj.get("type") != "Statement"


def check_error(obj: dict[str, Any]) -> None:
    assert set(obj) == ERROR_KEYS, obj
    assert obj["error"] and obj["input"] is not None, obj


def check_statement(obj: dict[str, Any]) -> list[VariantPathogenicityEvidenceLine]:
    """Re-parse a statement and each of its lines with the library's models (the lines in
    criterion order), and return the parsed lines."""
    statement = Statement.model_validate(obj)
    assert isinstance(statement.proposition, VariantPathogenicityProposition)
    variant = statement.proposition.subjectVariant
    allele = getattr(variant, "root", variant)  # MolecularVariation wraps the Allele
    assert isinstance(allele, Allele) and str(allele.id).startswith("ga4gh:VA.")
    assert ga4gh_identify(allele, in_place="never") == allele.id  # the id is its digest
    lines = [VariantPathogenicityEvidenceLine.model_validate(x) for x in obj["hasEvidenceLines"]]
    assert tuple(line.specifiedBy.methodType for line in lines) == CRITERIA
    return lines


def check_answer(obj: dict[str, Any]) -> None:
    """A statement that validates, or a named per-variant error."""
    if is_error(obj):
        check_error(obj)
    else:
        check_statement(obj)


def outcome(line: VariantPathogenicityEvidenceLine) -> str | None:
    """The line's ACMG 2015 outcome code (``PP3_moderate``, ``BA1_not_met``), if any."""
    concept = line.evidenceOutcome
    return None if concept is None else concept.primaryCoding.code.root


def strength(line: VariantPathogenicityEvidenceLine) -> str | None:
    concept = line.strengthOfEvidenceProvided
    return None if concept is None else concept.primaryCoding.code.root


def extension(extensions: list[Any] | None, name: str) -> Any:
    """The value of the extension called ``name`` (KeyError when absent)."""
    for item in extensions or []:
        if item.name == name:
            return item.value
    raise KeyError(name)


def statement_result(obj: dict[str, Any]) -> dict[str, Any]:
    """The statement's ``vipredictResult`` extension: the row's result columns by name."""
    return extension(Statement.model_validate(obj).extensions, "vipredictResult")
