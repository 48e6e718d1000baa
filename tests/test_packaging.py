"""The wheel carries what the package promises: ``py.typed``, the sample session, which an installed
lsexplorer finds through :func:`lsexplorer.core.store.samples.sample_session_path`, and the top-level
``resources/`` (icon, desktop entry, layouts), installed as the package ``lsexplorer.resources``."""

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_an_installed_wheel_finds_its_sample_session(tmp_path):
    pytest.importorskip("setuptools", reason="builds the wheel without network access, with this setuptools")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("lsexplorer", "sample_data", "resources"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(src)], check=True, capture_output=True, env=env, timeout=300)
    wheel, = (tmp_path / "dist").glob("lsexplorer-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "lsexplorer/py.typed" in names
    assert {"lsexplorer/resources/lsexplorer.desktop", "lsexplorer/resources/icons/lsexplorer.svg",
            "lsexplorer/resources/icons/lsexplorer-256.png", "lsexplorer/resources/layouts/default.json"} <= set(names)
    stored = [n for n in names if n.endswith("/share/lsexplorer/toy_width5.h5")]
    assert len(stored) == 1 and zipfile.ZipFile(wheel).getinfo(stored[0]).file_size == \
        (ROOT / "sample_data" / "toy_width5.h5").stat().st_size
    from lsexplorer.core.store.samples import SAMPLES

    for name in SAMPLES:  # every sample File ▸ Open sample offers ships with the wheel
        assert sum(n.endswith(f"/share/lsexplorer/{name}") for n in names) == 1, name

    # Installed into a fresh environment that borrows its dependencies from the one running this test
    # (not from the base interpreter, which --system-site-packages would give), run from elsewhere.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    _borrow_dependencies(python)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True, env=env, timeout=300)
    code = ("import lsexplorer; from lsexplorer.core.store.samples import sample_session_path; "
            "from lsexplorer import app_resources as r; from lsexplorer.gui.layout_file import load_layout; "
            "print(lsexplorer.__file__); print(sample_session_path()); print(r.resource_root()); "
            "print(len(r.icon_png(256)), r.desktop_entry().count('\\nExec='), len(load_layout().screens))")
    out = subprocess.run([str(python), "-c", code], cwd=tmp_path, check=True, capture_output=True, text=True,
                         env=env, timeout=120).stdout.split()
    assert out[0].startswith(str(venv)), out  # the installed copy, not the checkout
    found = Path(out[1])
    assert found.is_file() and found.is_relative_to(venv) and found.parent.name == "lsexplorer"
    assert found.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"
    assert Path(out[2]).is_relative_to(venv) and Path(out[2]).name == "resources"  # inside the installed package
    assert int(out[3]) == (ROOT / "resources" / "icons" / "lsexplorer-256.png").stat().st_size and out[4:] == ["1", "3"]


def _borrow_dependencies(python: Path) -> None:
    """Make the venv of ``python`` import this environment's packages, but not its lsexplorer.

    A ``.pth`` line that is a folder only appends it to ``sys.path``; the ``.pth`` files inside that
    folder (among them the editable install's finder of this checkout) are not run, so ``import
    lsexplorer`` in the new venv finds the wheel installed there and nothing else.
    """
    target = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(target, "_lsexplorer_test_dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))


def test_the_borrowed_dependencies_are_this_environments(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    _borrow_dependencies(python)
    code = "import numpy, h5py, importlib.util as u; print(numpy.__file__); print(u.find_spec('lsexplorer'))"
    out = subprocess.run([str(python), "-c", code], cwd=tmp_path, check=True, capture_output=True, text=True,
                         timeout=120).stdout.split("\n")
    import numpy

    assert out[0] == numpy.__file__  # this environment's numpy, wherever the base interpreter's is
    assert out[1] == "None"  # the checkout's editable lsexplorer is not borrowed


def test_a_checkout_finds_its_own_sample_session():
    from lsexplorer.core.store.samples import sample_session_path

    assert sample_session_path() == ROOT / "sample_data" / "toy_width5.h5"
