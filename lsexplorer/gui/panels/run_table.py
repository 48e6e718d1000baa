"""The run table: one row per critical point, sortable, filterable by kind, walked with the keyboard.

Clicking a row or moving with up/down selects that run in the model; selecting a run elsewhere
moves the table's current row. The table tells the model its visible order (after sorting and
filtering), so "next local minimum" walks the rows as the user sees them.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...core.analyses import closest_saddle
from ...core.base.kinds import KINDS, Kind
from ..model import SessionModel
from ..style import KIND_COLORS, KIND_LABELS, fmt
from .base import PanelBase, Table

#: Short kind names that keep the column narrow.
SHORT_KINDS = {k.value: k.short for k in Kind}

#: (header, runs field, tooltip) of each column.
COLUMNS = (
    ("Seed", "seed", "Seed of the run (identifies it)"),
    ("Kind", "kind", "Classification of the refined point"),
    ("Loss", "loss", "L(θ) at the refined point"),
    ("‖∇L‖", "grad_norm", "Gradient norm at the refined point"),
    ("λ_min", "lambda_min", "Smallest Hessian eigenvalue"),
    ("Deg.", "degeneracy", "Degeneracy: number of Hessian eigenvalues counted as zero"),
    ("Sym.", "symmetry_induced", "Symmetry-induced: embedded from a narrower network"),
    ("Type", "symmetry_type", "Symmetry type: how the point reduces to a narrower one (dup: duplicated neuron, "
                              "flip: sign-flipped duplicate, a=0: zero outgoing weight, w=0: zero incoming weight)"),
)
#: Short names of the symmetry types (``core/symmetry/reduction.py``) that keep the column narrow.
SHORT_TYPES = {"duplicate": "dup", "flipped_duplicate": "flip", "zero_outgoing": "a=0", "zero_incoming": "w=0",
               "irreducible": "–"}
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
_KIND_RANK = {k: i for i, k in enumerate(KINDS)}


_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_DECORATION = int(Qt.ItemDataRole.DecorationRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_SORT = int(SORT_ROLE)
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)


#: Names of the symmetry types a person reads in the Statistics panel.
TYPE_LABELS = {"duplicate": "duplicate", "flipped_duplicate": "flipped duplicate", "zero_outgoing": "zero outgoing",
               "zero_incoming": "zero incoming", "irreducible": "irreducible"}
IRREDUCIBLE = "irreducible"


def type_label(symmetry_type: str) -> str:
    """``"duplicate+zero_outgoing"`` as ``"duplicate + zero outgoing"`` (:data:`TYPE_LABELS`)."""
    return " + ".join(TYPE_LABELS.get(part, part) for part in symmetry_type.split("+"))


def short_type(symmetry_type: str) -> str:
    """``"duplicate+zero_outgoing"`` as ``"dup+a=0"`` (:data:`SHORT_TYPES`)."""
    return "+".join(SHORT_TYPES.get(part, part) for part in symmetry_type.split("+")) if symmetry_type else ""


def symmetry_types(session) -> list[str]:
    """The stored symmetry type of every run (the closest-saddle analysis), ``""`` where none is stored."""
    table = closest_saddle.read_table(session)
    types = [""] * session.runs.n_runs
    if table is not None:
        for row, kind in zip(table.run, table.symmetry_type):
            types[int(row)] = str(kind)
    return types


def not_converged_reasons(session) -> dict[int, str]:
    """The channel analysis' measured reason for each run that stays not converged after it."""
    points = session.analyses.get("channels", {}).get("points", {})
    return {int(row): str(point["reason"]) for row, point in points.items()
            if isinstance(point, dict) and point.get("kind") == Kind.NOT_CONVERGED and point.get("reason")}


