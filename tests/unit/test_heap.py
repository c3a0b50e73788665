"""The freed C heap goes back to the system between pipeline stages (glibc only)."""

import os

import pytest

from analyzer.pipeline import heap

glibc_only = pytest.mark.skipif(heap._malloc_trim() is None, reason="the C library has no malloc_trim")


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@glibc_only
def test_memory_freed_between_survivors_leaves_the_process():
    # Texts above Python's small-object size come from malloc, like the group stage's
    # sample texts; every 50th survives, so the freed ones lie between live blocks
    # (not at the heap's top, which glibc returns by itself).
    blocks = [bytes(3000) + bytes([index % 251]) for index in range(40_000)]
    survivors = blocks[::50]
    del blocks
    before = _resident_bytes()
    assert heap.give_back_freed_memory()
    assert before - _resident_bytes() > 60 * 1024 * 1024
    assert len(survivors) == 800


def test_without_malloc_trim_it_does_nothing(monkeypatch):
    monkeypatch.setattr(heap, "_malloc_trim", lambda: None)
    assert heap.give_back_freed_memory() is False
