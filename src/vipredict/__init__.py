"""vipredict: variant-interpretation models with ClinGen-calibrated PP3/BP4 evidence."""

__version__ = "0.1.0"
