"""Portable code: only ketachart/platform.py may touch what exists on one operating system only.

Clinic chairs are mostly Windows laptops; a stray ``import fcntl`` anywhere else would crash there at
import time, which nothing on this Linux machine would notice. So every source file is read and checked.
"""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import pytest

from ketachart import platform as plat

ROOT = Path(__file__).resolve().parents[2] / "ketachart"
ALLOWED = {"ketachart/platform.py"}

POSIX_OR_WINDOWS_ONLY_MODULES = {
    "fcntl", "pty", "termios", "tty", "grp", "pwd", "resource", "syslog", "crypt", "spwd", "posix", "nis",
    "msvcrt", "winreg", "winsound", "_winapi", "nt", "win32api", "win32file",
}
OS_FUNCTIONS_NOT_EVERYWHERE = {
    "pread", "pwrite", "preadv", "pwritev", "fchmod", "fchown", "chown", "lchown", "openpty", "forkpty", "fork",
    "getuid", "geteuid", "getgid", "getegid", "getgroups", "setsid", "killpg", "getpgid", "mkfifo", "mknod",
    "statvfs", "fstatvfs", "sysconf", "getloadavg", "posix_fallocate", "posix_fadvise", "sync", "uname",
    "ttyname", "ctermid", "tcgetpgrp", "set_blocking", "get_blocking",  # the last two: Windows only from 3.12
}


def offences(source: str) -> list[str]:
    """Each POSIX-only or Windows-only import or ``os`` function used in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in POSIX_OR_WINDOWS_ONLY_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in POSIX_OR_WINDOWS_ONLY_MODULES:
                found.append(node.module)
            elif node.module == "os":
                found += [f"os.{a.name}" for a in node.names if a.name in OS_FUNCTIONS_NOT_EVERYWHERE]
        elif isinstance(node, ast.Attribute) and node.attr in OS_FUNCTIONS_NOT_EVERYWHERE:
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                found.append(f"os.{node.attr}")
    return found


def test_the_checker_catches_each_kind_of_offence() -> None:
    src = "import fcntl\nimport os\nfrom termios import TCSANOW\nfrom os import pread\nx = os.pwrite(1, b'', 0)\n"
    assert offences(src) == ["fcntl", "termios", "os.pread", "os.pwrite"]
    assert offences("import os, socket\nos.open('x', os.O_RDONLY)\nimport ketachart.platform\n") == []


def test_no_platform_specific_code_outside_the_platform_module() -> None:
    bad = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).as_posix()
        if rel in ALLOWED:
            continue
        found = offences(path.read_text(encoding="utf-8"))
        if found:
            bad[rel] = found
    assert bad == {}, f"move these into ketachart/platform.py: {bad}"


def test_platform_module_is_qt_free() -> None:
    imported = {n.names[0].name.split(".")[0] for n in ast.walk(ast.parse((ROOT / "platform.py").read_text()))
                if isinstance(n, ast.Import)}
    imported |= {n.module.split(".")[0] for n in ast.walk(ast.parse((ROOT / "platform.py").read_text()))
                 if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"PySide6", "pyqtgraph"}


# --- the platform module's behaviour --------------------------------------------------------------------
def test_a_second_lock_on_the_same_file_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "x.lock"
    with open(p, "w+b") as a, open(p, "r+b") as b:
        plat.lock_exclusive(a)
        plat.rewrite(a, b'{"holder": "Chair 2"}')
        with pytest.raises(plat.AlreadyLocked):
            plat.lock_exclusive(b)
        assert plat.read_at(b, 4096) == b'{"holder": "Chair 2"}'
    with open(p, "r+b") as c:  # closing released it
        plat.lock_exclusive(c)


def test_a_key_file_is_owner_only_in_a_private_folder(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o700)
    fd = plat.create_private_file(tmp_path / "k")
    os.close(fd)
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600
    assert plat.private_file_problem(tmp_path / "k") is None
    os.chmod(tmp_path / "k", 0o640)
    assert "chmod 600" in plat.private_file_problem(tmp_path / "k")


def test_a_key_file_is_group_readable_in_the_group_shared_chart_folder(tmp_path: Path) -> None:
    shared = tmp_path / "var-lib-ketachart"
    shared.mkdir()
    os.chmod(shared, 0o2770)
    assert plat.is_group_shared_dir(shared)
    fd = plat.create_private_file(shared / "chart.db.key")
    os.close(fd)
    assert stat.S_IMODE((shared / "chart.db.key").stat().st_mode) == 0o640
    assert plat.private_file_problem(shared / "chart.db.key") is None  # the nurses' group may read it
    os.chmod(shared / "chart.db.key", 0o644)
    assert "chmod 640" in plat.private_file_problem(shared / "chart.db.key")  # others may not


def test_on_windows_the_mode_bits_never_refuse_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows reports every file as 0o666/0o444: a POSIX mode check there would refuse every key file."""
    p = tmp_path / "central.json"
    p.write_text("{}")
    os.chmod(p, 0o666)
    assert plat.private_file_problem(p) is not None
    monkeypatch.setattr(plat, "IS_WINDOWS", True)
    assert plat.private_file_problem(p) is None


def test_machine_wide_locations(monkeypatch: pytest.MonkeyPatch) -> None:
    assert plat.machine_data_dir() == Path("/var/lib/ketachart")
    monkeypatch.setattr(plat, "IS_MACOS", True)
    assert plat.machine_data_dir() == Path("/Library/Application Support/KetaChart")
    monkeypatch.setattr(plat, "IS_WINDOWS", True)
    monkeypatch.setenv("PROGRAMDATA", "D:\\ProgramData")
    assert str(plat.machine_data_dir()).endswith("KetaChart") and "ProgramData" in str(plat.machine_data_dir())


def test_pty_is_raw(tmp_path: Path) -> None:
    if not plat.has_pty():
        pytest.skip("no pseudo-terminals on this OS")
    master, slave, name = plat.open_raw_pty()
    try:
        assert name.startswith("/dev/")
        os.write(master, b"\x03\r")  # raw: ^C and CR arrive as bytes, not a signal or a newline
        assert os.read(slave, 2) == b"\x03\r"
        with pytest.raises(BlockingIOError):  # the device's end never blocks the simulator thread
            os.read(master, 1)
    finally:
        os.close(master)
        os.close(slave)
