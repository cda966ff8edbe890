"""2020 guarded comparable rows: profiles (this checkout's champion) vs the old single model,
split by which ClinGen sources each row carries."""

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from vipredict.config import ModelRole, get_settings
from vipredict.model.evaluation import comparable_rows, guarded_validation
from vipredict.model.registry import load_role
from vipredict.model.scorer import profile_evidence
from vipredict.store.partitioned import Store

s = get_settings()
model = load_role(ModelRole.EVIDENCE, s)
store = Store.open(s)
g = guarded_validation(store, "2019", "2020")
rows = g.rows[comparable_rows(g.rows)].reset_index(drop=True)
ev = profile_evidence(model, rows)
old = pd.read_csv("/tmp/s5/old_2020.tsv", sep="\t").drop_duplicates("variant")
df = rows[["variant", "label"]].join(ev[["posterior", "evidence", "profile"]])
df = df.merge(old[["variant", "old_score", "old_code"]], on="variant", how="left")
print("rows", len(df), "old missing", df.old_score.isna().sum())


def cov(codes, labels, level, side):
    order = {"Supporting": 1, "Moderate": 2, "Strong": 3, "VeryStrong": 4}
    hit = np.array(
        [c.startswith(side) and order.get(c.split("_")[-1], 0) >= order[level] for c in codes]
    )
    right = labels == (1 if side == "PP3" else 0)
    return hit[right].mean(), hit[right].mean() / max(hit[~right].mean(), 1e-9)


def report(name, d):
    y = d.label.to_numpy()
    out = {"n": len(d), "n_P": int(y.sum())}
    if 0 < y.sum() < len(y):
        out["auc_new"] = round(roc_auc_score(y, d.posterior.fillna(0)), 4)
        out["auc_old"] = round(roc_auc_score(y, d.old_score), 4)
    for side, lvl in (
        ("PP3", "Strong"),
        ("PP3", "Moderate"),
        ("BP4", "Moderate"),
        ("BP4", "Supporting"),
    ):
        n, _ = cov(d.evidence.to_numpy(), y, lvl, side)
        o, _ = cov(d.old_code.astype(str).to_numpy(), y, lvl, side)
        out[f"{side}_{lvl}"] = f"{n:.3f} vs {o:.3f}"
    print(name, out)


report("all", df)
for p, d in df.groupby("profile"):
    report(p, d)
full = df.profile == "clingen"
report("clingen-complete", df[full])
report("not-complete", df[~full])
df.to_csv("/tmp/s5/new_vs_old.tsv", sep="\t", index=False)
