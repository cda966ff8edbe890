"""Feature-set definitions (``<name>.toml``), package data ``vipredict._feature_sets``.

Not code: ``pyproject.toml`` maps this folder into the vipredict package so an
installed wheel or a built Bento finds the same definitions as a checkout;
:mod:`vipredict.features.sets` reads them.
"""
