"""What an audit produced, and where reports live (shared by the runner, the report and serving)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vipredict.config import Settings, get_settings

if TYPE_CHECKING:  # the service imports this module; keep it free of pysam and pandas
    import pandas as pd

    from vipredict.audit.genotypes import HealthyView

AUDIT_DIR = "audit"
REPORT_FILE = "report.html"


@dataclass
class AuditResult:
    """Everything the report shows; ``groups`` is one row per set x split x grouping x group."""

    model: dict[str, str]
    sets: list[dict]
    groups: pd.DataFrame
    variants: pd.DataFrame
    reliability: list[dict]
    healthy: HealthyView | None  # None: a researcher's own file (the 1000 Genomes view is not run)
    settings: dict = field(default_factory=dict)


def default_output(settings: Settings | None = None) -> Path:
    """Where ``vipredict audit`` writes by default and where ``GET /audit`` looks."""
    return (settings or get_settings()).reports_dir / AUDIT_DIR


def latest_report(settings: Settings | None = None) -> Path | None:
    """The report ``GET /audit`` serves: the one in the default output folder, if any."""
    path = default_output(settings) / REPORT_FILE
    return path if path.is_file() else None
