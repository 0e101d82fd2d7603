"""Everything that differs between Windows, macOS and Linux, in one place (no Qt here).

The rest of ``ketachart`` never imports a POSIX-only or Windows-only module (fcntl, pty, termios, tty, grp,
pwd, msvcrt, winreg ...) nor calls ``os.pread``/``os.pwrite``/``os.fchmod``/``os.openpty``:
tests/packaging/test_portable.py reads every source file and fails on one. Where a portable library
exists it is used (``portalocker`` for file locks); what is left is a small, named branch per platform.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import IO

IS_WINDOWS = sys.platform == "win32"
IS_MACOS = sys.platform == "darwin"

APP_NAME = "KetaChart"
GROUP = "ketachart"  # the OS group whose members (the nurses' logins) may open the machine-wide chart


# --- where the machine-wide chart lives ---------------------------------------------------------------
def machine_data_dir() -> Path:
    """The one chart of this chair, shared by every OS login on the computer (not per user)."""
    if IS_WINDOWS:
        return Path(os.environ.get("PROGRAMDATA") or r"C:\ProgramData") / APP_NAME
    if IS_MACOS:
        return Path("/Library/Application Support") / APP_NAME
    return Path("/var/lib/ketachart")


def machine_data_dir_setup(path: Path) -> str:
    """What the computer's administrator runs once so every nurse's login can open the chart at ``path``."""
    if IS_WINDOWS:
        return (
            f'as an administrator: mkdir "{path}" && icacls "{path}" /inheritance:r /grant:r '
            f'"Administrators:(OI)(CI)F" "{GROUP}:(OI)(CI)M" (create the local group "{GROUP}" first and add '
            "the nurses' accounts to it); the KetaChart installer does this"
        )
    if IS_MACOS:
        return (
            f"sudo dseditgroup -o create {GROUP}; sudo dseditgroup -o edit -a NURSE -t user {GROUP}; "
            f'sudo mkdir -p "{path}" && sudo chgrp {GROUP} "{path}" && sudo chmod 2770 "{path}"'
        )
    return (
        f"sudo groupadd --system {GROUP}; sudo usermod -aG {GROUP} NURSE; "
        f"sudo install -d -m 2770 -g {GROUP} {path} (the ketachart .deb package does this when installed)"
    )


def is_group_shared_dir(path: Path) -> bool:
    """A directory set up for a group (setgid bit, group-writable): its files are shared with that group."""
    if IS_WINDOWS:
        return False  # access is by ACL inheritance there; mode bits say nothing
    try:
        st = path.stat()
    except OSError:
        return False
    return bool(st.st_mode & stat.S_ISGID) and bool(st.st_mode & stat.S_IWGRP)


def is_machine_wide(db_path: Path) -> bool:
    """The chart sits in the machine-wide folder (or another folder shared with a group), not a login's own."""
    folder = Path(db_path).expanduser().parent
    try:
        if folder.resolve() == machine_data_dir().resolve():
            return True
    except OSError:
        pass
    return is_group_shared_dir(folder)


def share_new_files_with_group() -> None:
    """Files created from now on are readable and writable by the group (the chart, its WAL, lock, key).

    Called only when the chart is in a group-shared directory, so a nurse's login can open the chart that a
    colleague's login created. Others get nothing (umask 007).
    """
    if not IS_WINDOWS:
        os.umask(0o007)


def share_chart_files_with_group(db_path: Path) -> None:
    """Make the chart and its WAL files group-writable when they sit in a group-shared folder.

    SQLite creates database files 0644 minus the umask, so without this a colleague's login could read the
    chart but not write it. Files owned by another login are left as they are (their owner did this).
    """
    if IS_WINDOWS or not is_group_shared_dir(db_path.parent):
        return
    for suffix in ("", "-wal", "-shm"):
        p = db_path.with_name(db_path.name + suffix)
        try:
            st = p.stat()
            if st.st_uid == os.getuid() and (st.st_mode & 0o660) != 0o660:
                os.chmod(p, (stat.S_IMODE(st.st_mode) | 0o660) & ~0o007)
        except OSError:
            pass


