"""An independent closed-form implementation of the thesis' two-layer sigmoid net without biases.

Written from the formulas, in plain numpy, sharing no code with lsexplorer: the yardstick that
stored losses, gradients and Hessian spectra are re-computed against.
``theta = (w_1, ..., w_m, a_1, ..., a_m)``, ``w_j in R^d``; ``L = (1/N) sum_i (f(x_i) - y_i)^2``.
"""

import numpy as np


def _parts(theta, m, d):
    w = theta[: m * d].reshape(m, d)
    a = theta[m * d:]
    return w, a


def loss_grad_hessian(theta, x, y, m):
    """Loss, gradient (P,) and Hessian (P, P) of the two-layer sigmoid net, all in closed form."""
    n, d = x.shape
    y = y.reshape(n)
    w, a = _parts(np.asarray(theta, dtype=np.float64), m, d)
    s = 1 / (1 + np.exp(-(x @ w.T)))          # (N, m)
    s1 = s * (1 - s)                            # sigma'
    s2 = s1 * (1 - 2 * s)                       # sigma''
    r = s @ a - y                               # (N,)
    loss = float(np.mean(r * r))
    # df/dw_j = a_j s'_ij x_i ; df/da_j = s_ij
    jw = (a * s1)[:, :, None] * x[:, None, :]   # (N, m, d)
    jac = np.concatenate([jw.reshape(n, m * d), s], axis=1)  # (N, P)
    grad = 2 / n * jac.T @ r
    hess = 2 / n * jac.T @ jac
    # residual term: r_i * d2f_i
    p = m * d + m
    second = np.zeros((p, p))
    for j in range(m):
        wj = slice(j * d, (j + 1) * d)
        second[wj, wj] = np.einsum("i,i,ik,il->kl", r, a[j] * s2[:, j], x, x)
        cross = np.einsum("i,i,ik->k", r, s1[:, j], x)
        second[wj, m * d + j] = cross
        second[m * d + j, wj] = cross
    hess += 2 / n * second
    return loss, grad, hess
