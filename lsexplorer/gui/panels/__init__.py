"""The dockable panels; each is one class given the :class:`~lsexplorer.gui.model.SessionModel` only.

:data:`PANELS` is the one table of the main window's panels: the window builds its docks from it
(in this order: the View menu's and the export's), the export names its files after each entry's
:attr:`PanelSpec.slug`, and each entry says which registered analyses the panel requests. The
layout file (``resources/layouts/default.json``) places the panels by title.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import PanelBase
from .channel import QtChannelPanel
from .counting import QtCountingPanel
from .curvature_plane import QtCurvaturePlanePanel
from .escape import QtEscapePanel
from .neurons import QtNeuronPanel
from .paths import QtPathsPanel
from .run_table import QtRunTable
from .saddle_line import QtSaddleLinePanel
from .slices import QtSlicesPanel
from .statistics import QtStatisticsPanel
from .training import QtTrainingPanel


@dataclass(frozen=True)
class PanelSpec:
    """One panel of the main window: the ``MainWindow`` attribute that holds it, and its class."""

    attribute: str
    panel_class: type[PanelBase]

    @property
    def title(self) -> str:
        """The dock's title, by which the layout file places it."""
        return self.panel_class.title

    @property
    def slug(self) -> str:
        """The start of the panel's export file names: its title in lower case, spaces as ``_``."""
        return self.title.lower().replace(" ", "_")

    @property
    def analyses(self) -> tuple[str, ...]:
        """The registered analyses (``core.analyses.REGISTRY``) the panel shows and may request."""
        return self.panel_class.analyses


#: Every panel of the main window, in menu and export order.
PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("run_table", QtRunTable),
    PanelSpec("neurons", QtNeuronPanel),
    PanelSpec("statistics", QtStatisticsPanel),
    PanelSpec("training", QtTrainingPanel),
    PanelSpec("counting", QtCountingPanel),
    PanelSpec("saddle_line", QtSaddleLinePanel),
    PanelSpec("slices", QtSlicesPanel),
    PanelSpec("escape", QtEscapePanel),
    PanelSpec("channel", QtChannelPanel),
    PanelSpec("paths", QtPathsPanel),
    PanelSpec("curvature_plane", QtCurvaturePlanePanel),
)

__all__ = ["PANELS", "PanelBase", "PanelSpec", "QtChannelPanel", "QtCountingPanel", "QtCurvaturePlanePanel",
           "QtEscapePanel", "QtNeuronPanel", "QtPathsPanel", "QtRunTable", "QtSaddleLinePanel", "QtSlicesPanel",
           "QtStatisticsPanel", "QtTrainingPanel"]
