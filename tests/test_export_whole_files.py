"""Every exported file (figure, its data and script, table, desktop entry) is written whole or not at all.

A figure drawn straight onto a full disk would land cut off under its real name. Each writer is
checked with the disk filling mid-write (``os.write`` of the atomic write failing with ENOSPC after half the bytes), with a file size limit, from the app's menus,
and end to end: ``lsexplorer export`` as a real process onto a small, nearly full tmpfs.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import re
import resource
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from reliability_support import ENV, SAMPLE, mounted_tmpfs, run_main

import lsexplorer.core.store.atomic_write as aw
from lsexplorer.core.store.atomic_write import SaveError, files_kept
from lsexplorer.figures import PaperStyle, plot, write_figure
from lsexplorer.figures.files import FigureWriteError
from lsexplorer.gui._testsupport import *
from lsexplorer.gui.export import ExportError, write_csv


def whole_file_problem(path: Path) -> str | None:
    """Why ``path`` is not a whole file of its kind (by its suffix), or None when it is."""
    data = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return None if data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF") else "PDF without %%EOF"
    if suffix == ".png":
        ok = data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")
        return None if ok else "PNG without its IEND chunk"
    if suffix == ".svg":
        try:
            root = ET.fromstring(data)
        except ET.ParseError as exc:
            return f"SVG that does not parse ({exc})"
        return None if root.tag.endswith("svg") else "SVG without an svg root"
    if suffix == ".py":
        try:
            compile(data, str(path), "exec")
        except SyntaxError as exc:
            return f"script that does not compile ({exc})"
        return None
    if suffix == ".csv":
        text = data.decode("utf-8")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        if not text.endswith("\n") or not rows or any(len(r) != len(rows[0]) for r in rows):
            return "CSV cut off"
        return None
    return f"unexpected file {path.name}"


def leftovers(folder: Path) -> list[str]:
    """Temporary files of a write anywhere under ``folder``."""
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith("."))


class _FillingDisk:
    """Stands in for the ``os`` module of the atomic write: every ``write`` stores half its bytes,
    then fails with ENOSPC, as a disk that fills during the write does."""

    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def write(fd, data):
        os.write(fd, bytes(data[:max(1, len(data) // 2)]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def full_disk(monkeypatch):
    """The disk fills during every atomic write of this test (see :class:`_FillingDisk`)."""
    monkeypatch.setattr(aw, "os", _FillingDisk())


def assert_not_written(exc: Exception, path: Path, older: bytes | None = None) -> None:
    """``exc`` names ``path`` in one line and says no partial file was left; that is true."""
    message = str(exc)
    assert "\n" not in message and f"cannot write {path}" in message, message
    assert "no partial file was left" in message, message
    if older is None:
        assert not path.exists(), f"{path.name} was left: {whole_file_problem(path)}"
    else:
        assert path.read_bytes() == older
    assert leftovers(path.parent) == []


def test_a_figure_is_not_left_cut_off_when_the_disk_fills(sample_session, tmp_path, monkeypatch):
    older = b"an older figure, kept"
    figure = plot("training_loss", sample_session)
    for suffix in (".pdf", ".svg", ".png", ".csv", ".py"):
        (tmp_path / f"kept{suffix}").write_bytes(older)
    with monkeypatch.context() as m:
        m.setattr(aw, "os", _FillingDisk())
        for name, before in (("fresh", None), ("kept", older)):
            with pytest.raises(FigureWriteError) as caught:
                write_figure(figure, tmp_path, PaperStyle(), name=name)
            assert caught.value.written == []  # the first file already failed
            assert_not_written(caught.value, tmp_path / f"{name}.pdf", before)
    # With room again, the same export writes every file whole.
    written = write_figure(figure, tmp_path, PaperStyle(), name="fresh")
    assert [whole_file_problem(p) for p in written] == [None] * 5


def test_a_table_is_not_left_cut_off_when_the_disk_fills(tmp_path, full_disk):
    path = tmp_path / "table.csv"
    with pytest.raises(ExportError) as caught:
        write_csv(path, ["a", "b"], [[float(i), i] for i in range(10_000)])
    assert_not_written(caught.value, path)


def test_the_apps_export_menus_leave_no_file_and_say_why(figures, tmp_path, full_disk):
    w = figures
    errors: list[tuple[str, str]] = []
    w.show_error = lambda title, text: errors.append((title, text))
    figure = tmp_path / "loss.pdf"
    assert w.export_figure(w.training, "training_loss", tmp_path / "loss") == []
    data = tmp_path / "runs.csv"
    w.ask_save_path = lambda *a: str(data)
    w.export_data_dialog(w.run_table, "runs")
    assert [title for title, _ in errors] == ["Cannot export the figure", "Cannot export the data"]
    for (_, text), path in zip(errors, (figure, data)):
        assert_not_written(ExportError(text), path)


def test_a_file_size_limit_stops_a_figure_before_it_is_cut(sample_session, tmp_path, monkeypatch):
    """Over ``ulimit -f`` writes fail with EFBIG (CPython ignores SIGXFSZ): refused up front, and where
    the write itself fails, nothing is left either."""
    figure = plot("training_loss", sample_session)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        for precheck in (True, False):
            if not precheck:
                monkeypatch.setattr(aw, "_check_room", lambda folder, size: None)
            resource.setrlimit(resource.RLIMIT_FSIZE, (8_000, hard))
            try:
                with pytest.raises(FigureWriteError) as caught:
                    write_figure(figure, tmp_path, PaperStyle(), name=f"limited_{precheck}")
            finally:
                resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            assert_not_written(caught.value, tmp_path / f"limited_{precheck}.pdf")
            assert ("ulimit -f" if precheck else "File too large") in str(caught.value)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_desktop_entry_install_on_a_full_disk_names_the_file_in_one_line(tmp_path, monkeypatch, full_disk):
    from lsexplorer.desktop_entry import install

    with pytest.raises(SaveError) as caught:
        install(root=tmp_path / "share", command="/opt/lsexplorer")
    entry = tmp_path / "share" / "applications" / "lsexplorer.desktop"
    assert_not_written(caught.value, entry)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    code, _, err = run_main("desktop-entry", "--install")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("lsexplorer desktop-entry: error: cannot install the desktop entry: cannot write ")
    assert "no partial file was left" in err
    assert [p for p in (tmp_path / "share").rglob("*") if p.is_file()] == []


# A process that skips the room check, so that the writes themselves meet the full disk.
EXPORT_WITHOUT_PRECHECK = textwrap.dedent("""
    import sys
    import lsexplorer.core.store.atomic_write as aw
    aw._check_room = lambda folder, size: None
    from lsexplorer.cli.commands import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.slow
