"""Which ancestry group and allele-frequency band each audited variant belongs to.

Everything is read from the wide frequency columns that
:class:`vipredict.features.frequency.FrequencyFeatures` writes (``{d}_{g}_ac``,
``{d}_{g}_an``, ``{d}_{g}_af``, ``{d}_grpmax_af``, ``{d}_observed`` for a dataset
prefix ``d``), so the audit never re-derives a frequency: the same columns come
from the 69-gene browser exports today and from a full gnomAD sites VCF tomorrow.

Three groupings, each a different question:

* ``grpmax_group``: the group in which the variant is most frequent (gnomAD's
  group-max, bottlenecked groups asj/fin/oth excluded), i.e. whose data drive
  BA1/BS1 for it;
* ``observed_in``: every group in which it was seen (one variant may count in
  several rows);
* ``af_band``: how rare it is (group-max AF).

Each also keeps ``not observed`` (gene covered, variant absent) apart from
``unknown`` (no frequency data at all), because they mean different things.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vipredict.features.frequency import DEFAULT_GROUPS, GRPMAX_EXCLUDED

NOT_OBSERVED = "not observed"
UNKNOWN = "unknown"
EXCLUDED_ONLY = "asj/fin/oth only"
ALL = "all"
#: Group-max AF bands (fractions): left-closed, the last is open-ended.
AF_BANDS: tuple[tuple[str, float, float], ...] = (
    ("AF < 0.01%", 0.0, 1e-4),
    ("0.01% ≤ AF < 0.1%", 1e-4, 1e-3),
    ("0.1% ≤ AF < 1%", 1e-3, 1e-2),
    ("AF ≥ 1%", 1e-2, np.inf),
)
GROUPINGS = ("all", "grpmax_group", "observed_in", "af_band")
MEMBERSHIP_COLUMNS = ("row", "grouping", "group")


def group_order() -> list[str]:
    """Display order of every group label the groupings can produce."""
    return [
        ALL,
        *DEFAULT_GROUPS,
        EXCLUDED_ONLY,
        *(band for band, _, _ in AF_BANDS),
        NOT_OBSERVED,
        UNKNOWN,
    ]


def _column(freq: pd.DataFrame, name: str) -> np.ndarray:
    """A float column, or all-NaN when the dataset does not report it (e.g. ExAC has no asj)."""
    if name not in freq.columns:
        return np.full(len(freq), np.nan)
    return pd.to_numeric(freq[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _status(freq: pd.DataFrame, prefix: str) -> np.ndarray:
    """Per row: ``observed``, ``not observed`` or ``unknown`` from ``{prefix}_observed``."""
    observed = _column(freq, f"{prefix}_observed")
    return np.where(np.isnan(observed), UNKNOWN, np.where(observed > 0, "observed", NOT_OBSERVED))


def _seen(freq: pd.DataFrame, prefix: str, group: str) -> np.ndarray:
    """Observed in ``group``: AC > 0, or AF > 0 where the source gave an AF without counts."""
    ac = _column(freq, f"{prefix}_{group}_ac")
    af = _column(freq, f"{prefix}_{group}_af")
    return np.where(np.isnan(ac), np.nan_to_num(af) > 0, ac > 0)


def grpmax_groups(freq: pd.DataFrame, prefix: str) -> np.ndarray:
    """The group holding the group-max AF (the eligible group with the highest AF)."""
    eligible = [g for g in DEFAULT_GROUPS if g not in GRPMAX_EXCLUDED]
    af = np.column_stack([_column(freq, f"{prefix}_{g}_af") for g in eligible])
    seen = np.column_stack([_seen(freq, prefix, g) for g in eligible])
    ranked = np.where(seen, np.nan_to_num(af, nan=-1.0), -np.inf)
    best = np.asarray(eligible, dtype=object)[ranked.argmax(axis=1)]
    status = _status(freq, prefix)
    return np.where(status == "observed", np.where(seen.any(axis=1), best, EXCLUDED_ONLY), status)


def af_bands(freq: pd.DataFrame, prefix: str) -> np.ndarray:
    """Band of the group-max AF for observed variants; otherwise the observation status."""
    grpmax = np.nan_to_num(_column(freq, f"{prefix}_grpmax_af"), nan=0.0)
    status = _status(freq, prefix)
    out = status.astype(object)
    observed = status == "observed"
    for band, low, high in AF_BANDS:
        out[observed & (grpmax >= low) & (grpmax < high)] = band
    return out


def _observed_in(freq: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Long (row, group) pairs: each group with AC > 0 (AF > 0 without counts), else the status."""
    status = _status(freq, prefix)
    pieces = [
        pd.DataFrame({"row": np.flatnonzero(_seen(freq, prefix, g)), "group": g})
        for g in DEFAULT_GROUPS
    ]
    absent = np.flatnonzero(status != "observed")
    pieces.append(pd.DataFrame({"row": absent, "group": status[absent]}))
    return pd.concat(pieces, ignore_index=True)


def assign_groups(freq: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Membership table ``row, grouping, group`` (``row`` = position in ``freq``)."""
    rows = np.arange(len(freq))
    single = {
        "all": np.full(len(freq), ALL, dtype=object),
        "grpmax_group": grpmax_groups(freq, prefix),
        "af_band": af_bands(freq, prefix),
    }
    pieces = [
        pd.DataFrame({"row": rows, "grouping": grouping, "group": labels})
        for grouping, labels in single.items()
    ]
    pieces.append(_observed_in(freq, prefix).assign(grouping="observed_in"))
    out = pd.concat(pieces, ignore_index=True)[list(MEMBERSHIP_COLUMNS)]
    return out.astype({"row": "int64", "grouping": "string", "group": "string"})
