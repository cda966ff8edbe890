"""GA4GH VA-Spec statements of scored variants: vipredict's evidence as ClinGen's tools read it.

Each scored variant becomes one VA-Spec ``Statement`` about a
``VariantPathogenicityProposition`` whose subject is the variant as a VRS Allele
with its computed identifier (:func:`vipredict.vrs.vrs_allele`), and which carries
five ACMG 2015 evidence lines (``VariantPathogenicityEvidenceLine``, the library's
ACMG profile), always in this order:

``PP3``, ``BP4``
    the computational evidence. Each criterion is assessed on its own line, the way
    the profile codes criteria (``PP3_moderate``, ``BP4_not_met``): the one that is
    met supports (PP3) or disputes (BP4) pathogenicity at its calibrated strength,
    the other is neutral and not met; a variant with no evidence has both not met.
    ``specifiedBy`` is the evidence model itself (name, registered version, MLflow
    run, annotation profile, calibration), with ``methodType`` the criterion and
    Pejaver et al. (2022), the calibration standard, as the document it follows.
    ``scoreOfEvidenceProvided`` is signed points, as the library's own derived
    evidence signs them (benign negative): SVCv4 ``MIS_PRD`` points when the
    deployment reports SVCv4, else the ACMG v3 (Tavtigian 2018) points.
``BA1``, ``BS1``, ``PM2``
    population frequency, each on a line of its own, so the frequency is never
    folded into the computational lines (the evidence model uses none). A criterion
    whose status is ``unknown`` is a neutral line with no outcome.

Why a plain ``Statement`` with ``direction: neutral`` and not the ACMG
``VariantPathogenicityStatement``: that profile requires a classification
(pathogenic ... benign), and vipredict classifies nothing; it reports evidence lines
for a curator to combine with the rest. The condition is "Unspecified" (as in
VA-Spec's own evidence-line fixtures): the calibration is genome-wide, not per disease.

A row that carries an error, and a scored variant whose VRS Allele cannot be made
(an indel: ``not_snv``; a contig without a published accession), is a per-variant
object ``{"input", "variant", "error", "error_detail"}``: one bad variant never loses
the batch. Everything is built with the ``ga4gh.va_spec`` / ``ga4gh.vrs`` models and
dumped with ``model_dump(exclude_none=True)``, so what is written has been validated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from ga4gh.core.models import Coding, Extension, MappableConcept, code
from ga4gh.va_spec.acmg_2015 import METHOD as ACMG_2015_METHOD
from ga4gh.va_spec.acmg_2015 import SYSTEM as ACMG_2015
from ga4gh.va_spec.acmg_2015 import VariantPathogenicityEvidenceLine
from ga4gh.va_spec.base import (
    Agent,
    Contribution,
    Direction,
    Document,
    Method,
    Statement,
    VariantPathogenicityProposition,
)
from ga4gh.vrs import models as vrs

from vipredict import __version__
from vipredict.acmg import CLINGEN_PRIOR, DEFAULT_C, FREQUENCY_POINTS, LEVELS, NO_EVIDENCE
from vipredict.config import ACMG_V3, GUIDELINES, SVCV4
from vipredict.io.files import json_safe
from vipredict.model.scorer import reported_columns, result_rows
from vipredict.variants import VariantError
from vipredict.vrs import vrs_allele

#: The calibration standard the computational lines follow (the paper, as published).
PEJAVER_2022 = Document(
    id="pmid:36413997",
    name="Pejaver et al., 2022, Am J Hum Genet.",
    title=(
        "Calibration of computational tools for missense variant pathogenicity "
        "classification and ClinGen recommendations for PP3/BP4 criteria"
    ),
    doi="10.1016/j.ajhg.2022.10.013",
    pmid="36413997",
    urls=[
        "https://doi.org/10.1016/j.ajhg.2022.10.013",
        "https://pubmed.ncbi.nlm.nih.gov/36413997/",
    ],
)
#: ACMG 2015 strength words of vipredict's levels (``acmg.LEVELS``).
STRENGTHS = dict(zip(LEVELS, ("supporting", "moderate", "strong", "very strong"), strict=True))
#: Suffix of a met criterion's outcome code: the profile writes a criterion at its
#: default strength bare (``PP3`` is PP3 at supporting) and any other as ``_<level>``.
_OUTCOME_SUFFIX = dict(zip(LEVELS, ("", "_moderate", "_strong", "_very_strong"), strict=True))
COMPUTATIONAL_CRITERIA = ("PP3", "BP4")


@dataclass(frozen=True)
class FrequencyLine:
    """How a met frequency criterion reads in the ACMG 2015 profile."""

    column: str  # the result column (``RESULT_FIELDS``)
    criterion: str  # the profile's criterion (``methodType``)
    outcome: str  # outcome code when met
    strength: str
    direction: Direction


FREQUENCY_LINES = (
    FrequencyLine("BA1", "BA1", "BA1", "standalone", Direction.DISPUTES),
    FrequencyLine("BS1", "BS1", "BS1", "strong", Direction.DISPUTES),
    FrequencyLine("PM2_Supporting", "PM2", "PM2_supporting", "supporting", Direction.SUPPORTS),
)
POINTS_SCALES = {
    SVCV4: "SVCv4 MIS_PRD points (-4..+4, with the 3-point level of Bergquist et al. 2025)",
    ACMG_V3: "ACMG/AMP v3 Bayesian points (Tavtigian et al. 2018)",
}
#: The proposition's condition: the calibration is genome-wide, for no one disease.
UNSPECIFIED_CONDITION = MappableConcept(conceptType="Disease", name="Unspecified")
GERMLINE = MappableConcept(name="germline")
#: The statement's extension holding the row's result columns (``RESULT_FIELDS`` names).
RESULT_EXTENSION = "vipredictResult"
#: Result columns a statement leaves out: not evidence (the priority model), or an error's.
NOT_EVIDENCE = frozenset({"priority_score", "priority_model", "error", "error_detail"})
STATEMENT_DESCRIPTION = (
    "vipredict's evidence lines for this variant, each to be combined by a curator with the "
    "other ACMG/AMP criteria; vipredict itself classifies nothing (direction neutral)."
)


def _acmg_concept(value: str) -> MappableConcept:
    return MappableConcept(primaryCoding=Coding(system=ACMG_2015.value, code=code(value)))


def _text(value: Any) -> str:
    return "" if value is None or value is pd.NA or pd.isna(value) else str(value)


def evidence_section(card: Mapping[str, Any]) -> Mapping[str, Any]:
    """The model card's section of the evidence model (the one that emits PP3/BP4)."""
    for section in card.get("models", []):
        if section.get("emits_evidence"):
            return section
    return {}


