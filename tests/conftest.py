"""Test-wide settings: headless Qt, and small thread pools so the suite behaves on 2 cores."""

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Test helpers such as the independent numpy reference live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))
