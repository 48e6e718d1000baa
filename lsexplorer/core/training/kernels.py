"""Kernels generated for one-hidden-layer students: the fast steppers behind :func:`train.train`.

A stepper owns the parameters ``theta: (S, P)`` of ``S`` independent seeds and their optimizer
state; ``advance(k)`` runs ``k`` full-batch epochs for all seeds and returns the training loss
``(S,)`` at the first and at the last of them (each the loss *before* that epoch's update);
``advance(0)`` only evaluates the current point. Two are generated here for the exact layer widths:

* :class:`NativeStepper` (CPU): C compiled once per network shape and machine with the system C
  compiler, called through ctypes. Per seed and epoch it makes one pass over the data (in L1), in
  SIMD lanes over samples, with every parameter and gradient accumulator in a register. Seeds are
  split over threads (ctypes drops the GIL).
* :class:`TritonStepper` (CUDA): one program per seed runs a whole chunk of epochs with parameters
  and optimizer state in registers, so a chunk costs one launch and seeds never synchronise.

Unrolling over neurons (instead of looping, or padding them to a power of two) lets the compilers
keep a seed's whole state in registers. Both implement Adam as ``torch.optim.Adam`` (bias-corrected,
no weight decay, corrections formed in float64) and SGD with momentum as ``torch.optim.SGD``, the
same arithmetic as the generic :class:`lsexplorer.core.training.train.TorchStepper` they are tested against.
Nothing of one seed ever enters another seed's arithmetic.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import math
import os
import platform
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ..base.threads import parallel_threads
from ..landscape.nets import MLPSpec

#: Largest parameter count the generated kernels unroll; bigger nets take the torch path.
MAX_UNROLLED_PARAMS = 256
#: The native kernel pads the samples to a multiple of this (64-byte aligned SIMD rows).
NATIVE_ALIGN = 64


def unrolled_supports(spec: MLPSpec) -> bool:
    """Whether the generated kernels cover ``spec`` (one hidden layer, at most 256 parameters)."""
    return len(spec.hidden_widths) == 1 and spec.n_params <= MAX_UNROLLED_PARAMS


_LANG = {
    "c": dict(decl="real ", end=";", exp="lsx_exp", abs="LSX_ABS", max0="LSX_MAX0({})", where="LSX_WHERE",
              log1p="lsx_log1p({})", masked="({}) * mk", recip="(1 / ({}))"),
    "triton": dict(decl="", end="", exp="_exp", abs="tl.abs", max0="tl.maximum({}, 0.0)", where="tl.where",
                   log1p="tl.log(1.0 + {})", masked="tl.where(valid, {}, 0.0)", recip="_recip({})"),
}


def unrolled_sample_code(spec: MLPSpec, lang: str) -> list[str]:
    """Statements for one sample (C) or one block of samples (Triton) of a one-hidden-layer net.

    Reads inputs ``x0..``, targets ``y0..`` and parameters ``p0..p{P-1}`` (flat layout); adds the
    squared residual to ``acc_loss`` and the sample's gradient of ``sum ||r||^2`` to ``acc0..``.
    """
    L = _LANG[lang]
    d, m, d_out = spec.d_in, spec.hidden_widths[0], spec.d_out
    l1, l2 = spec.layers
    a = lambda q, j: f"p{l2.w_start + q * m + j}"  # noqa: E731 - outgoing weight of neuron j to output q
    dec, end = L["decl"], L["end"]
    code: list[str] = []
    for j in range(m):
        z = " + ".join(f"x{k} * p{l1.w_start + j * d + k}" for k in range(d)) + (
            f" + p{l1.b_start + j}" if spec.bias else "")
        code += activation_code(spec.activation, lang, z, str(j))
    for q in range(d_out):
        out = " + ".join(f"h{j} * {a(q, j)}" for j in range(m)) + (f" + p{l2.b_start + q}" if spec.bias else "")
        code += [f"{dec}r{q} = {L['masked'].format(f'{out} - y{q}')}{end}", f"acc_loss += r{q} * r{q}{end}"]
        code += [f"acc{l2.w_start + q * m + j} += r{q} * h{j}{end}" for j in range(m)]
        code += [f"acc{l2.b_start + q} += r{q}{end}"] if spec.bias else []
    for j in range(m):
        code.append(f"{dec}gz{j} = ({' + '.join(f'r{q} * {a(q, j)}' for q in range(d_out))}) * dh{j}{end}")
        code += [f"acc{l1.w_start + j * d + k} += gz{j} * x{k}{end}" for k in range(d)]
        code += [f"acc{l1.b_start + j} += gz{j}{end}"] if spec.bias else []
    return code


def activation_code(activation: str, lang: str, z: str, name: str) -> list[str]:
    """Statements setting ``h{name} = sigma(z)`` and ``dh{name} = sigma'(z)`` for the expression ``z``."""
    L = _LANG[lang]
    dec, end, exp, recip = L["decl"], L["end"], L["exp"], L["recip"].format
    h, dh = f"h{name}", f"dh{name}"
    if activation == "sigmoid":
        return [f"{dec}{h} = {recip(f'1 + {exp}(-({z}))')}{end}", f"{dec}{dh} = {h} - {h} * {h}{end}"]
    if activation == "tanh":
        return [f"{dec}{h} = 2 * {recip(f'1 + {exp}(-2 * ({z}))')} - 1{end}", f"{dec}{dh} = 1 - {h} * {h}{end}"]
    # softplus, stable for both signs; its derivative is the sigmoid
    zn, en, sn = f"z{name}", f"e{name}", f"s{name}"
    return [f"{dec}{zn} = {z}{end}", f"{dec}{en} = {exp}(-{L['abs']}({zn})){end}",
            f"{dec}{h} = {L['max0'].format(zn)} + {L['log1p'].format(en)}{end}",
            f"{dec}{sn} = {recip(f'1 + {en}')}{end}",
            f"{dec}{dh} = {L['where']}({zn} >= 0, {sn}, {en} * {sn}){end}"]


