"""BentoML entry point of the vipredict service (``bentofile.yaml``: ``service:VariantPredictor``).

The service is declared in the package, :mod:`vipredict.service.bento`, so an
installed wheel serves it from anywhere (``vipredict serve``); this file only
names it for ``bentoml build`` and ``bentoml serve service:VariantPredictor``.
"""

from vipredict.service.bento import VariantPredictor

__all__ = ["VariantPredictor"]
