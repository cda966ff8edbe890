"""Files derived from each store file, and whether one was made from that file as it is now.

Two things are kept beside the store, one file per store file, so that a store
that grows by files (``add-dbnsfp``) only has its new files processed: the serving
index (:mod:`vipredict.store.index`) and the pre-scored evidence
(:mod:`vipredict.store.prescored`). Each derived file has a JSON sidecar, written
last by rename, that records the size and modification time of the store file it
was made from: a sidecar that is missing, half-written or names another stamp
marks the derived file stale, never wrong.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def source_stamp(path: Path) -> dict[str, int]:
    """Size and modification time of a store file: what its derived files were made from."""
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def derived_paths(store_root: Path, source: Path, root: Path, suffix: str) -> tuple[Path, Path]:
    """(derived file, JSON sidecar) of one store file under ``root``, in the store's layout."""
    relative = source.relative_to(store_root).with_suffix("")
    return root / f"{relative}{suffix}", root / f"{relative}.json"


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """A sidecar's content, or None when it is missing or unreadable (an interrupted write)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def is_current(
    store_root: Path, source: Path, root: Path, suffix: str, version: int, **expected: Any
) -> bool:
    """Whether ``source`` has a complete derived file of format ``version``, made from it as
    it is now, whose sidecar also holds every ``expected`` key with that value."""
    data, meta = derived_paths(store_root, source, root, suffix)
    found = read_sidecar(meta)
    return (
        found is not None
        and data.is_file()
        and found.get("format") == version
        and found.get("source") == source_stamp(source)
        and all(found.get(key) == value for key, value in expected.items())
    )


def write_sidecar(path: Path, payload: dict[str, Any]) -> None:
    """Write a sidecar atomically: it is what marks its derived file complete."""
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(payload))
    os.replace(partial, path)


def remove_orphans(root: Path, wanted: set[Path], suffix: str) -> int:
    """Remove derived files and sidecars under ``root`` whose store file is gone; how many."""
    removed = 0
    for old in [*root.glob(f"build=*/chrom=*/*{suffix}"), *root.glob("build=*/chrom=*/*.json")]:
        if old not in wanted:
            old.unlink()
            removed += old.suffix == ".json"
    return removed
