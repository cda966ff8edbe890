"""The jobs behind the commands: each a sequence of the library's steps, tracked where it trains.

``train`` and ``evaluate`` (MLflow), ``predict`` (a file of variants to a TSV of
results), ``annotate`` (a whole VCF, block by block), ``prescore`` (the evidence
champion's answer for every stored variant, once), ``calibrate`` (any tool's
scores), and ``dask`` (the same steps on a Dask cluster).
"""
