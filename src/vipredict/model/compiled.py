"""Compiled trees: a profile's LightGBM booster as native code (lleaves), for large batches.

LightGBM walks its trees node by node for every row; lleaves compiles the same
model text through LLVM into one function per forest. On the real ``clingen``
profile (400 trees, 22 features, one thread) it scores 10^6 rows in 2.4 s where
LightGBM takes 16.6 s, and the scores agree to ~1e-15 (the sums run in another
order). Compiling costs seconds per profile, so it pays only for jobs that score
large blocks (``vipredict annotate``, ``vipredict compile-models`` ahead of them);
the service's one-row path never compiles, and a caller that only wants what is
cached uses :func:`cached`.

Compiling runs lleaves in a child process and links its object into a shared
library with the system linker (``ld``); the scoring process loads that library
with ``ctypes``. So neither LLVM (llvmlite maps ~80 MB when imported) nor the
compiler's memory ever enters the process that scores. Without ``ld``, or without
lleaves, nothing compiles and LightGBM scores as before.

The libraries live in ``<home>/compiled/``, named by :func:`cache_key` (the model
text, the lleaves and llvmlite versions, the compile options and the host CPU the
code was built for: code built for another CPU may use instructions this one
lacks) and by the SHA-256 of the library's own bytes. A compile writes under a
hidden temporary name and renames into place, and a reader loads only a file
whose bytes match its name, so a half-written or damaged file is never loaded.

The scores differ from LightGBM's in the last bits, so a decision could differ
only for a score within a rounding error of a calibration threshold: the caller
re-scores such rows with LightGBM (:func:`guarded_scores`), so every code and
MIS_PRD value is the one LightGBM gives.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import lightgbm
import numpy as np

from vipredict.config import Settings
from vipredict.progress import StepProgress, no_step

logger = logging.getLogger(__name__)

#: Folder of the compiled libraries, under the vipredict home.
COMPILED_DIR = "compiled"
#: A compiled score this close to a threshold is re-scored by LightGBM. Compiled and
#: LightGBM scores differ by ~1e-16 (measured at most 7.8e-16 on 10^6 real rows).
GUARD_TOLERANCE = 1e-9
#: lleaves' compile options (part of the cache key): fp64, as LightGBM scores.
_OPTIONS = {"use_fp64": True, "fcodemodel": "large", "fblocksize": 34, "finline": True}
_ENTRY = "forest_root"  # lleaves' entry point: (double* rows, double* out, int start, int end)
_SUFFIX = ".so"
_DIGEST = 16  # hex characters of the library's SHA-256 kept in its file name
_DOUBLES = ctypes.POINTER(ctypes.c_double)


class CompileUnavailableError(RuntimeError):
    """lleaves, llvmlite or the system linker is missing: LightGBM scores instead."""


def cache_dir(settings: Settings) -> Path:
    """Where a home keeps its compiled libraries."""
    return settings.home / COMPILED_DIR


@cache
def _host() -> str:
    """The CPU the code is built for (lleaves targets the host): model name and flags."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return f"{platform.machine()}:{platform.processor()}"
    found = [re.search(rf"^{k}\s*:\s*(.*)$", text, re.M) for k in ("model name", "flags")]
    return ":".join([platform.machine(), *(m.group(1) if m else "" for m in found)])


@cache
def _toolchain() -> str:
    """lleaves and llvmlite versions, or a :class:`CompileUnavailableError`."""
    try:
        return f"lleaves {version('lleaves')} llvmlite {version('llvmlite')}"
    except PackageNotFoundError as error:
        raise CompileUnavailableError(f"{error.name} is not installed") from error