@pytest.mark.parametrize("precheck", [True, False], ids=["precheck", "writes-fail"])
def test_export_onto_a_nearly_full_disk_leaves_only_whole_files(tmp_path, precheck):
    with mounted_tmpfs(tmp_path / "disk", "600k") as disk:
        (disk / "filler").write_bytes(b"\0" * 300_000)  # about 300 kB left: some figures fit, not all
        out = disk / "figs"
        prefix = ["-c", EXPORT_WITHOUT_PRECHECK] if not precheck else ["-m", "lsexplorer"]
        r = subprocess.run([sys.executable, *prefix, "export", str(SAMPLE), "--out", str(out)], env=ENV,
                           capture_output=True, text=True, timeout=180)
        files = sorted(out.iterdir())
        assert {p.name: whole_file_problem(p) for p in files} == {p.name: None for p in files}
        assert leftovers(disk) == []
        assert r.returncode == 2, r.stderr
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
        match = re.fullmatch(r"lsexplorer export: error: cannot write (\S+): (.+); no partial file was left \((.+)\)",
                             lines[0])
        assert match, lines[0]
        assert ("not enough space" if precheck else "No space left on device") in match.group(2)
        assert files, "some figures fit and must be kept"
        assert not Path(match.group(1)).exists() and match.group(3) == files_kept(len(files))
