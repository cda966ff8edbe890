"""Where data enter and leave vipredict.

* :mod:`.sources`: the declared public files (manifest: URL at a pinned commit, sha256);
* :mod:`.readers`: one reader per public file format, each emitting the canonical
  annotation table of :mod:`vipredict.schema`;
* :mod:`.inputs`: the variants users bring (VCF, TSV of keys, VEP tab, dbNSFP rows,
  JSON keys): one input record, one SNV rule, format and build detection;
* :mod:`.vcf`: the one writer of ``VIP_*`` INFO fields, their header and BGZF output;
* :mod:`.files`: gzip detection, text opening, JSON reports.
"""