def cache_key(model_text: str) -> str:
    """SHA-256 of everything the compiled code depends on."""
    parts = [model_text, _toolchain(), repr(sorted(_OPTIONS.items())), _host()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _feature_count(model_text: str) -> int:
    found = re.search(r"^max_feature_idx=(\d+)$", model_text, re.M)
    if found is None:
        raise ValueError("not a LightGBM model text: no max_feature_idx")
    return int(found.group(1)) + 1


@dataclass
class CompiledPredictor:
    """A compiled booster: :meth:`predict` gives what ``booster.predict`` gives, faster."""

    path: Path
    n_features: int

    def __post_init__(self) -> None:
        self._entry = getattr(ctypes.CDLL(str(self.path)), _ENTRY)
        self._entry.argtypes = [_DOUBLES, _DOUBLES, ctypes.c_int32, ctypes.c_int32]
        self._entry.restype = None

    def predict(self, values: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Scores of float64 rows (NaN: missing). ``threads`` None: one (``annotate``
        already scores in a thread of its own beside its other work).

        The native code reads ``n_features`` doubles per row with no bounds check,
        so the shape is checked here. ``ctypes`` releases the GIL during the call.
        """
        rows = np.ascontiguousarray(values, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.n_features:
            raise ValueError(f"rows of shape {rows.shape}: the model reads {self.n_features}")
        if len(rows) >= 2**31 - 1:
            raise ValueError("more rows than a 32-bit index: split them")
        out = np.zeros(len(rows), dtype=np.float64)
        data, result = rows.ctypes.data_as(_DOUBLES), out.ctypes.data_as(_DOUBLES)
        n, parts = len(rows), max(1, threads or 1)
        step = -(-n // parts) if n else 0
        if parts == 1 or n < 2 * parts:
            self._entry(data, result, 0, n)
            return out
        with ThreadPoolExecutor(parts) as pool:
            done = [pool.submit(self._entry, data, result, a, min(a + step, n)) for a in
                    range(0, n, step)]  # fmt: skip
            for future in done:
                future.result()
        return out


def _valid(path: Path) -> bool:
    """Whether a cached library's bytes match the digest in its name (never half-written)."""
    digest = path.name[: -len(_SUFFIX)].rpartition(".")[2]
    return hashlib.sha256(path.read_bytes()).hexdigest()[:_DIGEST] == digest


def _candidates(directory: Path, key: str) -> list[Path]:
    return sorted(directory.glob(f"{key}.*{_SUFFIX}")) if directory.is_dir() else []


def _load(text: str, settings: Settings) -> CompiledPredictor | None:
    try:
        key = cache_key(text)
    except CompileUnavailableError:
        return None
    for path in _candidates(cache_dir(settings), key):
        if _valid(path):
            return CompiledPredictor(path, _feature_count(text))
        logger.warning("ignoring damaged compiled model %s", path)
    return None


def cached(booster: lightgbm.Booster, settings: Settings) -> CompiledPredictor | None:
    """The compiled booster if this home holds it already, else None: never compiles."""
    return _load(booster.model_to_string(), settings)


def _compile_object(model_file: Path, object_file: Path) -> None:
    """lleaves' object code of a model text, in a child process (LLVM stays out of this one)."""
    code = (
        "import sys, lleaves; m = lleaves.Model(model_file=sys.argv[1]); "
        f"m.compile(cache=sys.argv[2], **{_OPTIONS!r})"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(model_file), str(object_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not object_file.is_file():
        raise CompileUnavailableError(f"lleaves failed: {done.stderr.strip()[-1000:]}")


def compiled(booster: lightgbm.Booster, settings: Settings) -> CompiledPredictor:
    """The compiled booster: from the cache, else compiled now and cached (atomically).

    Raises :class:`CompileUnavailableError` without lleaves, llvmlite or ``ld``.
    """
    text = booster.model_to_string()
    found = _load(text, settings)
    if found is not None:
        return found
    key = cache_key(text)
    linker = shutil.which("ld")
    if linker is None:
        raise CompileUnavailableError("no system linker (ld) to link compiled trees")
    directory = cache_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".partial-") as scratch:
        work = Path(scratch)
        (work / "model.txt").write_text(text)
        _compile_object(work / "model.txt", work / "forest.o")
        library = work / f"forest{_SUFFIX}"
        subprocess.run(
            [linker, "-shared", "-o", str(library), str(work / "forest.o"), "-lm"],
            check=True,
            capture_output=True,
        )
        digest = hashlib.sha256(library.read_bytes()).hexdigest()[:_DIGEST]
        path = directory / f"{key}.{digest}{_SUFFIX}"
        library.replace(path)  # atomic: a reader sees the whole library or none
    return CompiledPredictor(path, _feature_count(text))


def compile_all(
    boosters: Sequence[lightgbm.Booster],
    settings: Settings,
    build: bool = True,
    done: StepProgress = no_step,
) -> list[tuple[CompiledPredictor | None, bool]]:
    """(predictor or None, whether compiled now) per booster; compiles run side by side.

    ``build`` False: only what is cached. A compile that cannot run (no lleaves or
    ``ld``) leaves that booster to LightGBM, with a warning. ``done`` is called as
    each booster is settled (a progress bar: compiling takes seconds per booster).
    """

    def settle(booster: lightgbm.Booster) -> tuple[CompiledPredictor | None, bool]:
        found = cached(booster, settings)
        if found is not None or not build:
            return found, False
        try:
            return compiled(booster, settings), True
        except (CompileUnavailableError, subprocess.CalledProcessError) as error:
            logger.warning("scoring with LightGBM: %s", error)
            return None, False

    def one(booster: lightgbm.Booster) -> tuple[CompiledPredictor | None, bool]:
        try:
            return settle(booster)
        finally:
            done()

    workers = max(1, min(len(boosters), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers, thread_name_prefix="vipredict-compile") as pool:
        return list(pool.map(one, boosters))


def near_thresholds(scores: np.ndarray, thresholds: Iterable[float | None]) -> np.ndarray:
    """Rows whose score lies within :data:`GUARD_TOLERANCE` of any threshold."""
    near = np.zeros(len(scores), dtype=bool)
    for threshold in thresholds:
        if threshold is not None:
            near |= np.abs(scores - threshold) <= GUARD_TOLERANCE
    return near


def guarded_scores(
    predictor: CompiledPredictor,
    booster: lightgbm.Booster,
    values: np.ndarray,
    thresholds: Iterable[float | None],
    threads: int | None = None,
) -> np.ndarray:
    """Compiled scores, with LightGBM's wherever a score is near a threshold.

    ``thresholds``: every threshold a decision reads (the calibration's codes and
    its 3-point levels), so each decision is the one LightGBM's score gives.
    """
    scores = predictor.predict(values, threads)
    near = near_thresholds(scores, thresholds)
    if near.any():
        options = {} if threads is None else {"num_threads": threads}
        scores[near] = np.asarray(booster.predict(values[near], **options))
    return scores