def _extensions(values: Mapping[str, Any]) -> list[Extension] | None:
    """Extensions of the given values (None and "" left out); None when nothing is left."""
    out = [Extension(name=name, value=v) for name, v in values.items() if v not in (None, "")]
    return out or None


def model_method(row: Mapping[str, Any], criterion: str, card: Mapping[str, Any]) -> Method:
    """The evidence model as the method of a computational line: which model, which
    version, which MLflow run, which annotation profile, calibrated how."""
    calibration = evidence_section(card).get("calibration", {})
    model, version = _text(row.get("model")), _text(row.get("model_version"))
    return Method(
        name=f"{model} version {version}: {criterion} from a ClinGen-calibrated predictor",
        methodType=criterion,
        reportedIn=PEJAVER_2022,
        extensions=_extensions(
            {
                "model": model,
                "modelVersion": version,
                "mlflowRunId": _text(row.get("run_id")),
                "annotationProfile": _text(row.get("profile")),
                "calibration": {
                    "method": "local posterior probability (Pejaver et al. 2022)",
                    "prior": calibration.get("prior", CLINGEN_PRIOR),
                    "c": calibration.get("c", DEFAULT_C),
                    "thresholds": "logged with the MLflow run, per annotation profile",
                },
            }
        ),
    )


def computational_lines(
    row: Mapping[str, Any], card: Mapping[str, Any], guidelines: Sequence[str]
) -> list[VariantPathogenicityEvidenceLine]:
    """The PP3 line and the BP4 line of a scored row (at most one of them met)."""
    evidence = _text(row.get("evidence")) or NO_EVIDENCE
    family, _, level = evidence.partition("_")
    scale = SVCV4 if SVCV4 in guidelines and json_safe(row.get("mis_prd")) is not None else ACMG_V3
    points = int(row["mis_prd"] if scale == SVCV4 else row["points"])
    lines = []
    for criterion in COMPUTATIONAL_CRITERIA:
        met = family == criterion and level in STRENGTHS
        common = {
            "specifiedBy": model_method(row, criterion, card),
            "extensions": _extensions({"pointsScale": POINTS_SCALES[scale]}),
        }
        if met:
            direction = Direction.SUPPORTS if criterion == "PP3" else Direction.DISPUTES
            line = VariantPathogenicityEvidenceLine(
                directionOfEvidenceProvided=direction,
                strengthOfEvidenceProvided=_acmg_concept(STRENGTHS[level]),
                evidenceOutcome=_acmg_concept(criterion + _OUTCOME_SUFFIX[level]),
                scoreOfEvidenceProvided=points,
                **common,
            )
        else:
            line = VariantPathogenicityEvidenceLine(
                directionOfEvidenceProvided=Direction.NEUTRAL,
                evidenceOutcome=_acmg_concept(f"{criterion}_not_met"),
                scoreOfEvidenceProvided=0,
                **common,
            )
        lines.append(line)
    return lines


def frequency_method(spec: FrequencyLine, card: Mapping[str, Any]) -> Method:
    """The frequency criterion as applied: its statistic and threshold (the card's rules)."""
    rule = card.get("frequency_rules", {}).get(spec.column, {})
    return Method(
        name=f"ACMG 2015 {spec.criterion} criterion, ClinGen SVI thresholds",
        methodType=spec.criterion,
        reportedIn=ACMG_2015_METHOD.reportedIn,
        extensions=_extensions(
            {"statistic": rule.get("statistic"), "threshold": rule.get("threshold")}
        ),
    )