def _render(template: str, **parts: str) -> str:
    for key, value in parts.items():
        template = template.replace(f"@{key}@", value)
    return template


def _indent(lines: list[str], n: int) -> str:
    return "\n".join(" " * n + s for s in lines)


# ---------------------------------------------------------------------------------------- native (C)

_C_TEMPLATE = r"""/* lsexplorer: full-batch training of S independent seeds of one one-hidden-layer MLP. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#define LSX_ABS(a) ((a) < 0 ? -(a) : (a))
#define LSX_MAX0(a) ((a) > 0 ? (a) : 0)
#define LSX_WHERE(c, a, b) ((c) ? (a) : (b))
@MATH@
#define P @P@
/* theta, st1, st2: (S, P) rows; x: (D, NP), y: (DOUT, NP), mask: (NP,), NP a multiple of 64 / sizeof(real).
   Runs max(K, 1) epochs, updating only when K > 0. opt 0: Adam (st1 = m, st2 = v); 1: SGD (st1 = buf). */
int lsx_train(long S, long K, long t0, long N, long NP, const real *x_in, const real *y_in, const real *mask_in,
              real *theta, real *st1, real *st2, real *loss_first, real *loss_last, int opt,
              double lr, double b1, double b2, double eps, double momentum) {
    /* Own 64-byte aligned copies, so SIMD reductions group identically in every call. */
    real *x = aligned_alloc(64, sizeof(real) * (@D@ + @DOUT@ + 1) * NP);
    if (!x) return -1;
    real *y = x + @D@ * NP, *mask = y + @DOUT@ * NP, g[P];
    memcpy(x, x_in, sizeof(real) * @D@ * NP);
    memcpy(y, y_in, sizeof(real) * @DOUT@ * NP);
    memcpy(mask, mask_in, sizeof(real) * NP);
    long E = K > 0 ? K : 1;
    for (long si = 0; si < S; si++) {
        real *th = theta + si * P, *u1 = st1 + si * P, *u2 = st2 + si * P;
        for (long e = 0; e < E; e++) {
@LOAD@
            real acc_loss = 0@ACC_INIT@;
            #pragma omp simd reduction(+:acc_loss@ACC_LIST@)
            for (long i = 0; i < NP; i++) {
                real mk = mask[i]@XY@;
@BODY@
            }
@STORE_G@
            if (e == 0) loss_first[si] = acc_loss / (real)N;
            if (e == E - 1) loss_last[si] = acc_loss / (real)N;
            if (K == 0) break;
            double t = (double)(t0 + e + 1);
            real scale = (real)2 / (real)N;
            if (opt == 0) {
                real step = (real)(lr / (1.0 - pow(b1, t))), bc2s = (real)sqrt(1.0 - pow(b2, t));
                real w1 = (real)(1.0 - b1), rb2 = (real)b2, w2 = (real)(1.0 - b2), re = (real)eps;
                #pragma omp simd
                for (long p = 0; p < P; p++) {
                    real gg = g[p] * scale;
                    u1[p] = u1[p] + w1 * (gg - u1[p]);
                    u2[p] = u2[p] * rb2 + w2 * gg * gg;
                    th[p] = th[p] - step * (u1[p] / (sqrt(u2[p]) / bc2s + re));
                }
            } else {
                real rlr = (real)lr, mom = (real)momentum;
                int first = (t0 + e == 0) || momentum == 0.0;
                #pragma omp simd
                for (long p = 0; p < P; p++) {
                    real gg = g[p] * scale;
                    u1[p] = first ? gg : u1[p] * mom + gg;
                    th[p] = th[p] - rlr * u1[p];
                }
            }
        }
    }
    free(x);
    return 0;
}
"""

