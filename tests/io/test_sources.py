import shutil

import pytest

from vipredict.config import get_settings
from vipredict.io.sources import DataSourceError, get_source, manifest, resolve, sha256_of


def test_every_declared_source_has_url_checksum_licence_and_is_in_the_mirror():
    settings = get_settings()
    assert settings.data_mirror is not None, "../shared/data must be beside the project"
    for source in manifest().values():
        assert source.url.startswith("https://raw.githubusercontent.com/")
        assert len(source.sha256) == 64 and source.licence
        assert (settings.data_mirror / source.relative_path).is_file(), source.name


def test_resolve_verifies_the_checksum():
    path = resolve("clingen_2019")
    assert sha256_of(path) == get_source("clingen_2019").sha256


def _fake_mirror(tmp_path, monkeypatch, content: bytes | None):
    source = get_source("dbnsfp_v24_head")
    target = tmp_path / "mirror" / source.relative_path
    target.parent.mkdir(parents=True)
    if content is not None:
        target.write_bytes(content)
    monkeypatch.setenv("VIPREDICT_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("VIPREDICT_HOME", str(tmp_path / "home"))
    return source


def test_a_corrupted_file_is_a_clear_error_naming_it(tmp_path, monkeypatch):
    source = _fake_mirror(tmp_path, monkeypatch, b"not the real bytes")
    with pytest.raises(DataSourceError, match="checksum mismatch for dbnsfp_v24_head") as error:
        resolve(source.name)
    assert source.url in str(error.value)


def test_a_missing_file_names_the_source_and_how_to_get_it(tmp_path, monkeypatch):
    source = _fake_mirror(tmp_path, monkeypatch, None)
    with pytest.raises(DataSourceError, match="dbnsfp_v24_head") as error:
        resolve(source.name, download=False)
    assert source.url in str(error.value)


def test_a_good_copy_in_another_mirror_resolves(tmp_path, monkeypatch):
    original = resolve("dbnsfp_v24_head")
    source = _fake_mirror(tmp_path, monkeypatch, None)
    shutil.copy(original, tmp_path / "mirror" / source.relative_path)
    assert resolve(source.name, download=False).is_relative_to(tmp_path)


def test_unknown_source_is_refused():
    with pytest.raises(DataSourceError, match="unknown data source"):
        get_source("no_such_file")
