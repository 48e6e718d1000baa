"""The training figure: the loss of every run against epochs, as the median with a 10–90 % band.

:func:`band` is also what the Training panel draws live.
"""

from __future__ import annotations

import numpy as np

from ..core.base.config_schema import is_flow
from ..core.store.session import Session
from .available import FigureUnavailable
from .catalog import FigureOptions, FigureSpec
from .plot import Axes, Band, Line, Plot


def band(losses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and 10 % / 90 % quantiles over seeds of ``losses (n, S)``, non-finite values ignored.

    Same numbers as ``np.nanpercentile(..., method="linear")``, vectorised: that one loops in Python
    over the ``n`` epochs (20 ms for 256 of them), this one sorts once.
    """
    v = np.sort(np.where(np.isfinite(losses), losses, np.nan), axis=1)  # NaN sort last
    count = np.isfinite(v).sum(axis=1)

    def quantile(q: float) -> np.ndarray:
        pos = np.maximum(count - 1, 0) * q
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
        a = np.take_along_axis(v, lo[:, None], axis=1)[:, 0]
        b = np.take_along_axis(v, hi[:, None], axis=1)[:, 0]
        out = a + (b - a) * (pos - lo)
        return np.where(count > 0, out, np.nan)

    return quantile(0.5), quantile(0.1), quantile(0.9)


def training_loss(session: Session, run: int | None = None, options: FigureOptions | None = None) -> Plot:
    """The stored loss curves of the session's runs: median and 10–90 % band over runs, on log axes."""
    curve = session.runs.loss_curve
    if curve is None or curve.epochs.size == 0:
        raise FigureUnavailable("no loss curves are stored in this session (it was imported, not trained)")
    epochs = curve.epochs.astype(float)
    losses = curve.loss.T
    keep = epochs > 0  # epoch 0 has no place on a log axis
    epochs, losses = epochs[keep], losses[keep]
    median, low, high = band(np.where(losses > 0, losses, np.nan))
    runs = losses.shape[1]
    flow = is_flow(session.config)
    return Plot(
        name="training_loss",
        caption=f"Training loss of {runs} runs against {'time t of gradient flow' if flow else 'epochs'}: "
                "median and 10–90 % band over runs.",
        axes=[Axes(layers=[Band("10–90 % of runs", epochs, low, high, color="C0"),
                           Line("median", epochs, median, color="C0", width=1.2)],
                   xlabel="time t" if flow else "epoch", ylabel="loss", xscale="log", yscale="log")],
        aspect=0.62)


FIGURES = (FigureSpec("training_loss", "training", "training loss", training_loss, per_run=False,
                      view="training_loss"),)

__all__ = ["FIGURES", "band", "training_loss"]