# No -ffast-math: it would reassociate the exp range reduction, and linking it sets flush-to-zero
# for the whole process. "omp simd" pragmas give the vectorised reductions instead.
_C_FLAGS = ["-O3", "-march=native", "-fopenmp-simd", "-fno-math-errno", "-fno-trapping-math", "-std=gnu11"]
_native_libs: dict[str, ctypes.CDLL] = {}
_native_errors: dict[str, str] = {}


def _c_math(dtype: str) -> str:
    """``real``, ``lsx_exp`` and ``lsx_log1p`` for ``dtype``: branch-free, so loops over samples vectorise.

    exp(x) = 2^n exp(f) with |f| <= ln2/2 and Taylor coefficients to degree 13 (float64, truncation
    < 1e-17 relative) or 7 (float32, < 1e-8); log(1 + e) for 0 <= e <= 1 is 2 atanh(s) with
    s = e / (2 + e) <= 1/3, an odd series cut where its terms drop below the precision.
    """
    f64 = dtype == "float64"
    lit = (lambda v: repr(float(v))) if f64 else (lambda v: f"{float(v)!r}f")
    horner = lambda coeffs, var: "p = " + lit(coeffs[-1]) + "; " + " ".join(  # noqa: E731
        f"p = p * {var} + {lit(c)};" for c in reversed(coeffs[:-1]))
    exp_coeffs = [1 / math.factorial(k) for k in range(14 if f64 else 8)]
    atanh_coeffs = [1 / (2 * k + 1) for k in range(18 if f64 else 8)]
    ln2_hi, ln2_lo = (6.93147180369123816490e-01, 1.90821492927058770002e-10) if f64 else (0.693359375, -2.12194440e-4)
    clamp, bias, shift, bits = (708.0, 1023, 52, "int64_t") if f64 else (87.0, 127, 23, "int32_t")
    return f"""typedef {'double' if f64 else 'float'} real;
static inline real lsx_exp(real x) {{
    x = x < -{lit(clamp)} ? -{lit(clamp)} : (x > {lit(clamp)} ? {lit(clamp)} : x);
    real n = {"rint" if f64 else "rintf"}(x * {lit(1 / math.log(2))});
    real f = (x - n * {lit(ln2_hi)}) - n * {lit(ln2_lo)}, p;
    {horner(exp_coeffs, "f")}
    union {{ real r; {bits} i; }} u;
    u.i = (({bits})n + {bias}) << {shift};
    return p * u.r;
}}
static inline real lsx_log1p(real e) {{
    real s = e / (2 + e), s2 = s * s, p;
    {horner(atanh_coeffs, "s2")}
    return 2 * s * p;
}}"""