class QtRunTableModel(QAbstractTableModel):
    """Read-only table over ``session.runs`` of a :class:`SessionModel`; row ``i`` is run ``i``.

    Every cell of every role is prepared once per session, so ``data`` (called thousands of times per
    repaint, from C++) is two list look-ups.
    """

    def __init__(self, model: SessionModel) -> None:
        super().__init__()
        self._model = model
        self._roles: dict[int, list[list]] = {}
        self._n = 0
        self.reload()

    def reload(self) -> None:
        """Rebuild from the model's session."""
        self.beginResetModel()
        s = self._model.session
        display, sort = [], []
        self._n = s.runs.n_runs if s is not None else 0
        if s is not None:
            r = s.runs
            for _, field, _ in COLUMNS:
                if field == "symmetry_type":
                    types = symmetry_types(s)
                    display.append([short_type(t) for t in types])
                    rank = {t: float(k) for k, t in enumerate(sorted(set(types)))}  # alphabetical; none first
                    sort.append([rank[t] for t in types])
                    continue
                values = getattr(r, field)
                if field == "kind":
                    display.append([SHORT_KINDS.get(str(k), str(k)) for k in values])
                    sort.append([float(_KIND_RANK.get(str(k), 99)) for k in values])
                elif field == "symmetry_induced":
                    display.append(["yes" if v else "" for v in values])
                    sort.append(values.astype(float).tolist())
                elif field in ("seed", "degeneracy"):
                    display.append([str(int(v)) for v in values])
                    sort.append(values.astype(float).tolist())
                else:
                    display.append([fmt(v) for v in values])
                    # NaN compares false both ways and would scramble a sort: put it last.
                    sort.append(np.where(np.isnan(values), np.inf, values).astype(float).tolist())
            colors = [QColor(KIND_COLORS.get(str(k), "#999999")) for k in r.kind]
            unexplained = not_converged_reasons(s)
            tips = [f"seed {int(r.seed[i])}: {KIND_LABELS.get(str(r.kind[i]), r.kind[i])}\n"
                    f"loss {fmt(r.loss[i], 6)}, ‖∇L‖ {fmt(r.grad_norm[i], 3)}, λ_min {fmt(r.lambda_min[i], 4)}\n"
                    f"refinement: {r.stop_reason[i]}" + (f"\nwhy: {unexplained[i]}" if i in unexplained else "")
                    for i in range(r.n_runs)]
            kind_col = [f for _, f, _ in COLUMNS].index("kind")
            none = [None] * r.n_runs
            self._roles = {
                _DISPLAY: display, _SORT: sort, _TOOLTIP: [tips] * len(COLUMNS),
                _DECORATION: [colors if c == kind_col else none for c in range(len(COLUMNS))],
                _ALIGNMENT: [[_LEFT if c == kind_col else _RIGHT] * r.n_runs for c in range(len(COLUMNS))],
            }
        else:
            self._roles = {}
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else self._n

    def columnCount(self, parent: QModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(COLUMNS)

    def data(self, index: QModelIndex, role=_DISPLAY):
        table = self._roles.get(int(role))
        return None if table is None else table[index.column()][index.row()]

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section][0]
            if role == Qt.ItemDataRole.ToolTipRole:
                return COLUMNS[section][2]
        return None


class QtKindFilterProxy(QSortFilterProxyModel):
    """Sorts by the numeric :data:`SORT_ROLE` and keeps only runs of the chosen kind (None: all)."""

    def __init__(self, model: SessionModel) -> None:
        super().__init__()
        self._model = model
        self._kind: str | None = None
        self.setSortRole(SORT_ROLE)

    @property
    def kind(self) -> str | None:
        return self._kind

    def set_kind(self, kind: str | None) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9; invalidateFilter is deprecated there
            self.beginFilterChange()
            self._kind = kind
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._kind = kind
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:
        if self._kind is None or self._model.session is None:
            return True
        return str(self._model.session.runs.kind[source_row]) == self._kind


