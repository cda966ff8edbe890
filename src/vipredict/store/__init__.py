"""The one feature store: every variant vipredict knows, with its features.

* :mod:`.partitioned`: :class:`~vipredict.store.partitioned.Store`, DuckDB over
  partitioned parquet, the only store every command and endpoint reads;
* :mod:`.write`: how rows are added (a build's ``base`` files swapped, streamed files added);
* :mod:`.build`: ``vipredict features``, the store built from the declared sources;
* :mod:`.ingest`: ``vipredict add-dbnsfp``, dbNSFP-sized files streamed in;
* :mod:`.liftover`: GRCh38 keys of the ClinGen sets from real sources, and the
  copies that index a row under its other build;
* files kept beside the store, one per store file (:mod:`.derived`): the serving
  index (:mod:`.index`, ``vipredict store-index``) and the evidence champion's
  pre-scored answers (:mod:`.prescored`, ``vipredict prescore``).
"""