def native_source(spec: MLPSpec, dtype: str, body: list[str] | None = None) -> str:
    """C source of the native kernel for ``spec`` and ``dtype`` ("float32" or "float64").

    ``body`` is the per-sample code (default :func:`unrolled_sample_code`, one hidden layer)."""
    n_par, d, d_out = spec.n_params, spec.d_in, spec.d_out
    accs = [f"acc{i}" for i in range(n_par)]
    return _render(
        _C_TEMPLATE, MATH=_c_math(dtype), P=str(n_par), D=str(d), DOUT=str(d_out),
        LOAD=_indent([f"real p{i} = th[{i}];" for i in range(n_par)], 12),
        ACC_INIT="".join(f", {a} = 0" for a in accs), ACC_LIST="".join(f", {a}" for a in accs),
        XY="".join(f", x{k} = x[{k} * NP + i]" for k in range(d)) + "".join(
            f", y{q} = y[{q} * NP + i]" for q in range(d_out)),
        BODY=_indent(unrolled_sample_code(spec, "c") if body is None else body, 16),
        STORE_G=_indent([f"g[{i}] = acc{i};" for i in range(n_par)], 12))


def kernel_cache_dir() -> Path:
    """Where built kernels are kept: ``$LSEXPLORER_CACHE`` or ``$XDG_CACHE_HOME/lsexplorer``, + ``/kernels``."""
    root = os.environ.get("LSEXPLORER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "lsexplorer")
    return Path(root) / "kernels"


def _cpu_fingerprint() -> str:
    """The CPU's feature flags, so a ``-march=native`` build is never loaded on another CPU."""
    try:
        with open("/proc/cpuinfo") as f:
            return platform.machine() + next((ln for ln in f if ln.startswith(("flags", "Features"))), "")
    except OSError:
        return platform.processor() + platform.machine()


def native_library(spec: MLPSpec, dtype: str, src: str | None = None) -> ctypes.CDLL:
    """Build (once per source and machine, cached on disk) and load the C kernel; RuntimeError if impossible.

    ``src`` defaults to :func:`native_source` of ``spec``."""
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise RuntimeError("the native CPU kernel is unavailable: no C compiler found (install gcc or set CC)")
    src = native_source(spec, dtype) if src is None else src
    key = hashlib.sha256("\0".join([src, cc, *_C_FLAGS, _cpu_fingerprint()]).encode()).hexdigest()[:20]
    if key in _native_errors:
        raise RuntimeError(_native_errors[key])
    if key not in _native_libs:
        try:
            _native_libs[key] = _build_native(cc, src, kernel_cache_dir() / f"lsx_train_{key}.so")
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            _native_errors[key] = f"the native CPU kernel is unavailable: {exc}"
            raise RuntimeError(_native_errors[key]) from exc
    return _native_libs[key]


def _build_native(cc: str, src: str, so_path: Path) -> ctypes.CDLL:
    if not so_path.exists():
        so_path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=so_path.parent) as tmp:
            c_file, out = Path(tmp) / "lsx_train.c", Path(tmp) / "lsx_train.so"
            c_file.write_text(src)
            cmd = [cc, *_C_FLAGS, "-fPIC", "-shared", str(c_file), "-o", str(out), "-lm"]
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            if res.returncode != 0:
                raise RuntimeError(f"{Path(cc).name} failed: {res.stderr.strip()[-400:]}")
            os.replace(out, so_path)  # atomic: a concurrent builder never loads a half-written file
    lib = ctypes.CDLL(str(so_path))
    lib.lsx_train.restype = ctypes.c_int
    lib.lsx_train.argtypes = [ctypes.c_long] * 5 + [ctypes.c_void_p] * 8 + [ctypes.c_int] + [ctypes.c_double] * 5
    return lib


