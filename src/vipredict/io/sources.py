"""Declared data sources: every public file vipredict reads, and how to get it.

Each source is a public file at a pinned commit with its sha256 (see
``data/manifest.toml``). A source resolves first from the local mirror
(``VIPREDICT_DATA_MIRROR``, default ``../shared/data``), laid out as
``github/<owner>/<repo>/<commit>/<path>``; failing that it is downloaded once into
``$VIPREDICT_HOME/downloads`` when a network is there. Whatever the origin, the
checksum is verified before a reader sees the bytes, so a result can always be
traced to exact public inputs.
"""

from __future__ import annotations

import hashlib
import shutil
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from vipredict.config import Settings, get_settings

RAW_BASE = "https://raw.githubusercontent.com"


class DataSourceError(RuntimeError):
    """A source that is missing, unknown or fails its checksum (the message says how to fix it)."""


@dataclass(frozen=True)
class DataSource:
    name: str
    repo: str
    commit: str
    path: str
    sha256: str
    licence: str
    build: str
    description: str

    @property
    def url(self) -> str:
        return f"{RAW_BASE}/{self.repo}/{self.commit}/{self.path}"

    @property
    def relative_path(self) -> Path:
        return Path("github") / self.repo / self.commit / self.path

    @property
    def version(self) -> str:
        """Short provenance tag written beside every feature derived from this source."""
        return f"{self.repo}@{self.commit[:7]}"


@cache
def manifest() -> dict[str, DataSource]:
    text = resources.files("vipredict").joinpath("data/manifest.toml").read_text()
    entries = tomllib.loads(text)["source"]
    return {entry["name"]: DataSource(**entry) for entry in entries}


def get_source(name: str) -> DataSource:
    try:
        return manifest()[name]
    except KeyError:
        known = ", ".join(sorted(manifest())[:8])
        raise DataSourceError(f"unknown data source {name!r} (known: {known}, ...)") from None


def sources_matching(prefix: str) -> list[DataSource]:
    return [source for name, source in sorted(manifest().items()) if name.startswith(prefix)]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_VERIFIED: dict[tuple[Path, int, float], str] = {}


def _verify(source: DataSource, path: Path) -> Path:
    stat = path.stat()
    cache_key = (path, stat.st_size, stat.st_mtime)
    actual = _VERIFIED.get(cache_key) or sha256_of(path)
    if actual != source.sha256:
        raise DataSourceError(
            f"checksum mismatch for {source.name} at {path}: expected sha256 {source.sha256}, "
            f"got {actual}. Replace the file with a fresh copy of {source.url}"
        )
    _VERIFIED[cache_key] = actual
    return path


def _download(source: DataSource, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(source.url, timeout=60) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError) as error:
        partial.unlink(missing_ok=True)
        raise DataSourceError(
            f"data source {source.name} is not in the mirror and could not be downloaded "
            f"({error}). Put a copy of {source.url} at <mirror>/{source.relative_path} "
            f"and set VIPREDICT_DATA_MIRROR=<mirror>"
        ) from error
    partial.replace(target)
    return target


def resolve(name: str, settings: Settings | None = None, *, download: bool = True) -> Path:
    """Local, checksum-verified path of a declared source."""
    settings = settings or get_settings()
    source = get_source(name)
    candidates = [settings.downloads_dir / source.relative_path]
    if settings.data_mirror is not None:
        candidates.insert(0, settings.data_mirror / source.relative_path)
    for candidate in candidates:
        if candidate.is_file():
            return _verify(source, candidate)
    if not download:
        raise DataSourceError(
            f"data source {source.name} not found (looked in {', '.join(map(str, candidates))}). "
            f"Fetch {source.url} into the mirror or set VIPREDICT_DATA_MIRROR"
        )
    return _verify(source, _download(source, candidates[-1]))
