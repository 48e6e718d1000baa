"""The "New experiment…" dialog: a training config built and validated by ``core.experiment``.

Every edit re-runs :func:`~lsexplorer.core.experiment.experiment.build_config` with the preset and the fields
as overrides — the same path as ``lsexplorer train`` — so the dialog accepts exactly the configs the
CLI accepts and shows the same one-line reason for the ones it refuses. The dialog also asks where
the finished session will be saved, so a long run needs nobody at the end.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.base.estimates import estimate_experiment
from .dialog_parts import ok_cancel_buttons, problem_label
from .remembered import (
    last_folder,
    remember_folder,
    save_fields,
    saved_fields,
    user_settings,
)

#: QSettings group of the fields the dialog remembers, and the folder kind of its output file.
SETTINGS_GROUP = "new_experiment"


def experiment_module():
    """``lsexplorer.core.experiment.experiment``, imported on first use (it pulls in torch and the trainers)."""
    from ..core.experiment import experiment

    return experiment


class QtExperimentDialog(QDialog):
    """Collects preset, width, seeds, epochs, lr, optimizer, dtype, device and the output file.

    After ``accepted``, :attr:`config` holds the validated config dict and :attr:`output_path` the
    session file to write.
    """

    def __init__(self, parent: QWidget | None = None, default_dir: str | Path | None = None,
                 settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New experiment")
        self.config: dict | None = None
        self.output_path: Path | None = None
        self.settings = settings if settings is not None else user_settings()
        remembered = last_folder(self.settings, SETTINGS_GROUP)
        self._default_dir = remembered or (Path(default_dir) if default_dir else Path.home())
        try:
            self._experiment = experiment_module()
            self._import_error = ""
        except Exception as exc:
            self._experiment = None
            self._import_error = f"training is not available in this installation: {exc}"

        self.preset = QComboBox()
        self.width = QSpinBox()
        self.width.setRange(1, 100_000)
        self.seeds = QSpinBox()
        self.seeds.setRange(1, 1_000_000)
        self.first_seed = QSpinBox()
        self.first_seed.setRange(0, 2**31 - 1)
        self.epochs = QLineEdit()
        self.epochs.setToolTip("Full-batch epochs; 1e7 in the thesis. Scientific notation is fine.")
        self.lr = QLineEdit()
        self.lr.setToolTip("Learning rate; 1e-4 in the thesis")
        self.optimizer = QComboBox()
        for text, name in (("adam", "adam"), ("sgd", "sgd"), ("gradient flow", "flow")):
            self.optimizer.addItem(text, name)
        self.optimizer.setToolTip("gradient flow: the ODE θ' = −∇L(θ) integrated in float64 (RODAS4, exact Hessian); "
                                  "its length is an end time t, and it has no learning rate")
        self.dtype = QComboBox()
        self.dtype.addItems(["float32", "float64"])
        self.dtype.setToolTip("Training precision; refinement is always float64")
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.output = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.output, 1)
        out_row.addWidget(browse)

        form = QFormLayout()
        form.addRow("Preset", self.preset)
        form.addRow("Hidden width", self.width)
        form.addRow("Seeds", self.seeds)
        form.addRow("First seed", self.first_seed)
        form.addRow("Epochs", self.epochs)
        self.epochs_label = form.labelForField(self.epochs)
        form.addRow("Learning rate", self.lr)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Training dtype", self.dtype)
        form.addRow("Device", self.device)
        form.addRow("Save session to", out_row)
        self.problem = problem_label()
        # What the fields cost, before Train is pressed (the thesis' defaults take over half an hour on 2 cores).
        self.estimate = QLabel()
        self.estimate.setWordWrap(True)
        self.buttons = ok_cancel_buttons(self, "Train")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.estimate)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)

        if self._experiment is not None:
            # Population presets train by plain gradient descent with their own settings (teacher width,
            # steps): the command line runs them (lsexplorer train --preset relu-gaussian).
            self.preset.addItems([name for name, p in self._experiment.PRESETS.items()
                                  if p["train"].get("optimizer") != "gd"])
        self.preset.currentTextChanged.connect(self._load_preset)
        for edit in (self.epochs, self.lr, self.output):
            edit.textChanged.connect(self.validate)
        for spin in (self.width, self.seeds, self.first_seed):
            spin.valueChanged.connect(self.validate)
        for combo in (self.dtype, self.device):
            combo.currentTextChanged.connect(self.validate)
        self.optimizer.currentIndexChanged.connect(self._optimizer_changed)
        self._restore_fields()

    def _load_preset(self, name: str) -> None:
        """Fill the fields with the preset's settings (the user edits from there)."""
        if self._experiment is None or name not in self._experiment.PRESETS:
            self.validate()
            return
        p = self._experiment.PRESETS[name]
        widgets = (self.width, self.seeds, self.first_seed, self.epochs, self.lr, self.optimizer, self.dtype,
                   self.device)
        for w in widgets:
            w.blockSignals(True)
        self.width.setValue(int(p["network"].get("width", 5)))
        self.seeds.setValue(int(p["seeds"].get("count", 10)))
        self.first_seed.setValue(int(p["seeds"].get("start", 0)))
        self.epochs.setText(f"{int(p['train']['epochs']):g}" if p["train"]["epochs"] >= 1e5 else
                            str(int(p["train"]["epochs"])))
        self.lr.setText(f"{p['train']['lr']:g}")
        self.optimizer.setCurrentIndex(max(0, self.optimizer.findData(p["train"].get("optimizer", "adam"))))
        self.dtype.setCurrentText(p["train"].get("dtype", "float32"))
        self.device.setCurrentText(p["train"].get("device", "auto"))
        for w in widgets:
            w.blockSignals(False)
        self._show_optimizer()
        if not self.output.text():
            stamp = time.strftime("%Y%m%d-%H%M%S")
            self.output.setText(str(self._default_dir / f"{name}-{stamp}.h5"))
        self.validate()

    def _flow(self) -> bool:
        return self.optimizer.currentData() == "flow"

    def _show_optimizer(self) -> None:
        """Gradient flow runs to an end time t in float64 and has no learning rate: the fields say so."""
        flow = self._flow()
        self.epochs_label.setText("End time t" if flow else "Epochs")
        self.epochs.setToolTip("Gradient flow runs from t = 0 to this time; 1e7 by default." if flow else
                               "Full-batch epochs; 1e7 in the thesis. Scientific notation is fine.")
        self.lr.setEnabled(not flow)
        self.dtype.setEnabled(not flow)
        if flow:
            self.dtype.setCurrentText("float64")

    def _optimizer_changed(self) -> None:
        """Switching to or from gradient flow puts the matching length in the field (an end time t, or
        the preset's epochs)."""
        if self._experiment is not None and self.preset.currentText() in self._experiment.PRESETS:
            train = self._experiment.PRESETS[self.preset.currentText()]["train"]
            length = self._experiment.TrainConfig().t_max if self._flow() else train["epochs"]
            self.epochs.blockSignals(True)
            self.epochs.setText(f"{length:g}" if length >= 1e5 else str(int(length)))
            self.epochs.blockSignals(False)
            if not self._flow():
                self.dtype.setCurrentText(train.get("dtype", "float32"))
        self._show_optimizer()
        self.validate()

    def _fields(self) -> dict[str, object]:
        return {"preset": self.preset.currentText(), "width": self.width.value(), "seeds": self.seeds.value(),
                "first_seed": self.first_seed.value(), "epochs": self.epochs.text(), "lr": self.lr.text(),
                "optimizer": self.optimizer.currentData(), "dtype": self.dtype.currentText(),
                "device": self.device.currentText()}

    def _restore_fields(self) -> None:
        """The preset and fields of the last accepted dialog (the preset's own values the first time)."""
        saved = saved_fields(self.settings, SETTINGS_GROUP)
        if saved.get("preset") and self.preset.findText(saved["preset"]) >= 0:
            self.preset.blockSignals(True)
            self.preset.setCurrentText(saved["preset"])
            self.preset.blockSignals(False)
        self._load_preset(self.preset.currentText())
        if saved.get("preset") != self.preset.currentText():
            return
        for spin, key in ((self.width, "width"), (self.seeds, "seeds"), (self.first_seed, "first_seed")):
            if saved.get(key, "").isdigit():
                spin.setValue(int(saved[key]))
        for edit, key in ((self.epochs, "epochs"), (self.lr, "lr")):
            if saved.get(key):
                edit.setText(saved[key])
        if self.optimizer.findData(saved.get("optimizer", "")) >= 0:
            self.optimizer.blockSignals(True)
            self.optimizer.setCurrentIndex(self.optimizer.findData(saved["optimizer"]))
            self.optimizer.blockSignals(False)
        for combo, key in ((self.dtype, "dtype"), (self.device, "device")):
            if combo.findText(saved.get(key, "")) >= 0:
                combo.setCurrentText(saved[key])
        self._show_optimizer()
        self.validate()

    def overrides(self) -> dict:
        """The fields as ``build_config`` overrides; ValueError names a field that is not a number."""
        length = "end time t" if self._flow() else "epochs"
        try:
            epochs_f = float(self.epochs.text())
        except ValueError:
            raise ValueError(f"{length} must be a number, got {self.epochs.text()!r}") from None
        if not self._flow() and epochs_f != int(epochs_f):
            raise ValueError(f"epochs must be a whole number, got {self.epochs.text()}")
        if self._flow():
            return {
                "preset": self.preset.currentText(),
                "network": {"width": self.width.value()},
                "seeds": {"start": self.first_seed.value(), "count": self.seeds.value()},
                "train": {"optimizer": "flow", "t_max": epochs_f, "device": self.device.currentText()},
            }
        try:
            lr = float(self.lr.text())
        except ValueError:
            raise ValueError(f"learning rate must be a number, got {self.lr.text()!r}") from None
        return {
            "preset": self.preset.currentText(),
            "network": {"width": self.width.value()},
            "seeds": {"start": self.first_seed.value(), "count": self.seeds.value()},
            "train": {"epochs": int(epochs_f), "lr": lr, "optimizer": self.optimizer.currentData(),
                      "dtype": self.dtype.currentText(), "device": self.device.currentText()},
        }

    def validate(self) -> bool:
        """Build the config from the fields; show the first problem and enable Train only when none."""
        problem = self._import_error
        config = None
        if not problem:
            try:
                config = self._experiment.build_config(self.preset.currentText(), None, self.overrides())
                self._check_device(config["train"]["device"])
            except (ValueError, self._experiment.ConfigError) as exc:
                problem = str(exc)
        path = Path(self.output.text().strip()).expanduser() if self.output.text().strip() else None
        if not problem:
            if path is None:
                problem = "choose where to save the session"
            elif path.suffix.lower() not in (".h5", ".hdf5"):
                problem = "the session file should end in .h5"
            elif not path.parent.is_dir():
                problem = f"folder {path.parent} does not exist"
        note = f"{path.name} exists and will be replaced when training finishes" if (
            not problem and path is not None and path.exists()) else ""
        self.problem.setText(problem or note)
        self.estimate.setText(f"Estimated: {estimate_experiment(config).describe()}." if config is not None else "")
        self.problem.setStyleSheet("color: #b00020;" if problem else "color: #8a6d00;")
        self.config = config if not problem else None
        self.output_path = path if not problem else None
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)
        return not problem

    @staticmethod
    def _check_device(device: str) -> None:
        from ..core.training.train import resolve_device

        resolve_device(device)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the session to", self.output.text(),
                                              "lsexplorer sessions (*.h5)")
        if path:
            self.output.setText(path if path.endswith(".h5") else path + ".h5")

    def accept(self) -> None:
        if self.validate():
            save_fields(self.settings, SETTINGS_GROUP, self._fields())
            remember_folder(self.settings, SETTINGS_GROUP, self.output_path)
            super().accept()
