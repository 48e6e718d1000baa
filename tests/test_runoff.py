"""Run-off of deep nets: a planted saturating layer and a planted merging pair are told apart, with
the measured growth, gap and outgoing norms equal to what was planted."""

import numpy as np
import torch

from lsexplorer.core.channels.flat_channel import analyse_channel
from lsexplorer.core.landscape.nets import MLPSpec, as_tensor, forward
from lsexplorer.core.channels.runoff import pre_activations, runoff_report

SPEC = MLPSpec((3, 4, 4, 1), "sigmoid", True)
RNG = np.random.default_rng(7)
X = RNG.normal(size=(200, 3))
THETA = RNG.normal(size=SPEC.n_params)


def _with_layer(theta, index, w, b):
    """``theta`` with hidden layer ``index``'s incoming weights ``w`` and biases ``b`` replaced."""
    out = theta.copy()
    sl = SPEC.layers[index]
    out[sl.w_start:sl.w_stop] = np.ravel(w)
    out[sl.b_start:sl.b_stop] = b
    return out


def _layer(theta, index):
    sl = SPEC.layers[index]
    return theta[sl.w_start:sl.w_stop].reshape(sl.n_out, sl.n_in), theta[sl.b_start:sl.b_stop]


def test_pre_activations_rebuild_the_network_output():
    z = pre_activations(SPEC, THETA, X)
    w_out, b_out = _layer(THETA, 2)
    out = (1.0 / (1.0 + np.exp(-z[-1]))) @ w_out.T + b_out
    ref = forward(SPEC, as_tensor(THETA, torch.float64), as_tensor(X, torch.float64)).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def test_a_layer_scaled_up_is_reported_as_saturating():
    w, b = _layer(THETA, 1)
    end = _with_layer(THETA, 1, 60.0 * w, 60.0 * b)
    report = runoff_report(SPEC, THETA, end, X)
    first, second = report.layers
    np.testing.assert_allclose(second.growth, 60.0, rtol=1e-12)
    np.testing.assert_allclose(second.direction_cos, 1.0, rtol=0, atol=1e-12)
    assert second.share > 0.999 and first.share < 1e-12
    z = pre_activations(SPEC, end, X)[1]
    np.testing.assert_allclose(second.transition, np.mean(np.abs(z) < 2.0, axis=0))
    assert second.saturates() and not first.saturates() and not second.merges()
    assert "hidden layer 2 saturates" in report.summary()


def test_a_pair_merging_with_diverging_outgoing_weights_is_a_channel_not_saturation():
    """Neurons 0, 1 of hidden layer 1 at ``u +- v / (2A)`` with outgoing columns ``c/2 +- A e``."""
    w, b = _layer(THETA, 0)
    u, v = np.r_[w[0], b[0]], np.array([0.7, -0.4, 0.3, 0.2])
    e, c = np.array([1.0, -0.5, 0.3, 0.8]), np.array([0.2, 0.1, -0.3, 0.4])
    w2, b2 = _layer(THETA, 1)

    def point(amplitude):
        inc = np.stack([u + v / (2 * amplitude), u - v / (2 * amplitude)])
        out = _with_layer(THETA, 0, np.r_[inc[:, :3], w[2:]], np.r_[inc[:, 3], b[2:]])
        cols = w2.copy()
        cols[:, 0], cols[:, 1] = c / 2 + amplitude * e, c / 2 - amplitude * e
        return _with_layer(out, 1, cols, b2)

    report = runoff_report(SPEC, point(5.0), point(200.0), X)
    layer = report.layers[0]
    assert layer.pair == (0, 1)
    gap = np.sqrt(np.mean((X @ v[:3] + v[3]) ** 2))
    np.testing.assert_allclose([layer.gap_start, layer.gap_end], [gap / 5.0, gap / 200.0], rtol=1e-9)
    np.testing.assert_allclose([layer.out_start, layer.out_end],
                               [np.linalg.norm(c / 2 + 5.0 * e), np.linalg.norm(c / 2 + 200.0 * e)], rtol=1e-12)
    np.testing.assert_allclose(layer.out_sum_end, np.linalg.norm(c), rtol=1e-12)
    assert layer.merges() and not layer.saturates()
    assert "neurons 0+1 of hidden layer 1 merge" in report.summary()


def test_a_deep_run_off_is_described_in_the_channel_reason():
    w, b = _layer(THETA, 1)
    end = _with_layer(THETA, 1, 60.0 * w, 60.0 * b)
    y = RNG.normal(size=(len(X), 1))
    result = analyse_channel(SPEC, [THETA, end], X, y)
    assert result.kind == "not_converged"
    assert "hidden layer 2 saturates into steps" in result.reason


def test_relu_units_are_never_called_saturating():
    relu = MLPSpec((3, 4, 4, 1), "relu", True)
    w, b = _layer(THETA, 1)
    report = runoff_report(relu, THETA, _with_layer(THETA, 1, 60.0 * w, 60.0 * b), X)
    assert "saturates into steps" not in report.summary()
