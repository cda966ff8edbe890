import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

d = pd.read_csv("/tmp/s5/new_vs_old.tsv", sep="\t")
y = d.label.to_numpy()
a = d.posterior.fillna(0).to_numpy()
b = d.old_score.to_numpy()


def bp4m(codes):
    return np.isin(codes.astype(str), ["BP4_Moderate", "BP4_Strong", "BP4_VeryStrong"])


na, ob = bp4m(d.evidence.to_numpy()), bp4m(d.old_code.to_numpy())
rng = np.random.default_rng(20221121)
P, B = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
da, db = [], []
for _ in range(2000):
    i = np.concatenate([rng.choice(P, len(P)), rng.choice(B, len(B))])
    da.append(roc_auc_score(y[i], a[i]) - roc_auc_score(y[i], b[i]))
    j = rng.choice(B, len(B))
    db.append(na[j].mean() - ob[j].mean())
print(
    "AUROC diff {:.4f} ({:.4f}..{:.4f})".format(
        roc_auc_score(y, a) - roc_auc_score(y, b), *np.percentile(da, [2.5, 97.5])
    )
)
print(
    "BP4_Moderate diff {:.4f} ({:.4f}..{:.4f})".format(
        na[B].mean() - ob[B].mean(), *np.percentile(db, [2.5, 97.5])
    )
)
full = (d.profile == "clingen").to_numpy()
for name, m in (("complete", full), ("incomplete", ~full)):
    Bm = B[m[B]]
    print(name, "B/LB", len(Bm), f"BP4_Moderate new {na[Bm].mean():.3f} old {ob[Bm].mean():.3f}")
