"""Test-wide settings: headless Qt, small thread pools so the suite behaves on 2 cores, and Ctrl-C as in a
terminal."""

import os
import signal
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tests mostly touch small matrices, where a second thread only adds contention (measured 10x on a
# loaded 2-core machine); set before torch or numpy load their thread pools.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# A suite started in the background (``pytest &`` from a script) inherits SIGINT ignored, and Python then keeps it
# ignored: the tests of what Ctrl-C does would see no interrupt at all. Restore the terminal's behaviour.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Test helpers such as the independent numpy reference live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))


import pytest  # noqa: E402  (after the thread settings above, which must precede torch's import)


@pytest.fixture(scope="session")
def toy():
    """The thesis toy data set (1681 grid points, 4-neuron sigmoid teacher), built once."""
    from lsexplorer.core.data.datasets import toy_dataset

    return toy_dataset()


#: The bundled sessions the figure tests draw.
SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "toy_width5.h5"
DEEP_SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "mnist5k_deep.h5"


@pytest.fixture(scope="session")
def sample_session():
    """The bundled toy sample (100 width-5 students, every analysis), opened once; do not modify it."""
    from lsexplorer.core.analyses.opening import open_session

    return open_session(SAMPLE)


@pytest.fixture(scope="session")
def deep_sample_session():
    """The bundled deep MNIST sample, opened once; do not modify it."""
    from lsexplorer.core.analyses.opening import open_session

    return open_session(DEEP_SAMPLE)
