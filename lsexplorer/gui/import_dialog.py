"""File ▸ Import students…: points trained elsewhere become a session, in a background worker.

The dialog collects what ``lsexplorer import`` takes — files, where the data and network come from
(a preset, a TOML config, or the open session), the hidden width, refine or not, and the session
file to write — and :func:`import_and_save` runs :func:`lsexplorer.core.experiment.importer.import_files` in the
worker, then saves. Errors in the files come back as the importer's one-line messages.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .dialog_parts import ok_cancel_buttons, problem_label

FILE_FILTER = "Student parameters (*.npz *.npy *.csv *.pt *.pth);;All files (*)"
LIKE_OPEN = "like the open session"
TOML = "TOML config…"


def import_and_save(files: list[str], source: dict, refine: bool, path: Path, stop: threading.Event | None = None):
    """Worker generator: the importer's progress records, then the session saved to ``path``; returns ``path``."""
    from ..core.experiment.importer import import_files
    from ..core.store.session import save_session

    session = yield from import_files(files, refine=refine, stop=stop, **source)
    save_session(session, path)
    return path


class QtImportDialog(QDialog):
    """Collects files, data source, width, refine and the output file; :meth:`job` gives the worker's arguments."""

    def __init__(self, parent: QWidget | None = None, presets: list[str] | None = None,
                 open_session: Path | None = None, default_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import students")
        self._open_session = open_session
        self._default_dir = default_dir or Path.home()
        self.files = QListWidget()
        self.files.setToolTip("Flat θ rows (.npz array 'theta', .npy, .csv) or PyTorch state_dict / nn.Sequential "
                              "files (.pt, .pth), one student each")
        add, remove = QPushButton("Add files…"), QPushButton("Remove")
        add.clicked.connect(self._add_files)
        remove.clicked.connect(self._remove_selected)
        file_buttons = QHBoxLayout()
        file_buttons.addWidget(add)
        file_buttons.addWidget(remove)
        file_buttons.addStretch(1)

        self.source = QComboBox()
        self.source.addItems([f"preset {p}" for p in (presets or ["toy"])])
        if open_session is not None:
            self.source.addItem(LIKE_OPEN)
        self.source.addItem(TOML)
        self.toml = QLineEdit()
        self.toml.setPlaceholderText("config.toml")
        self.width = QSpinBox()
        self.width.setRange(0, 100_000)
        self.width.setSpecialValueText("as configured")
        self.refine = QCheckBox("Refine and certify every point (otherwise stored as given, measured and classified)")
        self.output = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.output, 1)
        out_row.addWidget(browse)

        form = QFormLayout()
        form.addRow("Data and network", self.source)
        form.addRow("TOML config", self.toml)
        form.addRow("Hidden width", self.width)
        form.addRow("", self.refine)
        form.addRow("Save session to", out_row)
        self.problem = problem_label()
        self.buttons = ok_cancel_buttons(self, "Import")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Student files"))
        layout.addWidget(self.files, 1)
        layout.addLayout(file_buttons)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.source.currentTextChanged.connect(self.validate)
        self.toml.textChanged.connect(self.validate)
        self.output.textChanged.connect(self.validate)
        self.resize(640, 480)
        self.validate()

    def add_files(self, paths: list[str]) -> None:
        for p in paths:
            self.files.addItem(str(p))
        self.validate()

    def _add_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Student parameter files", str(self._default_dir), FILE_FILTER)
        self.add_files(paths)

    def _remove_selected(self) -> None:
        for item in self.files.selectedItems():
            self.files.takeItem(self.files.row(item))
        self.validate()

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the session to", str(self._default_dir / "imported.h5"),
                                              "lsexplorer sessions (*.h5)")
        if path:
            self.output.setText(path if path.endswith(".h5") else path + ".h5")

    def job(self) -> tuple[list[str], dict, bool, Path]:
        """``(files, source keywords of import_files, refine, output path)``."""
        files = [self.files.item(k).text() for k in range(self.files.count())]
        choice = self.source.currentText()
        width = self.width.value() or None
        if choice == LIKE_OPEN:
            source = {"like": str(self._open_session)}
        elif choice == TOML:
            source = {"toml": self.toml.text().strip(), "width": width}
        else:
            source = {"preset": choice.removeprefix("preset "), "width": width}
        return files, source, self.refine.isChecked(), Path(self.output.text().strip()).expanduser()

    def validate(self) -> bool:
        """Show the first problem with the form; enable Import only when there is none."""
        choice = self.source.currentText()
        self.toml.setEnabled(choice == TOML)
        self.width.setEnabled(choice != LIKE_OPEN)
        out = self.output.text().strip()
        problem = ""
        if self.files.count() == 0:
            problem = "add the files holding the students"
        elif choice == TOML and not Path(self.toml.text().strip()).expanduser().is_file():
            problem = "choose an existing TOML config"
        elif not out:
            problem = "choose where to save the session"
        elif not out.endswith(".h5"):
            problem = "the session file should end in .h5"
        elif not Path(out).expanduser().parent.is_dir():
            problem = f"folder {Path(out).parent} does not exist"
        self.problem.setText(problem)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)
        return not problem

    def accept(self) -> None:
        if self.validate():
            super().accept()