# --- private files (key files, credentials) ------------------------------------------------------------
def create_private_file(path: Path) -> int:
    """Create ``path`` (must not exist) for a secret and return its fd: owner only, or owner and the group
    in a group-shared directory. On Windows the new file inherits the folder's ACL (the user's profile, or
    the ProgramData folder restricted to the ketachart group by the installer)."""
    shared = is_group_shared_dir(path.parent)
    mode = 0o640 if shared else 0o600
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    if not IS_WINDOWS:
        os.fchmod(fd, mode)  # whatever the umask
    return fd


def private_file_problem(path: Path, st: os.stat_result | None = None) -> str | None:
    """Why a secret-bearing file is not private enough, or None when it is.

    POSIX: no bits for others; no group bits unless the file sits in a group-shared directory; owned by the
    user running KetaChart (or readable by the ketachart group there). Windows: permission bits do not
    describe who may read a file (ACLs do), so the check never refuses there; the file's folder (the
    user's profile or the installer-restricted ProgramData folder) is what keeps it private.
    """
    if IS_WINDOWS:
        return None
    st = st or path.stat()
    mode = stat.S_IMODE(st.st_mode)
    shared = is_group_shared_dir(path.parent)
    if mode & (0o007 if shared else 0o077):  # in a group-shared folder the group (the nurses) may read it
        want = "chmod 640" if shared else "chmod 600"
        return f"is readable by others (mode {mode:04o}); it holds a secret, so it must be private: {want} {path}"
    if not shared and hasattr(os, "getuid") and st.st_uid != os.getuid():
        return "belongs to another user; it must be owned by the user running KetaChart"
    return None


# --- locks ----------------------------------------------------------------------------------------------
class AlreadyLocked(Exception):
    """Another process holds the lock."""


def lock_exclusive(f: IO[bytes]) -> None:
    """Take an exclusive, non-blocking lock on an open file (held until the file is closed).

    portalocker uses flock on POSIX and LockFileEx/msvcrt.locking on Windows.
    """
    import portalocker

    try:
        portalocker.lock(f, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
    except portalocker.exceptions.LockException as exc:  # AlreadyLocked is a subclass
        raise AlreadyLocked(str(exc)) from None


def read_at(f: IO[bytes], size: int, offset: int = 0) -> bytes:
    """Read up to ``size`` bytes at ``offset`` (portable stand-in for os.pread). On Windows a file locked by
    another process cannot be read: an empty result then, and the caller says "another KetaChart"."""
    try:
        f.seek(offset)
        return f.read(size) or b""
    except OSError:
        return b""


def rewrite(f: IO[bytes], data: bytes) -> None:
    """Replace the whole content of an open file (portable stand-in for ftruncate + os.pwrite)."""
    f.seek(0)
    f.truncate()
    f.write(data)
    f.flush()


# --- serial lines ----------------------------------------------------------------------------------------
def has_pty() -> bool:
    """Pseudo-terminals exist (Linux, macOS); on Windows the simulators serve over TCP instead."""
    return not IS_WINDOWS and hasattr(os, "openpty")


def open_raw_pty() -> tuple[int, int, str]:
    """A new pseudo-terminal (master, slave, slave's path) in raw mode, as a serial line to a device would
    be; the master (the simulated device's end) does not block."""
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    return master, slave, os.ttyname(slave)


# --- the app's own resources ------------------------------------------------------------------------------
def resources_dir() -> Path | None:
    """The top-level resources/ folder (icons, sounds, desktop file): in a source tree or editable install,
    inside the PyInstaller bundle, or installed as package data."""
    candidates = []
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        candidates.append(Path(frozen) / "resources")
    here = Path(__file__).resolve().parent
    candidates += [here.parent / "resources", Path(sys.prefix) / "share" / "ketachart"]
    for c in candidates:
        if c.is_dir():
            return c
    return None
