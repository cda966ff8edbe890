"""Request and response bodies of the service, declared once (pydantic; BentoML's OpenAPI).

A variant of a request becomes an :class:`~vipredict.io.inputs.InputRecord` through
the same functions as every other entry point, so ``POST /predict`` applies the
one SNV rule and names the same errors as ``vipredict predict``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from vipredict.io.inputs import InputRecord, failed_record, record_from_key, record_from_parts

OutputFormat = Literal["vcf", "tsv", "json"]
ShortText = Annotated[str, StringConstraints(max_length=256)]


class VariantIn(BaseModel):
    """One variant: a ``build:chrom:pos:ref:alt`` key, or its five parts.

    Fields are lenient on purpose: a missing part or a bad allele becomes that
    variant's named error, so the other variants of the request are still answered.
    Examples: ``{"variant": "GRCh37:17:41245466:G:A"}`` or ``{"build": "GRCh37",
    "chrom": "17", "pos": 41245466, "ref": "G", "alt": "A"}``. (No pydantic
    ``examples``: BentoML 1.4's OpenAPI generator rejects them.)
    """

    model_config = ConfigDict(extra="forbid")

    variant: ShortText | None = None
    build: ShortText | None = None
    chrom: ShortText | StrictInt | None = None
    pos: StrictInt | ShortText | None = None
    ref: ShortText | None = None
    alt: ShortText | None = None

    def to_record(self) -> InputRecord:
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
    """One ACMG frequency criterion; ``met`` is null when the variant has no frequency data.

    Statistic and threshold of each criterion are constant and stated once in the
    model card (``frequency_rules``), not repeated in every answer.
    """

    status: Literal["met", "not_met", "unknown"]
    met: bool | None
    group: str | None = Field(description="dataset:group that decided (largest value)")
    faf: float | None = Field(description="the compared value (FAF95 for BA1/BS1, AF for PM2)")


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


class VariantOut(BaseModel):
    """The answer for one variant: :data:`vipredict.model.scorer.RESULT_FIELDS`, nested."""

    input: str
    variant: str | None
    gene: str | None
    score: float | None
    posterior: float | None
    likelihood_ratio: float | None
    evidence: str
    points: int
    next_level: NextLevel | None
    top_features: list[Contribution]
    frequency_evidence: FrequencyEvidence | None
    model: ModelRef
    priority: Priority
    error: str | None
    error_detail: str | None = None
