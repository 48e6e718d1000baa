"""Test-wide settings: headless Qt, and small thread pools so the suite behaves on 2 cores."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
