"""How a deep net runs off to infinity: saturating layers or merging neuron pairs, measured.

Refinement of a deep net can lower the loss by growing the weights without bound. Two different
kinds of infinity lie at the end of such a path, and they call for different treatments:

*saturation*
    a hidden layer's incoming weights (with bias) grow along a fixed direction, so its sigmoids
    turn into steps: almost no sample stays in the transition band ``|z| < 2``. The limit is a net
    with Heaviside units there, piecewise constant in everything below that layer: there is no
    smooth limit model and no Hessian to certify.
*flat channel* (Martinelli et al. 2025, arXiv 2506.14951)
    two neurons of a layer merge, ``z_i - z_j -> 0`` on the data, while their outgoing vectors
    diverge with opposite signs keeping ``(z_i - z_j) A`` finite; the pair tends to a gated linear
    unit and the limit is a smooth finite model (``channel_model.py`` for one hidden layer).

:func:`runoff_report` measures both from two points of the run-off (e.g. the trained point and the
refined one): per hidden layer the growth and direction change of each neuron's incoming vector,
the share of the parameter change the layer holds, the fraction of samples in the transition band,
and the most aligned pair of neurons with the gap of their pre-activations on the data (``epsilon``)
and their outgoing vectors (``A``). The gap is measured on the data, not as a weight difference:
two saturating neurons can align their weight directions (``|cos| -> 1``) while the gap between
their pre-activations grows with the scale, which is no channel.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..base.spec import MLPSpec

#: Pre-activations with ``|z|`` below this are in the transition band of a sigmoid or tanh
#: (``sigmoid(2) = 0.88``: outside the band a unit is within 12 % of a step).
TRANSITION = 2.0
_SATURATING = ("sigmoid", "tanh")


@dataclasses.dataclass
class LayerRunoff:
    """One hidden layer between two points (arrays ``(n,)`` over its neurons).

    growth: ``||w_end|| / ||w_start||`` of each incoming vector (bias included); direction_cos: the
    cosine between them; transition: fraction of samples with ``|z| < 2`` at the end; share: the
    fraction of ``||theta_end - theta_start||^2`` in the layer's incoming weights and biases (the
    last hidden layer also holds the output layer's). pair: the two neurons whose incoming
    vectors are most aligned at the end; pair_cos; gap_start, gap_end: rms over the data of
    ``z_i - s z_j`` (``s`` the sign of the alignment); out_start, out_end: the larger ``||A||`` of
    the pair's outgoing vectors; out_sum_end: ``||A_i + s A_j||`` at the end.
    """

    layer: int
    growth: np.ndarray
    direction_cos: np.ndarray
    transition: np.ndarray
    share: float
    pair: tuple[int, int]
    pair_cos: float
    gap_start: float
    gap_end: float
    out_start: float
    out_end: float
    out_sum_end: float

    def saturates(self) -> bool:
        """The layer carries most of the change and its units became steps along a fixed direction."""
        return bool(self.share >= 0.5 and np.median(self.growth) >= 1.5
                    and np.median(self.direction_cos) >= 0.9 and np.median(self.transition) <= 0.05)

    def merges(self) -> bool:
        """The pair merges on the data while its outgoing vectors grow with a finite first moment."""
        return bool(self.gap_end <= 0.5 * self.gap_start and self.out_end >= 1.5 * self.out_start
                    and self.gap_end * self.out_end <= 2.0 * self.gap_start * self.out_start)


@dataclasses.dataclass
class RunoffReport:
    """:class:`LayerRunoff` of every hidden layer, the growth ``||theta_end|| / ||theta_start||`` and
    the activation (only sigmoid and tanh units saturate into steps)."""

    layers: list[LayerRunoff]
    norm_growth: float
    activation: str

    def summary(self) -> str:
        """One line: which layers saturate and which pairs merge, with the numbers that say so."""
        parts = []
        for r in self.layers:
            if self.activation in _SATURATING and r.saturates():
                parts.append(f"hidden layer {r.layer} saturates into steps (incoming x{np.median(r.growth):.3g}, "
                             f"{100 * (1 - np.median(r.transition)):.1f} % of samples at |z| >= {TRANSITION:g}, "
                             f"{100 * r.share:.0f} % of the change)")
            if r.merges():
                i, j = r.pair
                parts.append(f"neurons {i}+{j} of hidden layer {r.layer} merge (gap {r.gap_start:.3g} -> "
                             f"{r.gap_end:.3g}, |A| {r.out_start:.3g} -> {r.out_end:.3g})")
        if not parts:
            return f"|theta| x{self.norm_growth:.3g}: no layer saturates and no pair merges"
        return f"|theta| x{self.norm_growth:.3g}: " + "; ".join(parts)


def _incoming(spec: MLPSpec, theta: np.ndarray, index: int) -> np.ndarray:
    """Incoming weights of layer ``index`` with the bias as a last column: ``(n_out, n_in [+1])``."""
    sl = spec.layers[index]
    w = theta[sl.w_start:sl.w_stop].reshape(sl.n_out, sl.n_in)
    if sl.b_start is None:
        return w
    return np.concatenate([w, theta[sl.b_start:sl.b_stop][:, None]], axis=1)


def _outgoing(spec: MLPSpec, theta: np.ndarray, index: int) -> np.ndarray:
    """Outgoing vectors of the neurons of hidden layer ``index``: ``(n_neurons, n_next)``."""
    sl = spec.layers[index + 1]
    if sl.w_start == sl.w_stop:
        return np.ones((sl.n_in, sl.n_out))
    return theta[sl.w_start:sl.w_stop].reshape(sl.n_out, sl.n_in).T


def pre_activations(spec: MLPSpec, theta, x) -> list[np.ndarray]:
    """``z_l (N, n_l)`` of every hidden layer at ``theta (P,)`` for inputs ``x (N, d)``, float64."""
    theta = np.asarray(theta, dtype=np.float64)
    h = np.asarray(x, dtype=np.float64)
    out = []
    for index in range(len(spec.hidden_widths)):
        w = _incoming(spec, theta, index)
        z = h @ w[:, :h.shape[1]].T + (w[:, h.shape[1]] if w.shape[1] > h.shape[1] else 0.0)
        out.append(z)
        h = _activate(spec.activation, z)
    return out


def _activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))
    if name == "tanh":
        return np.tanh(z)
    if name == "softplus":
        return np.logaddexp(0.0, z)
    return np.maximum(z, 0.0)


def _unit_rows(m: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(n > 0, n, 1.0)


def runoff_report(spec: MLPSpec, theta_start, theta_end, x) -> RunoffReport:
    """Measure how ``theta_start (P,)`` ran off to ``theta_end (P,)`` on inputs ``x (N, d)`` (module docstring)."""
    t0 = np.asarray(theta_start, dtype=np.float64)
    t1 = np.asarray(theta_end, dtype=np.float64)
    z0, z1 = pre_activations(spec, t0, x), pre_activations(spec, t1, x)
    change = t1 - t0
    total = max(float(change @ change), 1e-300)
    layers = []
    for index in range(len(spec.hidden_widths)):
        w0, w1 = _incoming(spec, t0, index), _incoming(spec, t1, index)
        n0, n1 = np.linalg.norm(w0, axis=1), np.linalg.norm(w1, axis=1)
        cos_t = np.sum(_unit_rows(w0) * _unit_rows(w1), axis=1)
        sl = spec.layers[index]
        stop = sl.b_stop if sl.b_stop is not None else sl.w_stop
        share = float(change[sl.w_start:stop] @ change[sl.w_start:stop]) / total
        if index == len(spec.hidden_widths) - 1:
            last = spec.layers[-1]
            tail = last.b_stop if last.b_stop is not None else last.w_stop
            share += float(change[last.w_start:tail] @ change[last.w_start:tail]) / total
        u = _unit_rows(w1)
        align = u @ u.T
        np.fill_diagonal(align, 0.0)
        i, j = np.unravel_index(int(np.argmax(np.abs(align))), align.shape) if len(u) > 1 else (0, 0)
        s = 1.0 if align[i, j] >= 0 else -1.0
        a0, a1 = _outgoing(spec, t0, index), _outgoing(spec, t1, index)
        layers.append(LayerRunoff(
            layer=index + 1, growth=n1 / np.where(n0 > 0, n0, 1.0), direction_cos=cos_t,
            transition=np.mean(np.abs(z1[index]) < TRANSITION, axis=0), share=share, pair=(int(i), int(j)),
            pair_cos=float(align[i, j]),
            gap_start=float(np.sqrt(np.mean((z0[index][:, i] - s * z0[index][:, j]) ** 2))),
            gap_end=float(np.sqrt(np.mean((z1[index][:, i] - s * z1[index][:, j]) ** 2))),
            out_start=float(max(np.linalg.norm(a0[i]), np.linalg.norm(a0[j]))),
            out_end=float(max(np.linalg.norm(a1[i]), np.linalg.norm(a1[j]))),
            out_sum_end=float(np.linalg.norm(a1[i] + s * a1[j]))))
    norm_growth = float(np.linalg.norm(t1) / max(float(np.linalg.norm(t0)), 1e-300))
    return RunoffReport(layers, norm_growth, spec.activation)


__all__ = ["TRANSITION", "LayerRunoff", "RunoffReport", "pre_activations", "runoff_report"]
