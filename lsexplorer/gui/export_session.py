"""Every figure and table of a session written to files, headless: ``lsexplorer export``.

The driver opens the session in an offscreen :class:`~lsexplorer.gui.app.MainWindow`, so it sits
above the app; :mod:`lsexplorer.gui.export` (one figure, one table) stays below it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..core.analyses import closest_saddle, escape, mu_sweep
from ..core.base.kinds import Kind
from ..core.store.atomic_write import files_kept
from .export import FIGURE_FORMATS, ExportError, export_figure, write_csv
from .page_size import PageSize


def showcase_row(session) -> int:
    """The run the export (and the screenshots) show: the first local minimum whose closest saddle's
    narrower point converged and that has a μ sweep and an escape scan; else the first local minimum
    with any closest saddle; else the first local minimum; else run 0."""
    local = [int(r) for r in np.flatnonzero(np.asarray(session.runs.kind).astype(str) == Kind.LOCAL_MIN)]
    swept, escaped = set(mu_sweep.analysed_rows(session)), set(escape.analysed_rows(session))
    for row in local:
        c = closest_saddle.read(session, row)
        if c is not None and c.narrower.kind != Kind.NOT_CONVERGED and row in swept and row in escaped:
            return row
    for row in local:
        if closest_saddle.read(session, row) is not None:
            return row
    return local[0] if local else 0


@contextlib.contextmanager
def _counting_kept(written: list[Path]) -> Iterator[None]:
    """Add to a failed file's ExportError how many files were written whole before it (they stay)."""
    try:
        yield
    except ExportError as exc:
        raise ExportError(f"{exc} ({files_kept(len(written))})") from None


def export_session_figures(session_path: str | Path, out_dir: str | Path, size: tuple[int, int] = (1600, 1000),
                           stop: threading.Event | None = None, page: PageSize | None = None,
                           expand: tuple[int, int] | None = None, eigs: tuple[int, int] | None = None
                           ) -> list[Path]:
    """Write every figure of a session as PNG, SVG and PDF, and its data as CSV, without a display.

    Opens ``session_path`` in an offscreen main window of ``size`` (creating a QApplication with the
    ``offscreen`` platform if none exists), selects :func:`showcase_row` (the first local minimum with
    a converged closest saddle, its μ sweep and escape scan), shows every panel in turn, waits for its
    background work (the live spectrum, the 2D slice) and writes into ``out_dir`` (created):

    ``<panel>_<figure>.png`` / ``.svg`` / ``.pdf`` for every figure, ``<panel>_<table>.csv`` for every
    table, where ``<panel>`` is the panel's :attr:`~lsexplorer.gui.panels.PanelSpec.slug` (``runs``,
    ``neurons``, ``statistics``, ``training``, ``counting``, ``saddle_line``, ``slices``, ``escape``, …). With the bundled sample session that is:

    - ``neurons_neurons`` — incoming weights, teacher, trajectories (Fig 6.4)
    - ``statistics_lambda_min_vs_loss`` (Fig 6.3), ``statistics_nearest_neuron_distance`` (Fig 6.7),
      ``statistics_saddle_distance`` (Fig 6.9), ``statistics_outcomes.csv`` (Table 6.1)
    - ``training_training_loss``; ``counting_counting_ratio`` (Fig 4.4); ``runs_runs.csv``
    - ``saddle_line_eigenvalues_vs_mu`` (Fig 6.17), ``saddle_line_spectrum_at_mu``,
      ``saddle_line_y_eigenvalues``, ``saddle_line_loss_along_mu``
    - ``slices_saddle_to_minimum``, ``slices_plane`` (Fig 6.10), ``slices_plane_trajectory.csv``
    - ``escape_escape`` (Fig 6.6)

    Figures are sized for ``page`` (default: one journal column, :class:`PageSize`'s defaults); their
    height follows each plot's aspect in the window unless ``page`` gives one.

    A panel whose analysis is missing for the chosen run (e.g. a session never analysed) writes no
    figure; nothing is computed. Returns the paths written, in order. Raises ExportError when the
    session cannot be opened. ``expand = (layer, neuron)`` shows the Saddle line panel's "expand a
    neuron of this run" line of the chosen run instead (any depth and kind; its μ sweep is computed
    first), ``eigs = (first, count)`` draws ``count`` eigenvalues from the ``first``-smallest (1-based)
    in its eigenvalues-vs-μ figure and table. Once ``stop`` is set, no further file is started and the files written
    so far are returned (each file is whole: see :func:`export_figure`). A file that cannot be
    written (a full disk) raises ExportError naming it and how many files before it were written whole.
    """
    import os
    import tempfile

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QApplication.instance() or QApplication([])
    from .app import MainWindow, leave_a_core_for_the_gui  # imported late: Qt needs the QApplication first
    from .panels import PANELS  # with the app's

    leave_a_core_for_the_gui()

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    with tempfile.TemporaryDirectory() as tmp:
        window = MainWindow(settings=QSettings(str(Path(tmp) / "export.ini"), QSettings.Format.IniFormat))
        errors: list[str] = []
        window.show_error = lambda title, text: errors.append(f"{title}: {text}")
        try:
            window.resize(*size)
            window.show()
            app.processEvents()
            worker = window.open_session(session_path)
            worker.wait(120_000)
            if not window.model.has_session:
                raise ExportError(errors[0] if errors else f"cannot open {session_path}")
            window.model.select(showcase_row(window.model.session))
            line = window.saddle_line
            if expand is not None:
                line.source_combo.setCurrentIndex(line.source_combo.findData("expand"))
                line.layer_spin.setValue(expand[0])
                line.neuron_spin.setValue(expand[1])
                line.compute()
                line.sweep_job.wait(3_600_000)
            if eigs is not None:
                line.k_spin.setValue(eigs[1])
                line.first_spin.setValue(eigs[0])
            for spec in PANELS:
                panel = getattr(window, spec.attribute)
                if stopped():
                    break
                dock = window.docks[panel.title]
                dock.show()
                dock.raise_()
                for _ in range(3):
                    app.processEvents()
                for job in panel.jobs:
                    job.wait()
                for _ in range(3):
                    app.processEvents()
                slug = spec.slug
                for name, view in panel.figures().items():
                    if not view.isVisible() or view.width() < 2:
                        continue  # its analysis is missing: the panel shows a message instead
                    for suffix in FIGURE_FORMATS:
                        if stopped():
                            break
                        with _counting_kept(written):
                            written.append(export_figure(view, out / f"{slug}_{name}{suffix}",
                                                         title=f"lsexplorer — {panel.title}: {name}",
                                                         page=page or PageSize()))
                for name, table in panel.tables().items():
                    if stopped():
                        break
                    with _counting_kept(written):
                        written.append(write_csv(out / f"{slug}_{name}.csv", table.columns, table.rows))
        finally:
            window.model.tasks.cancel_all()
            window.model.tasks.wait_all(30_000)
            window.saddle_line.stop()
            window.model.set_modified(False)
            window.close()
            window.deleteLater()
            app.processEvents()
    return written


__all__ = ["ExportError", "export_session_figures", "showcase_row"]
