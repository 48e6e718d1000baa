"""Generated native (C) training kernels for MLPs of any depth: the fast CPU path for deep students.

The one-hidden-layer kernel of :mod:`lsexplorer.core.training.kernels` is generalised here: the same
C template (one pass over the data per seed and epoch, SIMD lanes over samples, seeds split over
threads, Adam and SGD as ``torch.optim``), with a per-sample body that runs the forward pass
through every hidden layer, the output residual, and back-propagation layer by layer, fully
unrolled over neurons. Every activation, back-propagated error and gradient accumulator is a named
scalar of the sample loop, so nothing of a sample ever leaves the registers and L1, where the
batched torch path writes and re-reads each layer's ``(S, N, width)`` activations and errors
through memory in separate matrix products for every layer and epoch.

The arithmetic is the torch path's (:func:`lsexplorer.core.landscape.nets.loss_and_grad` then
``torch.optim.Adam``), up to the order of float additions; the tests hold the two together.
"""

from __future__ import annotations

from ..landscape.nets import MLPSpec
from .kernels import _LANG, NativeStepper, activation_code, native_source

#: Largest parameter count the deep kernel unrolls (compile time grows with it; 10-10-10-10-1 is 341).
MAX_DEEP_PARAMS = 1024


def deep_supports(spec: MLPSpec) -> bool:
    """Whether the deep native kernel covers ``spec``: at least two hidden layers, at most 1024 parameters."""
    return len(spec.hidden_widths) >= 2 and spec.n_params <= MAX_DEEP_PARAMS


def deep_sample_code(spec: MLPSpec, lang: str = "c") -> list[str]:
    """Statements for one sample of an MLP of any depth (C), in the names of ``unrolled_sample_code``.

    Reads ``x0..``, ``y0..``, ``p0..p{P-1}`` and the mask ``mk``; adds the squared residual to
    ``acc_loss`` and the sample's gradient of ``sum ||r||^2`` to ``acc0..acc{P-1}``. Hidden layer
    ``l`` neuron ``j`` is ``h{l}_{j}`` with derivative ``dh{l}_{j}`` and back-propagated error ``g{l}_{j}``.
    """
    L = _LANG[lang]
    dec, end = L["decl"], L["end"]
    layers = spec.layers
    n_hidden = len(layers) - 1
    code: list[str] = []
    inputs = [f"x{k}" for k in range(spec.d_in)]
    hidden: list[list[str]] = []
    for li, lay in enumerate(layers[:-1]):
        outs = []
        for j in range(lay.n_out):
            z = " + ".join(f"{inputs[k]} * p{lay.w_start + j * lay.n_in + k}" for k in range(lay.n_in))
            z += f" + p{lay.b_start + j}" if spec.bias else ""
            code += activation_code(spec.activation, lang, z, f"{li}_{j}")
            outs.append(f"h{li}_{j}")
        hidden.append(inputs)
        inputs = outs
    hidden.append(inputs)  # hidden[i]: the inputs of layer i
    top = layers[-1]
    for q in range(top.n_out):
        out = " + ".join(f"{inputs[j]} * p{top.w_start + q * top.n_in + j}" for j in range(top.n_in))
        out += f" + p{top.b_start + q}" if spec.bias else ""
        code += [f"{dec}r{q} = {L['masked'].format(f'{out} - y{q}')}{end}", f"acc_loss += r{q} * r{q}{end}"]
        code += [f"acc{top.w_start + q * top.n_in + j} += r{q} * {inputs[j]}{end}" for j in range(top.n_in)]
        code += [f"acc{top.b_start + q} += r{q}{end}"] if spec.bias else []
    errors = [f"r{q}" for q in range(top.n_out)]
    for li in range(n_hidden - 1, -1, -1):
        lay, above = layers[li], layers[li + 1]
        new_errors = []
        for j in range(lay.n_out):
            back = " + ".join(f"{errors[q]} * p{above.w_start + q * above.n_in + j}" for q in range(above.n_out))
            code.append(f"{dec}g{li}_{j} = ({back}) * dh{li}_{j}{end}")
            code += [f"acc{lay.w_start + j * lay.n_in + k} += g{li}_{j} * {hidden[li][k]}{end}"
                     for k in range(lay.n_in)]
            code += [f"acc{lay.b_start + j} += g{li}_{j}{end}"] if spec.bias else []
            new_errors.append(f"g{li}_{j}")
        errors = new_errors
    return code


def deep_native_source(spec: MLPSpec, dtype: str) -> str:
    """C source of the deep native kernel for ``spec`` and ``dtype`` ("float32" or "float64").

    On x86 it asks for 512-bit vectors where the CPU has them: twice the lanes of the default
    256 bits, and with this much work per sample the clock penalty does not eat the gain (1.4x
    measured on the 341-parameter net).
    """
    return _PREFER_WIDE + native_source(spec, dtype, deep_sample_code(spec, "c"))


_PREFER_WIDE = """#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("prefer-vector-width=512")
#endif
"""


class DeepNativeStepper(NativeStepper):
    """The generated C kernel for MLPs with two or more hidden layers (CPU); the contract of
    :class:`lsexplorer.core.training.kernels.NativeStepper`."""

    name = "native"

    @staticmethod
    def supports(spec: MLPSpec) -> bool:
        return deep_supports(spec)

    @staticmethod
    def source(spec: MLPSpec, dtype: str) -> str:
        return deep_native_source(spec, dtype)


__all__ = ["DeepNativeStepper", "deep_supports", "deep_sample_code", "deep_native_source", "MAX_DEEP_PARAMS"]
