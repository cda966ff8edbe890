"""Session fixtures shared by the suite.

``trained_home`` trains the real chain once per session (real ClinGen 2019 data,
real features, real LightGBM and calibration) into a temporary VIPREDICT_HOME with
a lighter configuration (fewer trees and bootstraps) so that the tests of
evaluation, prediction and serving exercise genuine registered models without
touching the developer's own home.
"""

from __future__ import annotations

import pytest

from vipredict.config import Settings, get_settings

FAST_OVERRIDES = {"n_bootstrap": 300, "cv_folds": 3}
FAST_LGBM = {"n_estimators": 150, "learning_rate": 0.06}


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from vipredict.pipeline import run_training
    from vipredict.training import TrainingConfig

    home = tmp_path_factory.mktemp("vipredict-home")
    patch = pytest.MonkeyPatch()
    patch.setenv("VIPREDICT_HOME", str(home))
    patch.setenv("BENTOML_HOME", str(home / "bentoml"))
    settings = get_settings()
    base = TrainingConfig.from_toml().to_dict()
    config = TrainingConfig.from_dict(
        {**base, **FAST_OVERRIDES, "lightgbm": {**base["lightgbm"], **FAST_LGBM}}
    )
    run_training(config, settings)
    yield settings
    patch.undo()
