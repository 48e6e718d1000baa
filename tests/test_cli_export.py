"""``lsexplorer export``: chosen figures of chosen runs, one line per figure not drawn, bad flags refused."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from conftest import SAMPLE

from lsexplorer.cli.commands import main
from lsexplorer.figures import FIGURES


def _one_line_error(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        sys.exit(main(argv))
    return exc.value.code, capsys.readouterr().err.strip()


@pytest.mark.parametrize("flags, needle", [
    (["--width-mm", "5"], "the figure width must be a number from 30 to 400mm, not 5.0"),
    (["--width-mm", "wide"], "positive number"),
    (["--height-mm", "1000"], "the figure height must be a number from 30 to 400mm"),
    (["--dpi", "0"], "positive integer"),
    (["--font-pt", "40"], "the figure font size must be a number from 4 to 24pt"),
    (["--columns", "3"], "invalid choice"),
    (["--style", "no-such-style"], "unknown style 'no-such-style': give a .mplstyle file or one of:"),
    (["--style", "missing.mplstyle"], "style file missing.mplstyle does not exist"),
    (["--formats", "gif,png"], "unknown figure format gif; choose from pdf, svg, png"),
    (["--figures", "training_loss,nope"], "unknown figure nope; choose from"),
])
def test_bad_flags_are_refused_in_one_line_and_nothing_is_written(capsys, tmp_path, flags, needle):
    out = tmp_path / "figs"
    code, err = _one_line_error(capsys, ["export", str(SAMPLE), "--out", str(out), *flags])
    assert code == 2 and needle in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_a_corrupt_session_is_refused_in_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\nnot really")
    code, err = _one_line_error(capsys, ["export", str(bad), "--out", str(tmp_path / "x")])
    assert code == 2 and "bad.h5" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_list_figures_names_every_figure(capsys):
    assert main(["export", "--list-figures"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(FIGURES)


def test_export_of_the_sample_writes_each_figure_or_says_why_not(tmp_path, capsys):
    assert main(["export", str(SAMPLE), "--out", str(tmp_path / "figs"), "--json", "--columns", "2",
                 "--dpi", "150", "--formats", "svg,png"]) == 0
    report = json.loads(capsys.readouterr().out)
    written = {Path(p).name for p in report["written"]}
    drawn = {name.rsplit(".", 1)[0] for name in written}
    skipped = {s["figure"] for s in report["skipped"]}
    for name, spec in FIGURES.items():
        stem = spec.file_stem(None) if not spec.per_run else None
        assert (any(d == name or d.startswith(f"{name}_run") for d in drawn)) != (name in skipped), name
        if stem in drawn:
            assert {f"{stem}.svg", f"{stem}.png", f"{stem}.csv", f"{stem}.py"} <= written
    assert all(s["reason"] and "\n" not in s["reason"] for s in report["skipped"])
    # Sized for the page: two columns, 175 mm; PNGs 175 mm at 150 dpi.
    svg = (tmp_path / "figs" / "training_loss.svg").read_text(encoding="utf-8")
    width_pt = float(re.search(r'<svg[^>]*\swidth="([\d.]+)pt"', svg, re.S).group(1))
    assert abs(width_pt / 72 * 25.4 - 175) < 0.1
    png = (tmp_path / "figs" / "training_loss.png").read_bytes()
    assert abs(int.from_bytes(png[16:20], "big") - 175 / 25.4 * 150) <= 1  # IHDR width


def test_a_sweep_folder_exports_its_outcome_fractions(tmp_path, capsys):
    sweep = Path(__file__).resolve().parents[1] / "sample_data" / "toy_sweep"
    assert main(["export", str(sweep), "--out", str(tmp_path / "figs"), "-q"]) == 0
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert names == [f"sweep_outcome_fractions.{s}" for s in ("csv", "pdf", "png", "py", "svg")]
    code, err = _one_line_error(capsys, ["export", str(tmp_path / "figs"), "--out", str(tmp_path / "x")])
    assert code == 2 and "is not a sweep folder" in err and len(err.splitlines()) == 1


def _fresh_session(path: Path) -> None:
    """Four runs of the sample (run 1 a local minimum) with no analyses: what ``train`` leaves."""
    import dataclasses

    from lsexplorer.core.store.session import LossCurve, Runs, Trajectory, load_session, save_session

    s = load_session(SAMPLE)
    keep = [0, 1, 2, 3]
    r = s.runs
    fields = {f.name: getattr(r, f.name)[keep] for f in dataclasses.fields(Runs)
              if f.name not in ("trajectory", "loss_curve")}
    runs = Runs(**fields, trajectory=Trajectory(r.trajectory.epochs, r.trajectory.theta[keep], r.trajectory.loss[keep]),
                loss_curve=LossCurve(r.loss_curve.epochs, r.loss_curve.loss[keep]))
    assert runs.kind[1] == "local_min"
    save_session(dataclasses.replace(s, config=dict(s.config, seeds=[int(x) for x in runs.seed]), runs=runs,
                                     analyses={}), path)


def test_after_training_export_names_what_is_missing_and_compute_missing_draws_it(tmp_path, capsys):
    session = tmp_path / "fresh.h5"
    _fresh_session(session)
    chosen = ["--runs", "1", "--figures", "saddle_line_eigenvalues_vs_mu,slices_plane,escape_escape,paths_band_plane",
              "-q"]
    assert main(["export", str(session), "--out", str(tmp_path / "figs"), *chosen]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines == [
        "not drawn: Hessian eigenvalues along the saddle line, run 1: no closest-saddle analysis; "
        f"run `lsexplorer analyze {session} --runs 1 --closest-saddle`",
        "not drawn: loss on the plane of the saddle line and the run's point, run 1: no closest-saddle analysis; "
        f"run `lsexplorer analyze {session} --runs 1 --closest-saddle`",
        f"not drawn: escape scan along the smallest eigenvector, run 1: no escape analysis; "
        f"run `lsexplorer analyze {session} --runs 1 --escape`",
        "not drawn: the path on the plane of its ends and saddle, run 1: no path from run 1 to its nearest "
        f"global minimum is stored; run `lsexplorer path {session} --from 1 --to global` (or Compute path in the "
        "Paths panel, then save)"]
    assert "0 figures" in captured.out and "4 not drawn" in captured.out
    assert not list((tmp_path / "figs").iterdir())

    assert main(["export", str(session), "--out", str(tmp_path / "figs"), *chosen, "--compute-missing"]) == 0
    names = {p.name for p in (tmp_path / "figs").iterdir()}
    for stem in ("saddle_line_eigenvalues_vs_mu_run1", "slices_plane_run1", "escape_escape_run1",
                 "paths_band_plane_run1"):
        assert {f"{stem}.{s}" for s in ("pdf", "svg", "png", "csv", "py")} <= names
    from lsexplorer.core.analyses import closest_saddle, escape, paths
    from lsexplorer.core.analyses.opening import open_session

    stored = open_session(session)  # computed once and kept in the session
    assert closest_saddle.read(stored, 1) is not None and escape.read(stored, 1) is not None
    assert paths.to_global(stored, 1) is not None
    assert "computed closest saddle" in capsys.readouterr().err
