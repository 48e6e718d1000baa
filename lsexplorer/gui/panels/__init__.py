"""The dockable panels; each is one class given the :class:`~lsexplorer.gui.model.SessionModel` only."""

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

__all__ = ["QtChannelPanel", "QtCountingPanel", "QtCurvaturePlanePanel", "QtEscapePanel", "QtNeuronPanel", "QtPathsPanel", "QtRunTable", "QtSaddleLinePanel", "QtSlicesPanel",
           "QtStatisticsPanel", "QtTrainingPanel"]
