"""What the app ships in resources/ — icon, desktop entry, default layout — resolves through the package
and matches the app: every panel of the PANELS table placed, the window icon set, the entry installable."""

from __future__ import annotations

import configparser
import json
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lsexplorer import app_resources
from lsexplorer.desktop_entry import entry_text, install
from lsexplorer.gui.layout_file import LayoutFileError, Role, load_layout, parse_layout

ROOT = Path(__file__).resolve().parents[1]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_every_shipped_file_resolves_through_the_package():
    assert Path(str(app_resources.resource_root())).resolve() == ROOT / "resources"
    for size in app_resources.ICON_SIZES:
        assert _png_size(app_resources.icon_png(size)) == (size, size)
    svg = ET.fromstring(app_resources.icon_svg())
    assert svg.tag.endswith("svg") and svg.get("viewBox") == "0 0 256 256"
    assert json.loads(app_resources.layout_text())["format"] == "lsexplorer.layout"
    with pytest.raises(app_resources.ResourceMissing, match="layouts/nope.json is missing"):
        app_resources.layout_text("nope")


def test_pyproject_installs_every_package_and_the_resources():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "lsexplorer").rglob("__init__.py")}
    assert set(config["packages"]) == found | {"lsexplorer.resources"}
    assert config["package-dir"] == {"lsexplorer.resources": "resources"}
    patterns = config["package-data"]["lsexplorer.resources"]
    shipped = {p.relative_to(ROOT / "resources") for p in (ROOT / "resources").rglob("*")
               if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts}
    assert shipped == {p for p in shipped if any(p.match(pattern) for pattern in patterns)}


def test_desktop_entry_names_the_gui_command_and_the_icon():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read_string(app_resources.desktop_entry())
    section = entry["Desktop Entry"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert section["Type"] == "Application" and section["Icon"] == "lsexplorer"
    assert section["Exec"].split()[:2] == ["lsexplorer", "gui"] and "lsexplorer" in scripts
    assert "Science" in section["Categories"].split(";")
    text = entry_text("/opt/my env/bin/lsexplorer")
    assert 'Exec="/opt/my env/bin/lsexplorer" gui %f' in text and "TryExec=/opt/my env/bin/lsexplorer" in text


def test_desktop_entry_installs_for_the_user(tmp_path):
    paths = install(tmp_path, command="/usr/bin/lsexplorer")
    entry = tmp_path / "applications" / "lsexplorer.desktop"
    assert paths[0] == entry and "Exec=/usr/bin/lsexplorer gui %f" in entry.read_text()
    icon = tmp_path / "icons" / "hicolor" / "256x256" / "apps" / "lsexplorer.png"
    assert _png_size(icon.read_bytes()) == (256, 256)
    assert (tmp_path / "icons" / "hicolor" / "scalable" / "apps" / "lsexplorer.svg").is_file()


def test_layout_file_places_every_dock_of_the_table_once():
    from lsexplorer.gui.panels import PANELS

    layout = load_layout()
    titles = [spec.panel_class.title for spec in PANELS]
    assert sorted(layout.titles()) == sorted(titles)
    assert layout.role("Runs") is Role.NAVIGATOR and layout.role("Statistics") is Role.SECONDARY
    assert [len(layout.screen_for(w).focus_tabs) for w in (800, 1280, 1920)] == [1, 2, 3]


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(version=9), "has version 9"),
    (lambda d: d.pop("navigator"), "lacks or mistypes 'navigator'"),
    (lambda d: d["screens"][1]["focus_tabs"][0].remove("Neurons"), "does not place each focus view once"),
    (lambda d: d["secondary_tabs"].append("Neurons"), "places a dock twice"),
    (lambda d: d.update(navigator_share=1.5), "navigator_share must be a number between 0 and 1"),
])
def test_a_broken_layout_file_is_refused_in_one_line(edit, message):
    data = json.loads(app_resources.layout_text())
    edit(data)
    with pytest.raises(LayoutFileError) as exc:
        parse_layout(json.dumps(data), "mine")
    assert message in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(LayoutFileError, match="not valid JSON"):
        parse_layout("{", "mine")


def test_desktop_entry_verb_prints_and_installs(tmp_path, monkeypatch, capsys):
    from lsexplorer.cli.commands import main

    assert main(["desktop-entry"]) == 0
    assert capsys.readouterr().out.startswith("[Desktop Entry]\n")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    assert main(["desktop-entry", "--install"]) == 0
    assert (tmp_path / "share" / "applications" / "lsexplorer.desktop").is_file()
    assert "lsexplorer is in your desktop's menus" in capsys.readouterr().out
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share" / "applications" / "lsexplorer.desktop"))
    assert main(["desktop-entry", "--install"]) == 2  # a file where a folder must go: one line, exit 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lsexplorer desktop-entry: error: cannot install") and "\n" not in err
