"""Declared data files shipped with vipredict: source manifest, published thresholds, ACMG SF."""
