"""The HTTP service: the pipelines' endpoint, the curators' queue, the researchers' audit.

* :mod:`.bento`: the BentoML service (routes only); ``serving/service.py`` names it;
* :mod:`.predictor`: what ``/predict`` and ``/predict/vcf`` answer, and the cache;
* :mod:`.schemas`: request and response bodies; :mod:`.card`: ``GET /model``;
* :mod:`.queue`: the queue endpoints; :mod:`.security`: keys, limits, uploads;
* :mod:`.bentoml_fixes`: a narrow fix of BentoML 1.4's timeout middleware.
"""
