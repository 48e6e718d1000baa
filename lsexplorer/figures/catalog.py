"""Every figure the app can show, by name: what it draws, for which runs, and what it needs.

A :class:`FigureSpec` binds a figure's stable name (the file stem; ``saddle_line_eigenvalues_vs_mu``)
to the panel that shows it and to its data function ``build(session, run, options) -> Plot``.
``lsexplorer export``, the app's File ▸ Export figure and ``lsexplorer.figures`` all draw through it.
A per-session figure (statistics, training, counting) ignores ``run``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..core.store.session import Session
from .plot import Plot


@dataclasses.dataclass(frozen=True)
class FigureOptions:
    """Choices a figure may take beyond the run: ``mu`` (the split along a saddle line; default its
    midpoint), ``eigs`` (``(first, count)``: which eigenvalues vs μ are drawn, 1-based), ``expand``
    (``(layer, neuron)``: the saddle line of that neuron of the run, any kind, instead of its closest
    saddle's), ``flip`` (neurons that match a teacher neuron with the opposite sign drawn at
    ``(-w, -a)``, as the Neurons panel's "sign-flipped representatives")."""

    mu: float | None = None
    eigs: tuple[int, int] | None = None
    expand: tuple[int, int] | None = None
    flip: bool = False


Build = Callable[[Session, int, FigureOptions], Plot]

#: What a Paths figure needs besides the registry's analyses: the run's stored minimum-energy path
#: to its nearest global minimum (``lsexplorer path SESSION --from I --to global``).
PATH_TO_GLOBAL = "path_to_global"


@dataclasses.dataclass(frozen=True)
class FigureSpec:
    """One figure: ``name`` (file stem), ``panel`` (the panel's slug), ``title`` (what it shows, short),
    ``build`` (its data function), ``per_run`` (drawn for a chosen run, or once per session) and
    ``needs`` (the analyses whose stored results it draws, which ``--compute-missing`` runs, or
    :data:`PATH_TO_GLOBAL`); ``view``
    names the panel's on-screen plot when the name is not ``<panel>_<view>``."""

    name: str
    panel: str
    title: str
    build: Build
    per_run: bool = True
    needs: tuple[str, ...] = ()
    view: str = ""

    def panel_view(self) -> str:
        """The figure's name among its panel's on-screen plots (``PanelBase.figures()``): ``view``, or
        the name without the panel's slug in front."""
        return self.view or self.name.removeprefix(f"{self.panel}_")

    def file_stem(self, run: int | None) -> str:
        """The file name without suffix: the figure's name, and its run if it is drawn per run."""
        return f"{self.name}_run{run}" if self.per_run and run is not None else self.name


__all__ = ["PATH_TO_GLOBAL", "Build", "FigureOptions", "FigureSpec"]
