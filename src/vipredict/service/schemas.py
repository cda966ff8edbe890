"""Request and response bodies of the service, declared once (pydantic; BentoML's OpenAPI).

A variant of a request becomes an :class:`~vipredict.io.inputs.InputRecord` through
the same functions as every other entry point, so ``POST /predict`` applies the
one SNV rule and names the same errors as ``vipredict predict``.

A variant may carry its own ``annotations`` and ``frequencies`` (a pipeline that
has already run VEP/dbNSFP sends what it has): it is then scored from those alone,
through :func:`vipredict.io.inline.inline_inputs`. Their OpenAPI schema declares
each value's type, unit and range (from the features' specs and
:data:`~vipredict.io.inline.ANNOTATION_RULES`), yet the values are parsed
leniently: a value of another type or out of range is that variant's
``invalid_annotation`` error, naming the field, and the other variants are
answered. A name the schema does not declare (a misspelt ``varaint``,
``sift_scor`` in ``annotations``, a group ``nfe2``) is that variant's
``unknown_field`` error, naming it and the name probably meant: a silently ignored
value would change answers unnoticed, and one pipeline's typo in one row should
not hold back the rest of a batch. The OpenAPI schema still declares exactly the
canonical names (``additionalProperties: false``): that is the contract; the
leniency is only in how a breach of it is answered.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from vipredict.features import conservation, functional
from vipredict.io.inline import (
    ANNOTATION_RULES,
    COUNT_RULES,
    FREQUENCY_GROUPS,
    RESIDUES,
    TEXT_LIMIT,
    UNKNOWN_FIELD,
    InlineVariant,
    ValueRule,
    unknown_names,
)
from vipredict.io.inputs import InputRecord, failed_record, record_from_key, record_from_parts

OutputFormat = Literal["vcf", "tsv", "json"]
ShortText = Annotated[str, StringConstraints(max_length=256)]
#: A frequency dataset as its source spells it (``gnomADg``, ``gnomADe``, ``gnomADv3``).
DatasetName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
]
_SPECS = {spec.name: spec for spec in (*functional.FEATURES, *conservation.FEATURES)}
#: What the annotation fields that are not model scores are (the scores' come from their specs).
_TEXT_DESCRIPTIONS = {
    "gene": "HGNC gene symbol.",
    "transcript": "The transcript the values were taken from (e.g. the MANE Select ENST id); "
    "recorded, not used for scoring.",
    "aa_ref": "Reference amino acid, one-letter code.",
    "aa_pos": "Position of the amino acid in the protein (1-based).",
    "aa_alt": "Alternate amino acid, one-letter code (a missense change: not aa_ref, not *).",
}
_PER_VARIANT = (
    "Another type, or a value outside the range, makes this variant `invalid_annotation` "
    "(the rest of the request is answered)."
)
#: Undeclared names are kept (to be named in the variant's ``unknown_field`` error), yet
#: the schema declares the object closed: the canonical names are the contract.
_LENIENT = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})


def _value_schema(rule: ValueRule) -> dict[str, Any]:
    """The JSON schema of one inline value: its kind and range, or null (missing)."""
    schema: dict[str, Any]
    if rule.kind == "text":
        schema = {"type": "string", "maxLength": TEXT_LIMIT}
    elif rule.kind == "residue":
        letters = "".join(sorted(RESIDUES - {"*"}))
        schema = {"type": "string", "pattern": f"^[{letters}{letters.lower()}*]$"}
    else:
        schema = {"type": "number" if rule.kind == "number" else "integer"}
        if rule.low is not None:
            schema["minimum"] = rule.low
        if rule.high is not None:
            schema["maximum"] = rule.high
    return {"anyOf": [schema, {"type": "null"}]}


def _described(rule: ValueRule, what: str, unit: str) -> str:
    scale = f" Range: {rule.range_text()}." if rule.range_text() else ""
    note = f" {rule.note[0].upper()}{rule.note[1:]}." if rule.note else ""
    return f"{what} Unit: {unit}.{scale}{note} {_PER_VARIANT}"


def _annotation_field(name: str) -> Any:
    """A lenient field (any JSON value) whose declared schema is the rule's."""
    rule = ANNOTATION_RULES[name]
    spec = _SPECS.get(name)
    if spec is not None:
        what, unit = spec.description, spec.unit
    else:
        what, unit = _TEXT_DESCRIPTIONS[name], "integer" if rule.kind == "integer" else "text"
    return Field(
        None,
        description=_described(rule, what, unit),
        json_schema_extra={**_value_schema(rule), "x-unit": unit},
    )


def _count_field(name: str, what: str, unit: str) -> Any:
    rule = COUNT_RULES[name]
    return Field(
        None,
        description=_described(rule, what, unit),
        json_schema_extra={**_value_schema(rule), "x-unit": unit},
    )


