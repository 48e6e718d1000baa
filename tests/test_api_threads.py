"""The API computes with one intra-op thread (as the command line does), unless the user sized the pools."""

from __future__ import annotations

import torch

from lsexplorer._api.progress import drive
from lsexplorer.core.base.progress import Progress


def _runner(seen: list[int]):
    seen.append(torch.get_num_threads())
    yield Progress("work", 1, 1, 0.0)
    return "done"


def test_a_computation_runs_on_one_intra_op_thread_and_the_pool_is_restored(monkeypatch):
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen: list[int] = []
        assert drive(_runner(seen), {}, progress=False) == "done"
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_pools_the_user_sized_are_left_alone(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen: list[int] = []
        drive(_runner(seen), {}, progress=False)
        assert seen == [2]
    finally:
        torch.set_num_threads(before)
