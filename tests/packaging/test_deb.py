"""`make deb`'s packaging script, on a stand-in bundle (the real bundle is packaged and installed in CI)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb (Debian's dpkg) is not installed")


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("deb")
    bundle = tmp / "bundle"
    (bundle / "_internal").mkdir(parents=True)
    exe = bundle / "ketachart"
    exe.write_text("#!/bin/sh\necho 'KetaChart 9.9.1'\n")
    exe.chmod(0o755)
    (bundle / "_internal" / "data.txt").write_text("x")
    out = tmp / "out"
    run = subprocess.run(["bash", str(ROOT / "packaging" / "deb" / "build.sh"), str(bundle), str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    (deb,) = out.glob("ketachart_*.deb")
    return deb


def _contents(deb: Path) -> dict[str, str]:
    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True).stdout
    entries = {}
    for line in listing.splitlines():
        parts = line.split(None, 5)
        entries[parts[5].split(" -> ")[0].lstrip(".")] = line
    return entries


def test_version_comes_from_the_bundle(deb: Path) -> None:
    assert deb.name.startswith("ketachart_9.9.1-1_")
    field = subprocess.run(["dpkg-deb", "--field", str(deb), "Version"], capture_output=True, text=True).stdout
    assert field.strip() == "9.9.1-1"


def test_installs_under_opt_with_the_command_on_path_desktop_entry_and_icon(deb: Path) -> None:
    files = _contents(deb)
    assert "/opt/ketachart/ketachart" in files and files["/opt/ketachart/ketachart"].startswith("-rwxr-xr-x root/root")
    assert "-> /opt/ketachart/ketachart" in files["/usr/bin/ketachart"]
    assert "/usr/share/applications/ketachart.desktop" in files
    assert "/usr/share/icons/hicolor/256x256/apps/ketachart.png" in files
    assert "/usr/share/icons/hicolor/scalable/apps/ketachart.svg" in files
    assert "/usr/share/doc/ketachart/README.Debian" in files


def test_postinst_creates_the_group_and_the_chart_folder_and_mentions_dialout(deb: Path, tmp_path: Path) -> None:
    subprocess.run(["dpkg-deb", "--control", str(deb), str(tmp_path / "ctl")], check=True)
    postinst = (tmp_path / "ctl" / "postinst").read_text()
    assert "addgroup --system" in postinst and "install -d -o root -g ketachart -m 2770 /var/lib/ketachart" in postinst
    assert "dialout" in postinst
    assert "rm " not in (tmp_path / "ctl" / "postrm").read_text()  # removing the program never deletes the chart
    control = (tmp_path / "ctl" / "control").read_text()
    assert "Package: ketachart" in control and "Depends:" in control
    run = subprocess.run(["sh", "-n", str(tmp_path / "ctl" / "postinst")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
