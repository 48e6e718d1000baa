"""What a network is, without any numerics: layer widths, activation, biases, and the flat layout.

Kept free of torch so that reading a session (and the command line) does not load the numerics.
``lsexplorer.core.landscape.nets`` re-exports everything here.
"""

from __future__ import annotations

import dataclasses

ACTIVATIONS = ("sigmoid", "tanh", "softplus", "relu")


@dataclasses.dataclass(frozen=True)
class LayerSlice:
    """Where one layer's weights and bias sit in the flat vector."""

    index: int
    n_in: int
    n_out: int
    w_start: int
    w_stop: int
    b_start: int | None
    b_stop: int | None


@dataclasses.dataclass(frozen=True)
class MLPSpec:
    """A fully connected network ``widths = (d, h_1, ..., h_L, d_out)``.

    ``activation`` is applied after every hidden layer, never after the output layer.
    ``fixed_output``: the output layer's weights are all 1 and not parameters (the Safran & Shamir
    students, ``x -> sum_j relu(w_j . x)``); ``theta`` then holds the other layers only.
    """

    widths: tuple[int, ...]
    activation: str = "sigmoid"
    bias: bool = False
    fixed_output: bool = False

    def __post_init__(self) -> None:
        widths = tuple(int(w) for w in self.widths)
        object.__setattr__(self, "widths", widths)
        if len(widths) < 2:
            raise ValueError(f"an MLP needs at least input and output widths, got {list(widths)}")
        if any(w < 1 for w in widths):
            raise ValueError(f"every layer width must be at least 1, got {list(widths)}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if self.fixed_output and self.bias:
            raise ValueError("a fixed output layer (all weights 1) is defined without biases only")

    @property
    def d_in(self) -> int:
        return self.widths[0]

    @property
    def d_out(self) -> int:
        return self.widths[-1]

    @property
    def hidden_widths(self) -> tuple[int, ...]:
        return self.widths[1:-1]

    @property
    def n_layers(self) -> int:
        """Number of weight layers (hidden layers + 1)."""
        return len(self.widths) - 1

    @property
    def layers(self) -> tuple[LayerSlice, ...]:
        out = []
        pos = 0
        for i, (n_in, n_out) in enumerate(zip(self.widths[:-1], self.widths[1:])):
            fixed = self.fixed_output and i == len(self.widths) - 2
            w_start, pos = pos, pos + (0 if fixed else n_in * n_out)
            if self.bias:
                b_start, pos = pos, pos + n_out
                out.append(LayerSlice(i, n_in, n_out, w_start, w_start + n_in * n_out, b_start, pos))
            else:
                out.append(LayerSlice(i, n_in, n_out, w_start, pos, None, None))
        return tuple(out)

    @property
    def n_params(self) -> int:
        return sum(l.w_stop - l.w_start + (l.n_out if self.bias else 0) for l in self.layers)

    def with_hidden_width(self, layer: int, width: int) -> MLPSpec:
        """The same network with hidden layer ``layer`` (1-based) of a different width."""
        if not 1 <= layer <= len(self.hidden_widths):
            raise ValueError(f"hidden layer {layer} does not exist (the net has {len(self.hidden_widths)})")
        widths = list(self.widths)
        widths[layer] = width
        return MLPSpec(tuple(widths), self.activation, self.bias, self.fixed_output)

    def to_dict(self) -> dict:
        out = {"widths": list(self.widths), "activation": self.activation, "bias": self.bias}
        if self.fixed_output:
            out["fixed_output"] = True
        return out

    @classmethod
    def from_dict(cls, d: dict) -> MLPSpec:
        return cls(tuple(d["widths"]), d.get("activation", "sigmoid"), bool(d.get("bias", False)),
                   bool(d.get("fixed_output", False)))

    def describe(self) -> str:
        arch = "-".join(str(w) for w in self.widths)
        extra = " with biases" if self.bias else " with output weights fixed to 1" if self.fixed_output else ""
        return f"{arch} {self.activation} MLP{extra} ({self.n_params} parameters)"
