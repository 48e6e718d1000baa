"""How many CPU threads lsexplorer's computations use, decided once per process.

Two kinds of parallelism are kept apart on purpose:

* **Seed-parallel work** (the native training kernels run disjoint groups of seeds in separate
  threads that never synchronise inside a chunk of epochs) scales with cores and does not suffer
  when other programs load the machine: it uses :func:`parallel_threads` threads, by default every
  CPU this process may run on.
* **Intra-op pools** (torch's OpenMP pool, OpenBLAS/MKL) split single small operations — the
  Hessians, refinements and batched products of networks with at most a few hundred parameters.
  There a second thread buys little on an idle machine and, on a loaded one, spin-waiting threads
  made whole commands many times slower. Front ends therefore pin these pools to one thread with
  :func:`pin_intra_op_pools` before numpy or torch is imported, unless the user set the standard
  variables (``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``) themselves.
"""

from __future__ import annotations

import os
import sys

#: The environment variables that size intra-op thread pools, read when numpy and torch load.
INTRA_OP_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_parallel: int | None = None


def usable_cpus() -> int:
    """The number of CPUs this process may run on (its affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def set_parallel_threads(n: int | None) -> None:
    """Use ``n`` threads for seed-parallel work from now on; None restores the default."""
    global _parallel
    if n is not None and n < 1:
        raise ValueError(f"the number of threads must be at least 1, got {n}")
    _parallel = n


def parallel_threads() -> int:
    """Threads for seed-parallel work: the value set, else every usable CPU."""
    return _parallel if _parallel is not None else usable_cpus()


def pin_intra_op_pools(threads: int = 1) -> bool:
    """Size torch's and BLAS's intra-op pools to ``threads`` unless the user sized any of them.

    Only effective before numpy and torch are imported; returns False when either already is.
    """
    if not any(name in os.environ for name in INTRA_OP_VARIABLES):
        for name in INTRA_OP_VARIABLES:
            os.environ[name] = str(threads)
    return "numpy" not in sys.modules and "torch" not in sys.modules