class QtRunTable(PanelBase):
    """Panel: the sortable, filterable table of runs, following and driving the selection."""

    title = "Runs"

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.table_model = QtRunTableModel(model)
        self.proxy = QtKindFilterProxy(model)
        self.proxy.setSourceModel(self.table_model)

        self.kind_filter = QComboBox()
        self.kind_filter.setToolTip("Show only runs of one kind")
        self.kind_filter.currentIndexChanged.connect(self._filter_changed)
        self.count_label = QLabel()

        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # run order until the user sorts
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        # Columns are sized to their contents once per session, from the first rows (ResizeToContents
        # would measure rows again at every change: ~0.5 s per selection for 1000 runs).
        self.view.horizontalHeader().setResizeContentsPrecision(40)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.selectionModel().currentRowChanged.connect(self._row_changed)
        for sig in (self.proxy.layoutChanged, self.proxy.modelReset, self.proxy.rowsInserted,
                    self.proxy.rowsRemoved):
            sig.connect(self._publish_order)

        top = QHBoxLayout()
        top.addWidget(QLabel("Kind:"))
        top.addWidget(self.kind_filter, 1)
        top.addWidget(self.count_label)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.view)
        self.set_content(content)
        model.runsChanged.connect(self.on_session_changed)
        self._syncing = False
        self.on_session_changed()

    # ---------------------------------------------------------------- model -> view
    def on_session_changed(self) -> None:
        self.table_model.reload()
        self._fill_filter()
        self._publish_order()
        self.view.resizeColumnsToContents()
        self._fit_kind_column()

    def _fit_kind_column(self) -> None:
        """Kind column and filter popup wide enough for every kind's label, whichever rows were measured."""
        metrics = self.view.fontMetrics()
        icon = self.view.style().pixelMetric(self.view.style().PixelMetric.PM_SmallIconSize)
        label = max(metrics.horizontalAdvance(SHORT_KINDS[k]) for k in KINDS)
        column = [f for _, f, _ in COLUMNS].index("kind")
        header = self.view.horizontalHeader()
        header.resizeSection(column, max(header.sectionSize(column), label + icon + 24))
        items = [self.kind_filter.itemText(i) for i in range(self.kind_filter.count())]
        popup = max((metrics.horizontalAdvance(t) for t in items), default=0) + icon + 40
        self.kind_filter.view().setMinimumWidth(popup)

    def on_current_changed(self, index: int) -> None:
        self._show_current()

    def _fill_filter(self) -> None:
        self.kind_filter.blockSignals(True)
        self.kind_filter.clear()
        self.kind_filter.addItem("All kinds", None)
        s = self.model.session
        if s is not None:
            for kind, n in ((k, int(np.count_nonzero(s.runs.kind == k))) for k in KINDS):
                self.kind_filter.addItem(f"{KIND_LABELS[kind]} ({n})", kind)
                self.kind_filter.setItemData(self.kind_filter.count() - 1, QColor(KIND_COLORS[kind]),
                                             Qt.ItemDataRole.DecorationRole)
        self.kind_filter.setCurrentIndex(0)
        self.proxy.set_kind(None)
        self.kind_filter.blockSignals(False)

    def _show_current(self) -> None:
        row = self.model.current
        self._syncing = True
        try:
            proxy_index = self.proxy.mapFromSource(self.table_model.index(row, 0)) if row >= 0 else QModelIndex()
            if proxy_index.isValid():
                self.view.setCurrentIndex(proxy_index)
                self.view.scrollTo(proxy_index)
            else:  # not visible under the filter
                self.view.selectionModel().clearSelection()
        finally:
            self._syncing = False

    # ---------------------------------------------------------------- view -> model
    def _row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._syncing or not current.isValid():
            return
        self.model.select(self.proxy.mapToSource(current).row())

    def _filter_changed(self) -> None:
        self.set_kind_filter(self.kind_filter.currentData())

    def set_kind_filter(self, kind: str | None) -> None:
        """Show only runs of ``kind`` (None: all). The selection stays if it is listed; otherwise the first
        listed run is selected (none if none is), so the panels never show a run the table hides."""
        index = self.kind_filter.findData(kind)
        if index >= 0 and index != self.kind_filter.currentIndex():
            self.kind_filter.setCurrentIndex(index)  # re-enters through _filter_changed
            return
        self.proxy.set_kind(kind)
        self._publish_order()
        rows = self.visible_rows()
        if self.model.current not in rows:
            self.model.select(int(rows[0]) if len(rows) else -1)
        self._show_current()

    def _publish_order(self, *args) -> None:
        rows = self.visible_rows()
        self.model.set_view_order(rows)
        n = self.table_model.rowCount()
        self.count_label.setText(f"{len(rows)} of {n}" if len(rows) != n else f"{n} runs")

    def visible_rows(self) -> np.ndarray:
        """Run rows in the order the table shows them."""
        return np.array([self.proxy.mapToSource(self.proxy.index(i, 0)).row()
                         for i in range(self.proxy.rowCount())], dtype=int)

    def tables(self) -> dict[str, Table]:
        s = self.model.session
        if s is None:
            return {}
        r = s.runs
        fields = [f for _, f, _ in COLUMNS]
        types = symmetry_types(s)
        rows = [[str(r.kind[i]) if f == "kind" else types[i] if f == "symmetry_type" else getattr(r, f)[i].item()
                 for f in fields] for i in self.visible_rows()]
        return {"runs": Table(fields, rows)}