class InlineAnnotations(BaseModel):
    """Annotations of one variant under vipredict's canonical names; omit or null = missing.

    Each score must be the quantity the models were trained on (the ClinGen sets'
    tools): PolyPhen-2 HumVar (VEP's default ``PolyPhen``, dbNSFP
    ``Polyphen2_HVAR_score``, never HDIV), MutPred2 (not dbNSFP's MutPred v1), EA
    as a fraction, CADD PHRED. A missing tool is better left out than filled
    with another tool's number.
    """

    model_config = _LENIENT

    gene: Any = _annotation_field("gene")
    transcript: Any = _annotation_field("transcript")
    aa_ref: Any = _annotation_field("aa_ref")
    aa_pos: Any = _annotation_field("aa_pos")
    aa_alt: Any = _annotation_field("aa_alt")
    sift_score: Any = _annotation_field("sift_score")
    polyphen2_score: Any = _annotation_field("polyphen2_score")
    fathmm_score: Any = _annotation_field("fathmm_score")
    vest4_score: Any = _annotation_field("vest4_score")
    mutpred2_score: Any = _annotation_field("mutpred2_score")
    ea_score: Any = _annotation_field("ea_score")
    primateai_score: Any = _annotation_field("primateai_score")
    mpc_score: Any = _annotation_field("mpc_score")
    cadd_phred: Any = _annotation_field("cadd_phred")
    gerp_rs: Any = _annotation_field("gerp_rs")
    phylop100way: Any = _annotation_field("phylop100way")
    phastcons100way: Any = _annotation_field("phastcons100way")
    siphy_29way: Any = _annotation_field("siphy_29way")


class GroupCounts(BaseModel):
    """One ancestry group's frequency of the ALT allele in one dataset; omit or null = unknown."""

    model_config = _LENIENT

    af: Any = _count_field("af", "Allele frequency, AC/AN.", "fraction")
    ac: Any = _count_field("ac", "Allele count of the ALT allele.", "alleles")
    an: Any = _count_field("an", "Allele number: called alleles at the site.", "alleles")


class GroupFrequencies(BaseModel):
    """A dataset's values by gnomAD ancestry group, and ``all`` for its overall value.

    A group left out is unknown, not zero: BA1/BS1/PM2 then say ``unknown`` rather
    than ``not_met`` when nothing decides them.
    """

    model_config = _LENIENT

    afr: GroupCounts | None = None
    amr: GroupCounts | None = None
    asj: GroupCounts | None = None
    eas: GroupCounts | None = None
    fin: GroupCounts | None = None
    nfe: GroupCounts | None = None
    sas: GroupCounts | None = None
    oth: GroupCounts | None = None
    ami: GroupCounts | None = None
    mid: GroupCounts | None = None
    remaining: GroupCounts | None = None
    all: GroupCounts | None = None


if set(InlineAnnotations.model_fields) != set(ANNOTATION_RULES):
    raise RuntimeError("InlineAnnotations drifted from io.inline.ANNOTATION_RULES")
if tuple(GroupFrequencies.model_fields) != FREQUENCY_GROUPS:
    raise RuntimeError("GroupFrequencies drifted from io.inline.FREQUENCY_GROUPS")


class VariantIn(BaseModel):
    """One variant: a ``build:chrom:pos:ref:alt`` key, or its five parts.

    Fields are lenient on purpose: a missing part or a bad allele becomes that
    variant's named error, so the other variants of the request are still answered.
    Examples: ``{"variant": "GRCh37:17:41245466:G:A"}`` or ``{"build": "GRCh37",
    "chrom": "17", "pos": 41245466, "ref": "G", "alt": "A"}``; with annotations,
    ``{"variant": "GRCh38:17:43093464:G:A", "annotations": {"sift_score": 0.01,
    "cadd_phred": 27.1}, "frequencies": {"gnomADg": {"afr": {"ac": 3, "an": 41000}}}}``.
    (No pydantic ``examples``: BentoML 1.4's OpenAPI generator rejects them.)
    A name not declared here, or in ``annotations`` or ``frequencies``, is this
    variant's ``unknown_field`` (:func:`~vipredict.io.inline.unknown_names`).
    """

    model_config = _LENIENT

    variant: ShortText | None = None
    build: ShortText | None = None
    chrom: ShortText | StrictInt | None = None
    pos: StrictInt | ShortText | None = None
    ref: ShortText | None = None
    alt: ShortText | None = None
    annotations: InlineAnnotations | None = Field(
        None,
        description="This variant's own annotations: it is then scored from them (and "
        "`frequencies`) alone, never from the feature store.",
    )
    frequencies: dict[DatasetName, GroupFrequencies] | None = Field(
        None,
        description="Population frequencies by dataset (as the source names it, e.g. "
        "`gnomADg`) and ancestry group; they decide BA1/BS1/PM2. A variant sent with "
        "frequencies is scored from what was sent alone, like one with `annotations`.",
    )

    def to_inline(self) -> InlineVariant:
        """The record and what was sent about it, as :mod:`vipredict.io.inline` reads it."""
        annotations = (
            None if self.annotations is None else self.annotations.model_dump(exclude_unset=True)
        )
        frequencies = (
            None
            if self.frequencies is None
            else {
                dataset: groups.model_dump(exclude_unset=True)
                for dataset, groups in self.frequencies.items()
            }
        )
        return InlineVariant(self.to_record(), annotations, frequencies)

    def to_record(self) -> InputRecord:
        """The variant's record: ``unknown_field`` first, then the key's own checks."""
        record = self._keyed()
        unknown = unknown_names(self.model_extra or {}, type(self).model_fields)
        if unknown:
            return failed_record(record.label, UNKNOWN_FIELD, "; ".join(unknown))
        return record

    def _keyed(self) -> InputRecord:
        parts = {
            "build": self.build,
            "chrom": self.chrom,
            "pos": self.pos,
            "ref": self.ref,
            "alt": self.alt,
        }
        if self.variant is not None:
            if any(v is not None for v in parts.values()):
                return failed_record(
                    self.variant,
                    "malformed_record",
                    "give either `variant` or build/chrom/pos/ref/alt, not both",
                )
            return record_from_key(self.variant)
        label = ":".join("" if v is None else str(v) for v in parts.values())
        missing = [name for name, value in parts.items() if value is None]
        if missing:
            return failed_record(
                label, "malformed_record", f"missing field(s) {', '.join(missing)}"
            )
        return record_from_parts(*parts.values(), label=label)


