"""``analyze`` in live mode explains events in parallel but prints them in file order, and
keeps streaming: it never reads far ahead of what it has printed."""

from __future__ import annotations

import random
import threading
import time

from analyzer.analyze_command import _in_order


def test_results_come_in_input_order_whatever_finishes_first():
    def slow(item: int) -> int:
        time.sleep(random.uniform(0, 0.01))
        return item * item

    assert list(_in_order(slow, range(50), workers=8)) == [i * i for i in range(50)]


def test_it_streams_with_a_bounded_window_and_really_runs_in_parallel():
    pulled = 0
    running = peak = 0
    lock = threading.Lock()

    def items():
        nonlocal pulled
        for item in range(100):
            pulled += 1
            yield item

    def work(item: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.005)
        with lock:
            running -= 1
        return item

    results = _in_order(work, items(), workers=4)
    assert next(results) == 0
    assert pulled <= 2 * 4  # the first result came before the rest of the file was read
    assert list(results) == list(range(1, 100))
    assert peak > 1


def test_one_worker_is_plain_serial_map():
    assert list(_in_order(str, [3, 1, 2], workers=1)) == ["3", "1", "2"]
