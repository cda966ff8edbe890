"""Feature builders: one module per feature family, all with the same contract.

* :mod:`.spec`: :class:`~vipredict.features.spec.FeatureSpec` (name, dtype, unit,
  sources) and the schema check of a feature table (light: no scikit-learn);
* :mod:`.base`: :class:`~vipredict.features.base.SchemaTransformer`, the
  stateless scikit-learn transformer every family is;
* the families :mod:`.conservation`, :mod:`.functional`, :mod:`.aachange`,
  :mod:`.frequency`, and :mod:`.table`, which joins them into one row per variant;
* :mod:`.sets`: the feature sets a model sees (``features/*.toml``).
"""