class PredictRequest(BaseModel):
    """Body of ``POST /predict``."""

    variants: list[VariantIn]


class NextLevel(BaseModel):
    code: str
    score_distance: float


class Contribution(BaseModel):
    feature: str
    value: float | None
    contribution: float


class FrequencyCriterion(BaseModel):
    """One ACMG frequency criterion; ``met`` is null when the frequencies cannot decide it.

    Statistic and threshold of each criterion are constant and stated once in the
    model card (``frequency_rules``), not repeated in every answer.
    """

    status: Literal["met", "not_met", "unknown"]
    met: bool | None
    group: str | None = Field(description="dataset:group that decided (largest value)")
    faf: float | None = Field(description="the compared value (FAF95 for BA1/BS1, AF for PM2)")
    basis: str | None = Field(
        None,
        description="what `faf` is: faf95, af_upper_bound (an AF without AC/AN), af or "
        "pooled_af (a dataset's overall AF)",
    )
    detail: str = Field("", description="the comparison, or why the criterion is unknown")
    source: str | None = Field(
        None, description="the datasets the frequencies came from (the store's or the input's)"
    )


class FrequencyEvidence(BaseModel):
    """BA1 and BS1 on group-max FAF95; PM2 is PM2_Supporting on the max group AF."""

    BA1: FrequencyCriterion
    BS1: FrequencyCriterion
    PM2: FrequencyCriterion


class ModelRef(BaseModel):
    name: str
    version: str
    run_id: str


class Priority(BaseModel):
    score: float | None
    model: str | None


_ACMG_V3_ONLY = "Absent when the deployment does not report acmg_v3 (`VIPREDICT_GUIDELINES`)."


class VariantOut(BaseModel):
    """The answer for one variant: :data:`vipredict.model.scorer.RESULT_FIELDS`, nested.

    The fields of a guideline version the deployment does not report
    (``VIPREDICT_GUIDELINES``) are absent from the answer: ``evidence``, ``points``
    and ``next_level`` (ACMG/AMP v3), ``mis_prd`` (SVCv4). Absent, not null: a null
    ``mis_prd`` means the variant was not scored.
    """

    input: str
    variant: str | None
    gene: str | None
    score: float | None
    posterior: float | None
    likelihood_ratio: float | None
    evidence: str | None = Field(
        None, description=f"Calibrated PP3/BP4 code, or `none`. {_ACMG_V3_ONLY}"
    )
    profile: str | None = Field(
        None, description="annotation profile whose model and calibration scored the variant"
    )
    points: int | None = Field(
        None, description=f"Tavtigian points of the PP3/BP4 code. {_ACMG_V3_ONLY}"
    )
    mis_prd: int | None = Field(
        None,
        ge=-4,
        le=4,
        description="SVCv4 MIS_PRD points, -4..+4 with the 3-point level (Bergquist et al. "
        "2025), from the same calibration as `evidence` (the model card's `mis_prd` table: "
        "the score at which each value starts); before the curator's transcript-relevance "
        "step. 0: scored, no evidence; null: not scored (`error`). Absent when the "
        "deployment does not report svcv4 (`VIPREDICT_GUIDELINES`).",
    )
    next_level: NextLevel | None = Field(
        None,
        description=f"Next stronger PP3/BP4 code and the score distance to it. {_ACMG_V3_ONLY}",
    )
    top_features: list[Contribution]
    frequency_evidence: FrequencyEvidence | None
    model: ModelRef
    priority: Priority
    annotation_warnings: list[str] = Field(
        default_factory=list,
        description="annotations missing or mismatched for this variant, each "
        "`<canonical column>: <why>`",
    )
    error: str | None
    error_detail: str | None = None
