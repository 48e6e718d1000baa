"""The dockable panels; each is one class given the :class:`~lsexplorer.gui.model.SessionModel` only."""

from .counting import QtCountingPanel
from .neurons import QtNeuronPanel
from .run_table import QtRunTable
from .statistics import QtStatisticsPanel
from .training import QtTrainingPanel

__all__ = ["QtCountingPanel", "QtNeuronPanel", "QtRunTable", "QtStatisticsPanel", "QtTrainingPanel"]
