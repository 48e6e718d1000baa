"""The "Export figure" dialog: where, the figure's size on paper, its fonts, a style sheet, the formats.

A width preset (one journal column, 85 mm; two columns, 175 mm) or any width in mm, the height from
the figure's aspect or given, the label size in points, the PNG resolution and an optional matplotlib
style (a ``.mplstyle`` file or a style name): the same :class:`~lsexplorer.figures.style.PaperStyle`
as ``lsexplorer export --width-mm/--columns/--style``. Exporting writes ``NAME.pdf/.svg/.png`` (the
formats ticked), ``NAME.csv`` (the data drawn) and ``NAME.py`` (a script that redraws it). The values
last accepted come back in the next dialog, after a restart too (QSettings group ``export_figure``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.base.errors import InputError
from ..figures.files import IMAGE_FORMATS
from ..figures.style import DPI_RANGE, FONT_RANGE_PT, ONE_COLUMN_MM, TWO_COLUMNS_MM, WIDTH_RANGE_MM, PaperStyle
from .dialog_parts import ok_cancel_buttons, problem_label
from .remembered import save_fields, saved_fields

#: QSettings group of the fields the dialog remembers.
SETTINGS_GROUP = "export_figure"
#: Width presets in the order the combo box lists them; "custom" keeps the width typed in.
PRESETS = (("one column (85 mm)", ONE_COLUMN_MM), ("two columns (175 mm)", TWO_COLUMNS_MM), ("custom width", None))
DEFAULT_FONT_PT = 8.0
DEFAULT_DPI = 300
#: Suffixes a typed name may end in; they are dropped (every format ticked is written).
_SUFFIXES = {f".{f}" for f in IMAGE_FORMATS} | {".csv", ".py"}


class QtFigureExportDialog(QDialog):
    """Asks where (a folder and a name), the :class:`PaperStyle` and the formats of one figure; after
    ``accepted``, :attr:`path` (the files' common stem), :attr:`style` and :attr:`formats` hold them.
    ``ask_path(suggested)`` is the file chooser behind "Browse…"."""

    def __init__(self, parent: QWidget | None, suggested: Path, settings: QSettings,
                 ask_path: Callable[[str], str | None] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export figure")
        self.settings = settings
        self._ask_path = ask_path
        self.path: Path | None = None
        self.style: PaperStyle | None = None
        self.formats: tuple[str, ...] = ()

        self.path_edit = QLineEdit(str(suggested))
        self.path_edit.setMinimumWidth(self.fontMetrics().horizontalAdvance("x") * 48)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        file_row = QHBoxLayout()
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(browse)

        self.preset = QComboBox()
        for label, _ in PRESETS:
            self.preset.addItem(label)
        self.width_mm = QDoubleSpinBox()
        self.width_mm.setRange(*WIDTH_RANGE_MM)
        self.width_mm.setDecimals(1)
        self.width_mm.setSuffix(" mm")
        width_row = QHBoxLayout()
        width_row.addWidget(self.preset, 1)
        width_row.addWidget(self.width_mm)

        self.auto_height = QCheckBox("from the figure's aspect")
        self.height_mm = QDoubleSpinBox()
        self.height_mm.setRange(*WIDTH_RANGE_MM)
        self.height_mm.setDecimals(1)
        self.height_mm.setSuffix(" mm")
        height_row = QHBoxLayout()
        height_row.addWidget(self.auto_height, 1)
        height_row.addWidget(self.height_mm)

        self.font_pt = QDoubleSpinBox()
        self.font_pt.setRange(*FONT_RANGE_PT)
        self.font_pt.setDecimals(1)
        self.font_pt.setSingleStep(0.5)
        self.font_pt.setSuffix(" pt")
        self.font_pt.setToolTip("Axis labels and titles; tick labels and legends are 1 pt smaller")
        self.dpi = QSpinBox()
        self.dpi.setRange(*DPI_RANGE)
        self.dpi.setSuffix(" dpi")
        self.dpi.setToolTip("Resolution of PNG files; SVG and PDF are vector graphics")

        self.style_edit = QLineEdit()
        self.style_edit.setPlaceholderText("none (or a .mplstyle file, or a style name)")
        self.style_edit.setToolTip("A matplotlib style applied on top of the size and fonts above")
        self.format_boxes = {fmt: QCheckBox(fmt.upper()) for fmt in IMAGE_FORMATS}
        formats_row = QHBoxLayout()
        for box in self.format_boxes.values():
            formats_row.addWidget(box)
        formats_row.addStretch(1)

        form = QFormLayout()
        form.addRow("Save as", file_row)
        form.addRow("Formats", formats_row)
        form.addRow("Width", width_row)
        form.addRow("Height", height_row)
        form.addRow("Label size", self.font_pt)
        form.addRow("PNG resolution", self.dpi)
        form.addRow("Style", self.style_edit)
        self.note = QLabel("Also written: NAME.csv, the data drawn, and NAME.py, a script that redraws it.")
        self.note.setWordWrap(True)
        form.addRow(self.note)
        self.problem = problem_label()
        self.buttons = ok_cancel_buttons(self, "Export")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)

        self._restore()
        self.preset.currentIndexChanged.connect(self._preset_chosen)
        self.width_mm.valueChanged.connect(self._width_typed)
        self.auto_height.toggled.connect(self.height_mm.setDisabled)
        for signal in (self.path_edit.textChanged, self.width_mm.valueChanged, self.height_mm.valueChanged,
                       self.auto_height.toggled, self.font_pt.valueChanged, self.dpi.valueChanged,
                       self.style_edit.textChanged, *(box.toggled for box in self.format_boxes.values())):
            signal.connect(self.validate)
        self.validate()

    # ------------------------------------------------------------------ fields
    def _restore(self) -> None:
        saved = saved_fields(self.settings, SETTINGS_GROUP)

        def number(key: str, default: float) -> float:
            try:
                return float(saved.get(key, default))
            except ValueError:
                return default
        self.width_mm.setValue(number("width_mm", ONE_COLUMN_MM))
        self.height_mm.setValue(number("height_mm", round(ONE_COLUMN_MM * 0.75, 1)))
        self.auto_height.setChecked(saved.get("auto_height", "true") == "true")
        self.height_mm.setDisabled(self.auto_height.isChecked())
        self.font_pt.setValue(number("font_pt", DEFAULT_FONT_PT))
        self.dpi.setValue(int(number("dpi", DEFAULT_DPI)))
        self.style_edit.setText(str(saved.get("style", "")))
        ticked = str(saved.get("formats", ",".join(IMAGE_FORMATS))).split(",")
        for fmt, box in self.format_boxes.items():
            box.setChecked(fmt in ticked)
        self._width_typed(self.width_mm.value())

    def _preset_chosen(self, index: int) -> None:
        width = PRESETS[index][1]
        if width is not None:
            self.width_mm.setValue(width)

    def _width_typed(self, value: float) -> None:
        """Show the preset a typed width matches, else "custom width"."""
        index = next((i for i, (_, w) in enumerate(PRESETS) if w is not None and abs(w - value) < 0.05),
                     len(PRESETS) - 1)
        self.preset.blockSignals(True)
        self.preset.setCurrentIndex(index)
        self.preset.blockSignals(False)

    def _browse(self) -> None:
        if self._ask_path is not None:
            chosen = self._ask_path(self.path_edit.text())
            if chosen:
                self.path_edit.setText(chosen)

    def _fields(self) -> dict[str, object]:
        return {"width_mm": f"{self.width_mm.value():g}", "height_mm": f"{self.height_mm.value():g}",
                "auto_height": "true" if self.auto_height.isChecked() else "false",
                "font_pt": f"{self.font_pt.value():g}", "dpi": self.dpi.value(),
                "style": self.style_edit.text().strip(),
                "formats": ",".join(f for f, box in self.format_boxes.items() if box.isChecked())}

    # ------------------------------------------------------------------ checks
    def validate(self) -> bool:
        """Build the path, style and formats from the fields; show the first problem, enable Export only
        when there is none."""
        problem, path, style = "", None, None
        formats = tuple(f for f, box in self.format_boxes.items() if box.isChecked())
        text = self.path_edit.text().strip()
        if not text:
            problem = "choose where to write the figure"
        else:
            path = Path(text).expanduser()
            if path.suffix.lower() in _SUFFIXES:
                path = path.with_suffix("")
            if not path.name:
                problem = "give the figure a file name"
            elif not path.parent.is_dir():
                problem = f"folder {path.parent} does not exist"
        if not problem and not formats:
            problem = "tick at least one format"
        if not problem:
            try:
                style = PaperStyle(width_mm=self.width_mm.value(),
                                   height_mm=None if self.auto_height.isChecked() else self.height_mm.value(),
                                   dpi=self.dpi.value(), font_pt=self.font_pt.value(),
                                   style=self.style_edit.text().strip() or None)
            except InputError as exc:
                problem = str(exc)
        self.dpi.setEnabled(self.format_boxes["png"].isChecked())  # SVG and PDF are vector graphics
        self.problem.setText(problem)
        ok = not problem
        self.path, self.style, self.formats = (path, style, formats) if ok else (None, None, ())
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
        return ok

    def accept(self) -> None:
        if self.validate():
            save_fields(self.settings, SETTINGS_GROUP, self._fields())
            super().accept()


__all__ = ["PRESETS", "SETTINGS_GROUP", "QtFigureExportDialog"]