def frequency_lines(
    row: Mapping[str, Any], card: Mapping[str, Any]
) -> list[VariantPathogenicityEvidenceLine]:
    """BA1, BS1 and PM2 lines: met, not met, or unknown (neutral, no outcome)."""
    source = _text(row.get("frequency_source"))
    lines = []
    for spec in FREQUENCY_LINES:
        status = _text(row.get(spec.column)) or "unknown"
        common = {
            "specifiedBy": frequency_method(spec, card),
            "description": f"{spec.column} {status}" + (f" (data: {source})" if source else ""),
        }
        if status == "met":
            line = VariantPathogenicityEvidenceLine(
                directionOfEvidenceProvided=spec.direction,
                strengthOfEvidenceProvided=_acmg_concept(spec.strength),
                evidenceOutcome=_acmg_concept(spec.outcome),
                scoreOfEvidenceProvided=FREQUENCY_POINTS[spec.column],
                **common,
            )
        elif status == "not_met":
            line = VariantPathogenicityEvidenceLine(
                directionOfEvidenceProvided=Direction.NEUTRAL,
                evidenceOutcome=_acmg_concept(f"{spec.criterion}_not_met"),
                scoreOfEvidenceProvided=0,
                **common,
            )
        else:
            line = VariantPathogenicityEvidenceLine(
                directionOfEvidenceProvided=Direction.NEUTRAL, **common
            )
        lines.append(line)
    return lines


def result_values(row: Mapping[str, Any], guidelines: Sequence[str]) -> dict[str, Any]:
    """The row's result columns this deployment reports, under their own names (the TSV's),
    less the priority score, which orders work and is never evidence."""
    columns = [c for c in reported_columns(guidelines) if c not in NOT_EVIDENCE]
    return {column: json_safe(row.get(column)) for column in columns}  # missing: null


def variant_statement(
    row: Mapping[str, Any],
    allele: vrs.Allele,
    card: Mapping[str, Any],
    guidelines: Sequence[str] = GUIDELINES,
) -> Statement:
    """The Statement of one scored row about its VRS Allele (see the module docstring)."""
    gene = _text(row.get("gene"))
    proposition = VariantPathogenicityProposition(
        subjectVariant=allele,
        objectCondition=UNSPECIFIED_CONDITION,
        geneContextQualifier=MappableConcept(conceptType="Gene", name=gene) if gene else None,
        alleleOriginQualifier=GERMLINE,
    )
    agent = Agent(
        name="vipredict",
        agentType="software",
        extensions=[Extension(name="softwareVersion", value=__version__)],
    )
    return Statement(
        proposition=proposition,
        direction=Direction.NEUTRAL,
        description=STATEMENT_DESCRIPTION,
        contributions=[Contribution(contributor=agent, activityType="evidence assessment")],
        hasEvidenceLines=[
            *computational_lines(row, card, guidelines),
            *frequency_lines(row, card),
        ],
        extensions=[Extension(name=RESULT_EXTENSION, value=result_values(row, guidelines))],
    )


def error_object(row: Mapping[str, Any], reason: str, detail: str) -> dict[str, Any]:
    """A variant that gets no statement: its input, key and named error."""
    return {
        "input": _text(row.get("input")),
        "variant": _text(row.get("variant")) or None,
        "error": reason,
        "error_detail": detail or None,
    }


def va_statements(
    results: pd.DataFrame, card: Mapping[str, Any], guidelines: Sequence[str] = GUIDELINES
) -> list[dict[str, Any]]:
    """One JSON-ready object per result row, in order: a VA-Spec Statement, or an error.

    ``results``: :data:`~vipredict.model.scorer.RESULT_COLUMNS` rows; ``card``: the model
    card (:func:`vipredict.service.card.build_model_card`), for the calibration and
    the frequency rules; ``guidelines``: the deployment's ``VIPREDICT_GUIDELINES``,
    which decides the points scale of the computational lines.
    """
    out = []
    for row in result_rows(results):
        error = _text(row.get("error"))
        if error:
            out.append(error_object(row, error, _text(row.get("error_detail"))))
            continue
        try:
            allele = vrs_allele(_text(row.get("variant")))
        except VariantError as refused:
            out.append(error_object(row, refused.reason, refused.detail))
            continue
        statement = variant_statement(row, allele, card, guidelines)
        out.append(statement.model_dump(mode="json", exclude_none=True))
    return out


def va_json(
    results: pd.DataFrame, card: Mapping[str, Any], guidelines: Sequence[str] = GUIDELINES
) -> str:
    """:func:`va_statements` as a JSON array, one object per line (what the CLI writes and
    the service answers), so a file of many variants stays readable with line tools."""
    objects = va_statements(results, card, guidelines)
    return "[\n" + ",\n".join(json.dumps(o, separators=(",", ":")) for o in objects) + "\n]\n"
