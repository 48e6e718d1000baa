"""The README's "From Python" example runs as written: its ``>>>`` lines are a doctest."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(markdown: str) -> list[str]:
    """The contents of every fenced ```python block of ``markdown``."""
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.MULTILINE | re.DOTALL)


def test_the_readme_python_example_runs_as_a_doctest(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # whatever the example writes lands here
    blocks = [b for b in python_blocks((ROOT / "README.md").read_text(encoding="utf-8")) if ">>>" in b]
    assert blocks, "the README has no >>> example"
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    globs: dict = {}
    for number, block in enumerate(blocks):
        test = parser.get_doctest(block, globs, f"README.md python block {number}", "README.md", 0)
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.attempted > 5 and results.failed == 0, f"{results.failed} README example(s) failed (see above)"
