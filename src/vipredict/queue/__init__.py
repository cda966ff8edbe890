"""The prioritised curation queue: rank any set of variants, record curator decisions.

* ``ranking``: item facts, the orderings (``settle`` by default) and their reasons, filters;
* ``genes``: the ACMG SF v3.2 list and ClinGen gene validity where known;
* ``build``: scoring (the existing ``Scorer`` path) -> ranked items -> store;
* ``store``: queues and decisions (SQLAlchemy Core: SQLite WAL or PostgreSQL);
* ``export``: CSV, TSV and VCF;
* ``evaluate``: the validation-set measurement behind ``vipredict queue evaluate``.

The service endpoints' logic lives in :mod:`vipredict.service.queue` and the
``vipredict queue ...`` commands in :mod:`vipredict.cli.queue`, both over this package.
"""
