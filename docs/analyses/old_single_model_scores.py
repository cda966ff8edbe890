"""Old single model (commit 8acc060): 2020 hold-out scores and evidence codes per variant."""

import numpy as np

import vipredict.model.evaluation as ev
from vipredict.config import get_settings
from vipredict.model.evaluation import holdout_table
from vipredict.model.registry import load_champion
from vipredict.store.partitioned import Store

settings = get_settings()
model = load_champion("vipredict-noaf", settings)
store = Store.open(settings)
rows = holdout_table("2020", store)
scores = model.predict(rows)
codes = ev.assign_evidence(scores, model.calibration.thresholds)
codes = np.where(ev.has_enough_annotation(rows), codes, "none")
out = rows[["variant", "label"]].copy()
out["old_score"] = scores
out["old_code"] = codes
out.to_csv("/tmp/s5/old_2020.tsv", sep="\t", index=False)
print(len(out), model.version, model.calibration.thresholds)
