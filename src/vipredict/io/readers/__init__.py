"""Readers: one per public file format, each returning the canonical annotation table.

Every reader keys its rows the same way (:mod:`._common`), reduces per-transcript
values by one rule (:mod:`._values`) and emits :mod:`vipredict.schema`'s columns,
so nothing downstream knows which format a value came from except through the
provenance columns. The variants a *user* brings are read by
:mod:`vipredict.io.inputs`, which uses these readers for annotated formats.
"""
