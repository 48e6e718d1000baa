"""Freed heap memory is reused in place once :func:`retain_freed_memory` is set, so repeated
megabyte-sized temporaries stop costing a page fault per page."""

import subprocess
import sys

import pytest

PROGRAM = """
import resource, sys
import numpy as np
from lsexplorer.core.base.heap import retain_freed_memory
if sys.argv[1] == "retain":
    assert retain_freed_memory() and retain_freed_memory()
z = np.ones(2**20 // 8)      # one megabyte, above glibc's default mmap threshold
for _ in range(5):
    np.exp(-z)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(200):
    np.exp(-z)                 # two live megabyte temporaries, freed again
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_retained_memory_removes_the_page_faults_of_repeated_temporaries():
    retained, default = _faults("retain"), _faults("default")
    # 200 rounds of two megabyte temporaries are 102400 pages; reused in place, next to none of them fault
    assert retained < 500
    if default < 5000:
        pytest.skip(f"this C library reuses freed memory by default ({default} faults)")
    assert default > 10 * max(retained, 100)
