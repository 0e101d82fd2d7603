"""One chart per chair: the default chart is in the machine-wide folder shared by the ketachart group."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ketachart import paths, platform as plat
from ketachart.cli import main


@pytest.fixture
def machine_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "var-lib-ketachart"
    monkeypatch.delenv("KETACHART_DATA_DIR", raising=False)
    monkeypatch.setenv("KETACHART_KEYRING", "off")
    monkeypatch.delenv("KETACHART_DB_KEY", raising=False)
    monkeypatch.setattr(plat, "machine_data_dir", lambda: folder)
    monkeypatch.setattr(paths.platform, "machine_data_dir", lambda: folder)
    return folder


def test_the_default_chart_is_machine_wide_and_demo_charts_per_login(machine_dir: Path) -> None:
    machine_dir.mkdir()
    assert paths.default_db_path() == machine_dir / "chart.db"
    assert paths.demo_db_path() != machine_dir / "demo.db"
    assert Path.home() in paths.demo_db_path().parents


def test_override_still_wins(machine_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETACHART_DATA_DIR", str(tmp_path / "kiosk"))
    assert paths.default_db_path() == tmp_path / "kiosk" / "chart.db"
    assert paths.demo_db_path() == tmp_path / "kiosk" / "demo.db"


def test_a_missing_machine_folder_says_what_the_admin_must_do_exit_2(machine_dir: Path, capsys) -> None:
    assert main(["selftest"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(machine_dir) in err and "administrator" in err
    assert "groupadd --system ketachart" in err and "install -d -m 2770 -g ketachart" in err
    assert not machine_dir.exists()


def test_a_folder_this_login_cannot_write_says_join_the_group() -> None:
    """Run as a real unprivileged user (root writes everywhere), in a child process."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="ketachart-location-"))  # pytest's tmp_path is root-only
    try:
        _try_unwritable_folder(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _try_unwritable_folder(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    folder = tmp_path / "machine"
    folder.mkdir()
    folder.chmod(0o2750)
    code = (
        "import sys, ketachart.platform as p, ketachart.paths as q\n"
        f"p.machine_data_dir = lambda: __import__('pathlib').Path({str(folder)!r})\n"
        "from ketachart.cli import main\nprint('READY', flush=True)\nsys.exit(main(['selftest']))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KETACHART_DATA_DIR"}
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o777)
    env.update(HOME=str(home), QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if not setpriv:
            pytest.skip("running as root without setpriv: cannot try an unprivileged login")
        tmp_path.chmod(0o755)
        cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code]
    else:
        folder.chmod(0o555)
        cmd = [sys.executable, "-c", code]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    if "READY" not in run.stdout:  # e.g. the checkout or the interpreter is in a folder only root may read
        pytest.skip(f"an unprivileged user cannot run this interpreter and checkout: {run.stderr.strip()[-200:]}")
    assert run.returncode == 2, run.stderr
    assert "cannot write this chair's chart folder" in run.stderr and "'ketachart' group" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.skipif(os.name != "posix", reason="group-shared folder modes are POSIX")
def test_a_chart_created_in_the_group_folder_is_shared_with_the_group(machine_dir: Path) -> None:
    from ketachart.store.open import open_store

    machine_dir.mkdir()
    machine_dir.chmod(0o2770)
    old = os.umask(0o022)
    try:
        db = paths.default_db_path()
        with open_store(db, holder="test"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(db.stat().st_mode) & 0o060 == 0o060  # a colleague's login can write it
    assert stat.S_IMODE(db.stat().st_mode) & 0o007 == 0  # nobody else can
    key = db.with_name("chart.db.key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o640
    assert stat.S_IMODE(db.with_name("chart.db.lock").stat().st_mode) & 0o060 == 0o060


def test_the_machine_wide_charts_key_never_goes_in_one_logins_keyring(tmp_path: Path, monkeypatch) -> None:
    """Nurse B's login could not read nurse A's keyring: the shared chart's key is the group key file."""
    import keyring
    from keyring.backend import KeyringBackend

    from ketachart.store.keys import KeyStore, key_file_path

    class LoginKeyring(KeyringBackend):  # stands for one OS login's keyring (Credential Locker, Keychain)
        priority = 10
        store: dict = {}

        def get_password(self, service, username):
            return self.store.get((service, username))

        def set_password(self, service, username, password):
            self.store[(service, username)] = password

        def delete_password(self, service, username):
            self.store.pop((service, username), None)

    previous = keyring.get_keyring()
    keyring.set_keyring(LoginKeyring())
    try:
        own = tmp_path / "own"
        own.mkdir(mode=0o700)
        assert KeyStore(env={}).create(own / "demo.db").source == "OS keyring"
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o2770)
        key = KeyStore(env={}).create(shared / "chart.db")
        assert key.source.startswith("key file") and key_file_path(shared / "chart.db").exists()
        assert KeyStore(env={}).find(shared / "chart.db").secret == key.secret
    finally:
        keyring.set_keyring(previous)
