"""Training configurations (``<name>.toml``), package data ``vipredict._training_configs``.

Not code: ``pyproject.toml`` maps this folder into the vipredict package so an
installed wheel finds the same defaults as a checkout; ``vipredict train
--config FILE`` takes any other file.
"""
