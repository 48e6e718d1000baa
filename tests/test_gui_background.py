"""LatestJob: a panel's background computation where only the newest request is delivered."""

from __future__ import annotations

import threading

from lsexplorer.gui._testsupport import *  # fixtures, the leaked-thread check
from lsexplorer.gui.background import LatestJob
from lsexplorer.gui.workers import TaskRegistry


def _gated(gate: threading.Event, name: str, log: list):
    """A generator that yields its name, waits for ``gate``, yields again and returns its name."""
    log.append(("start", name))
    yield name
    gate.wait(10)
    yield name
    return name


def test_a_new_start_supersedes_the_running_generator_and_only_its_outcome_arrives(qtbot):
    job, gate, log = LatestJob(), threading.Event(), []
    records, results, done = [], [], []
    job.start(_gated, gate, "old", log, on_record=records.append, on_result=results.append,
              on_done=lambda: done.append("old"))
    qtbot.waitUntil(lambda: ("start", "old") in log, timeout=5000)
    before = len(records)  # the old job's first record may have arrived while it was the newest
    job.start(_gated, gate, "new", log, on_record=records.append, on_result=results.append,
              on_done=lambda: done.append("new"))
    assert job.busy
    gate.set()
    assert job.wait(10_000) and not job.busy
    assert results == ["new"] and done == ["new"]
    assert records[before:] == ["new", "new"]  # nothing of the superseded job arrives after it was superseded
    assert log.index(("start", "new")) > log.index(("start", "old"))


def test_plain_functions_run_one_at_a_time_and_waiting_requests_coalesce(qtbot):
    job, gate = LatestJob(), threading.Event()
    running, most, ran = [0], [0], []
    lock = threading.Lock()

    def plain(name):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        ran.append(name)
        if name == "first":
            gate.wait(10)
        with lock:
            running[0] -= 1
        return name

    results = []
    job.start(plain, "first", on_result=results.append)
    qtbot.waitUntil(lambda: ran == ["first"], timeout=5000)
    for name in ("second", "third", "last"):
        job.start(plain, name, on_result=results.append)
    gate.set()
    assert job.wait(10_000)
    assert ran == ["first", "last"] and results == ["last"] and most[0] == 1


def test_cancel_drops_the_job_and_errors_reach_only_the_newest(qtbot):
    job, gate, log = LatestJob(), threading.Event(), []
    delivered = []
    job.start(_gated, gate, "x", log, on_record=delivered.append, on_result=delivered.append,
              on_done=lambda: delivered.append("done"))
    qtbot.waitUntil(lambda: bool(log), timeout=5000)
    job.cancel()
    gate.set()
    assert job.wait(10_000) and delivered in ([], ["x"])  # a record may have arrived before the cancel
    assert "done" not in delivered

    def fails():
        raise ValueError("bad input")

    errors, done = [], []
    job.start(fails, on_error=errors.append, on_done=lambda: done.append(True))
    assert job.wait(10_000)
    assert [str(e) for e in errors] == ["bad input"] and done == [True]


def test_a_job_with_a_task_label_shows_in_the_status_bar_and_its_cancel_ends_it(qtbot):
    tasks, job, gate, log = TaskRegistry(), None, threading.Event(), []
    job = LatestJob(tasks)
    done, results = [], []
    job.start(_gated, gate, "t", log, on_result=results.append, on_done=lambda: done.append(True), task="Slicing")
    assert tasks.label == "Slicing" and len(tasks.active) == 1
    qtbot.waitUntil(lambda: bool(log), timeout=5000)
    tasks.cancel_all()
    gate.set()
    assert job.wait(10_000) and not tasks.active
    assert results == [] and done == [True]  # aborted: no result, but the panel hears that it ended
