"""Models: training, calibration, evaluation, the MLflow registry, scoring and explanations.

* :mod:`.calibration`: ClinGen's local-posterior calibration, a pure estimator;
* :mod:`.training`: gene-grouped out-of-fold scores, LightGBM, masked copies;
* :mod:`.evaluation`: validation metrics, above all whether each evidence level holds its LR;
* :mod:`.registry`: MLflow runs, registered champions by role, loading them safely;
  :mod:`.versions`: which version is champion, read without MLflow where it can be;
* :mod:`.scorer`: the one scorer every command and endpoint uses, and its result schema;
* :mod:`.explain`: per-feature contributions; :mod:`.plots` and :mod:`.cards` present them.
"""