class NativeStepper:
    """The generated C kernel on CPU; ``theta0: (S, P)``, ``x: (N, d)``, ``y: (N, d_out)``."""

    name = "native"

    def __init__(self, spec: MLPSpec, theta0: np.ndarray, x: np.ndarray, y: np.ndarray, config,
                 n_threads: int | None = None) -> None:
        if not self.supports(spec):
            raise ValueError(f"the native kernel does not cover {spec.describe()}")
        self._lib = native_library(spec, config.dtype, self.source(spec, config.dtype))
        dtype = np.float32 if config.dtype == "float32" else np.float64
        self.config = config
        n = x.shape[0]
        n_pad = -(-n // NATIVE_ALIGN) * NATIVE_ALIGN
        self._n, self._n_pad = n, n_pad
        self._x = np.zeros((spec.d_in, n_pad), dtype)
        self._x[:, :n] = x.T
        self._y = np.zeros((spec.d_out, n_pad), dtype)
        self._y[:, :n] = y.T
        self._mask = np.zeros(n_pad, dtype)
        self._mask[:n] = 1
        self._theta = np.array(theta0, dtype=dtype, order="C")  # a copy: the caller's array stays put
        self._st1 = np.zeros_like(self._theta)
        self._st2 = np.zeros_like(self._theta)
        self._loss_first = np.zeros(len(self._theta), dtype)
        self._loss_last = np.zeros_like(self._loss_first)
        self.t = 0
        s = len(self._theta)
        bounds = np.linspace(0, s, max(1, min(n_threads or parallel_threads(), s)) + 1).astype(int)
        self._ranges = [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
        self._pool = ThreadPoolExecutor(len(self._ranges)) if len(self._ranges) > 1 else None

    @staticmethod
    def supports(spec: MLPSpec) -> bool:
        """Whether this stepper covers ``spec``."""
        return unrolled_supports(spec)

    @staticmethod
    def source(spec: MLPSpec, dtype: str) -> str:
        """The C source this stepper builds for ``spec``."""
        return native_source(spec, dtype)

    def _run(self, lo: int, hi: int, k: int) -> int:
        c = self.config

        def row(a: np.ndarray) -> int:
            return a[lo:].ctypes.data

        return self._lib.lsx_train(
            hi - lo, k, self.t, self._n, self._n_pad, self._x.ctypes.data, self._y.ctypes.data,
            self._mask.ctypes.data, row(self._theta), row(self._st1), row(self._st2), row(self._loss_first),
            row(self._loss_last), 0 if c.optimizer == "adam" else 1, c.lr, c.betas[0], c.betas[1], c.eps, c.momentum)

    def advance(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Run ``k >= 0`` epochs; the losses ``(S,)`` before the first and before the last of them."""
        if self._pool is None:
            codes = [self._run(*self._ranges[0], k)]
        else:
            codes = list(self._pool.map(lambda r: self._run(r[0], r[1], k), self._ranges))
        if any(codes):
            raise MemoryError("the native training kernel could not allocate its data buffer")
        self.t += k
        return self._loss_first.astype(np.float64), self._loss_last.astype(np.float64)

    def theta(self) -> np.ndarray:
        """Current points ``(S, P)`` float64 (a copy)."""
        return self._theta.astype(np.float64)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


# ------------------------------------------------------------------------------------------ triton

_TRITON_TEMPLATE = '''import triton
import triton.language as tl

FAST = tl.constexpr(@FAST@)  # approximate MUFU exp2 / reciprocal: float32 on CUDA only


@triton.jit
def _exp(x):
    # float32 on CUDA: one MUFU.EX2 without the denormal fix-ups of tl.exp (11% faster on the toy)
    if FAST:
        r = tl.inline_asm_elementwise("ex2.approx.ftz.f32 $0, $1;", "=r,r", [x * 1.4426950408889634],
                                      dtype=tl.float32, is_pure=True, pack=1)
    else:
        r = tl.exp(x)
    return r


@triton.jit
def _recip(x):
    # float32 on CUDA: one MUFU.RCP (about 1 ulp) instead of the instruction sequence of div.full.f32
    if FAST:
        r = tl.inline_asm_elementwise("rcp.approx.ftz.f32 $0, $1;", "=r,r", [x], dtype=tl.float32,
                                      is_pure=True, pack=1)
    else:
        r = 1.0 / x
    return r


@triton.jit(do_not_specialize=["K", "n_epochs", "t0"])
def lsx_train_kernel(theta_ptr, st1_ptr, st2_ptr, x_ptr, y_ptr, hyper_ptr, loss_first_ptr, loss_last_ptr,
                     K, n_epochs, t0, N, BLOCK_N: tl.constexpr):
    pid = tl.program_id(0)
    row = pid.to(tl.int64) * @P@
    dt = theta_ptr.dtype.element_ty
    lr64 = tl.load(hyper_ptr + 0)
    ln_b1 = tl.load(hyper_ptr + 1)
    ln_b2 = tl.load(hyper_ptr + 2)
    w1 = tl.load(hyper_ptr + 3).to(dt)
    b2 = tl.load(hyper_ptr + 4).to(dt)
    w2 = tl.load(hyper_ptr + 5).to(dt)
    eps = tl.load(hyper_ptr + 6).to(dt)
    mom = tl.load(hyper_ptr + 7).to(dt)
    scale = tl.load(hyper_ptr + 8).to(dt)
    lr = lr64.to(dt)
@LOAD@
    offs = tl.arange(0, BLOCK_N)
    for e in range(0, n_epochs):
        acc_loss = tl.zeros([BLOCK_N], dt)
@ACC_INIT@
        for n0 in range(0, N, BLOCK_N):
            idx = n0 + offs
            valid = idx < N
@XY@
@BODY@
        loss = tl.sum(acc_loss, axis=0) / N
        if e == 0:
            tl.store(loss_first_ptr + pid, loss)
        if e == n_epochs - 1:
            tl.store(loss_last_ptr + pid, loss)
        if e < K:
@GRAD@
            t = (t0 + e + 1).to(tl.float64)
            step = (lr64 / (1.0 - tl.exp(t * ln_b1))).to(dt)
            bc2s = tl.sqrt(1.0 - tl.exp(t * ln_b2)).to(dt)
            first = (t0 + e == 0) | (mom == 0.0)
@UPDATE@
@STORE@
'''


def triton_source(spec: MLPSpec, optimizer: str, fast: bool) -> str:
    """Source of the Triton kernel for ``spec``: one program per seed runs ``n_epochs`` epochs.

    Parameters and optimizer state are scalar registers; samples run in blocks of ``BLOCK_N``
    lanes with one vector accumulator per gradient entry, reduced once per epoch. ``fast`` (float32
    on CUDA) uses the approximate hardware exp2 and reciprocal (about 2 ulp).
    """
    n_par, adam = spec.n_params, optimizer == "adam"
    state = [("p", "theta_ptr"), ("u", "st1_ptr")] + ([("v", "st2_ptr")] if adam else [])
    if adam:
        update = [line for i in range(n_par) for line in (
            f"u{i} = u{i} + w1 * (g{i} - u{i})", f"v{i} = v{i} * b2 + w2 * g{i} * g{i}",
            f"p{i} = p{i} - step * (u{i} / (tl.sqrt(v{i}) / bc2s + eps))")]
    else:
        update = [line for i in range(n_par) for line in (
            f"u{i} = tl.where(first, g{i}, u{i} * mom + g{i})", f"p{i} = p{i} - lr * u{i}")]
    return _render(
        _TRITON_TEMPLATE, P=str(n_par), FAST=str(fast),
        LOAD=_indent([f"{s}{i} = tl.load({ptr} + row + {i})" for s, ptr in state for i in range(n_par)], 4),
        ACC_INIT=_indent([f"acc{i} = tl.zeros([BLOCK_N], dt)" for i in range(n_par)], 8),
        XY=_indent([f"x{k} = tl.load(x_ptr + {k} * N + idx, mask=valid, other=0.0)" for k in range(spec.d_in)]
                   + [f"y{q} = tl.load(y_ptr + {q} * N + idx, mask=valid, other=0.0)" for q in range(spec.d_out)],
                   12),
        BODY=_indent(unrolled_sample_code(spec, "triton"), 12),
        GRAD=_indent([f"g{i} = tl.sum(acc{i}, axis=0) * scale" for i in range(n_par)], 12),
        UPDATE=_indent(update, 12),
        STORE=_indent([f"tl.store({ptr} + row + {i}, {s}{i})" for s, ptr in state for i in range(n_par)], 4))


_triton_kernels: dict = {}


def triton_kernel(spec: MLPSpec, optimizer: str, fast: bool):
    """The generated kernel for ``spec``, imported from a file in the kernel cache (Triton reads its source)."""
    src = triton_source(spec, optimizer, fast)
    key = hashlib.sha256(src.encode()).hexdigest()[:20]
    if key not in _triton_kernels:
        import triton  # noqa: F401 - fail here, with ImportError, where triton is missing

        path = kernel_cache_dir() / f"lsx_triton_{key}.py"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".py")
            with os.fdopen(fd, "w") as f:
                f.write(src)
            os.replace(tmp, path)
        module_spec = importlib.util.spec_from_file_location(f"lsx_triton_{key}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        _triton_kernels[key] = module.lsx_train_kernel
    return _triton_kernels[key]


def triton_launch(n_seeds: int, device: torch.device) -> tuple[int, int]:
    """``(BLOCK_N, num_warps)`` for ``n_seeds`` programs, from measurements on an H100 (132 SMs).

    With several seeds per SM, one warp per seed with two samples per lane was fastest (1.2e8
    toy student-epochs/s at 1000-4000 seeds, against 0.7e8 with 4 warps); with fewer seeds than
    about two per SM, 4 warps per seed use more of the GPU (2.4e7 at 100 seeds, against 1.7e7).
    """
    n_sm = torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 1
    return (64, 1) if n_seeds >= 2 * n_sm else (128, 4)


class TritonStepper:
    """The generated Triton kernel on CUDA; ``theta0: (S, P)``, ``x: (N, d)``, ``y: (N, d_out)``."""

    name = "triton"

    def __init__(self, spec: MLPSpec, theta0: np.ndarray, x: np.ndarray, y: np.ndarray, config,
                 device: torch.device, launch: tuple[int, int] | None = None) -> None:
        if not unrolled_supports(spec):
            raise ValueError(f"the Triton kernel does not cover {spec.describe()}")
        dtype = torch.float32 if config.dtype == "float32" else torch.float64
        self._kernel = triton_kernel(spec, config.optimizer, fast=dtype == torch.float32 and device.type == "cuda")
        self._x = torch.tensor(np.ascontiguousarray(x.T), dtype=dtype, device=device)
        self._y = torch.tensor(np.ascontiguousarray(y.T), dtype=dtype, device=device)
        self._theta = torch.tensor(np.asarray(theta0), dtype=dtype, device=device)
        self._st1 = torch.zeros_like(self._theta)
        self._st2 = torch.zeros_like(self._theta)
        b1, b2 = config.betas
        ln = lambda b: math.log(b) if b > 0 else -math.inf  # noqa: E731 - beta ** t = exp(t ln beta)
        self._hyper = torch.tensor([config.lr, ln(b1), ln(b2), 1 - b1, b2, 1 - b2, config.eps, config.momentum,
                                    2.0 / x.shape[0]], dtype=torch.float64, device=device)
        self._loss_first = torch.zeros(len(self._theta), dtype=dtype, device=device)
        self._loss_last = torch.zeros_like(self._loss_first)
        self._n = x.shape[0]
        self._block_n, self._num_warps = launch or triton_launch(len(self._theta), device)
        self.t = 0
        try:
            self.advance(0)  # compiles now, so a failure surfaces here and "auto" can fall back
        except Exception as exc:  # triton raises its own compilation and driver error types
            raise RuntimeError(f"the Triton kernel failed: {exc}") from exc

    def advance(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Run ``k >= 0`` epochs in one launch; the losses ``(S,)`` before the first and the last."""
        self._kernel[(len(self._theta),)](
            self._theta, self._st1, self._st2, self._x, self._y, self._hyper, self._loss_first, self._loss_last,
            k, max(k, 1), self.t, self._n, BLOCK_N=self._block_n, num_warps=self._num_warps)
        self.t += k
        return self._loss_first.double().cpu().numpy(), self._loss_last.double().cpu().numpy()

    def theta(self) -> np.ndarray:
        """Current points ``(S, P)`` float64 (a copy)."""
        return self._theta.double().cpu().numpy()

    def close(self) -> None:
        pass
