"""A stream's chunks take Arrow buffers from the system allocator, and the caller's pool comes back.

``_chunk_allocations`` swaps Arrow's process-wide default pool for the duration of a
stream (a library caller, a test or a Dask worker keeps its own pool afterwards),
also when the stream fails.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from vipredict.store.ingest import _chunk_allocations


def test_chunks_allocate_from_the_system_pool_and_the_pool_is_restored() -> None:
    before = pa.default_memory_pool()
    with _chunk_allocations():
        assert pa.default_memory_pool().backend_name == "system"
        assert pa.array([1.0, 2.0]).buffers()[1] is not None
    assert pa.default_memory_pool().backend_name == before.backend_name


def test_the_pool_is_restored_when_a_stream_fails() -> None:
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    try:
        with pytest.raises(RuntimeError), _chunk_allocations():
            raise RuntimeError("a chunk failed")
        assert pa.default_memory_pool().backend_name == "mimalloc"
    finally:
        pa.set_memory_pool(pa.mimalloc_memory_pool())


def test_the_collector_leaves_the_context_alone_while_chunks_stream_and_after_as_usual() -> None:
    import gc

    from vipredict.store.ingest import _frozen_garbage

    kept = [object() for _ in range(1000)]  # what a run's context would be
    assert gc.get_freeze_count() == 0
    with _frozen_garbage():
        assert gc.get_freeze_count() >= len(kept)
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), _frozen_garbage():
        raise RuntimeError("a chunk failed")
    assert gc.get_freeze_count() == 0
