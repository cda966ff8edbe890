"""Old single model on 2020 rows carrying every ClinGen source, with one source blanked:
how evidence moves when only the annotation changes (the label cannot have)."""

import numpy as np
import pandas as pd

import vipredict.model.evaluation as ev
from vipredict.config import get_settings
from vipredict.model.evaluation import holdout_table
from vipredict.model.registry import load_champion
from vipredict.model.scorer import has_enough_annotation
from vipredict.model.training import mask_sources
from vipredict.schema import FUNCTIONAL_SCORES
from vipredict.store.partitioned import Store

s = get_settings()
model = load_champion("vipredict-noaf", s)
rows = holdout_table("2020", Store.open(s)).drop_duplicates("variant")
cmp_ = pd.read_csv("/tmp/s5/new_vs_old.tsv", sep="\t")
complete = set(cmp_.loc[cmp_.profile == "clingen", "variant"])
rows = rows[rows.variant.isin(complete)].reset_index(drop=True)
y = rows.label.to_numpy()


def codes(t):
    c = ev.assign_evidence(model.predict(t), model.calibration.thresholds)
    return np.where(has_enough_annotation(t), c, "none")


def bp4m(c):
    return np.isin(c.astype(str), ["BP4_Moderate", "BP4_Strong"])


def pp3s(c):
    return np.isin(c.astype(str), ["PP3_Strong"])


base = codes(rows)
print("rows", len(rows), "P", y.sum())
print(f"{'blanked':16} {'BP4M_B':>9} {'BP4M_P':>9} {'BP4M_LR':>8} {'PP3S_P':>9} {'PP3S_LR':>9}")
for src in ["none", *FUNCTIONAL_SCORES]:
    c = base if src == "none" else codes(mask_sources(rows, [src]))
    b, p = bp4m(c), pp3s(c)
    lr_b = b[y == 0].mean() / max(b[y == 1].mean(), 1e-9)
    lr_p = p[y == 1].mean() / max(p[y == 0].mean(), 1e-9)
    print(
        f"{src:16} {b[y == 0].mean():9.3f} {b[y == 1].mean():9.3f} {lr_b:8.1f} "
        f"{p[y == 1].mean():9.3f} {lr_p:9.1f}"
    )
