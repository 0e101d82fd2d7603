"""Admins change clinic policy from the command line; every change is a new, audited policy version."""

import os
import subprocess
import sys

import pytest


def run(db, *args, stdin=""):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "ketachart.cli", *args, "--db", str(db), "--unencrypted"],
                          input=stdin, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "chart.db"
    r = run(path, "users", "add", "admin.a", "--name", "Ada Admin", "--role", "admin", stdin="admin-4321\nadmin-4321\n")
    assert r.returncode == 0, r.stderr
    r = run(path, "users", "add", "nurse.b", "--name", "Bo Nurse, RN", "--role", "nurse", "--as", "admin.a",
            stdin="admin-4321\n1357\n1357\n")
    assert r.returncode == 0, r.stderr
    return path


def test_admin_sets_a_new_policy_version(db):
    r = run(db, "policy", "set", "dose_cap_mg=120", "nibp_interval_min=10", "--reason", "medical director",
            "--as", "admin.a", stdin="admin-4321\n")
    assert r.returncode == 0, r.stderr
    assert "version 2" in r.stdout
    shown = run(db, "policy", "show").stdout.splitlines()
    assert "dose_cap_mg=120.0" in shown and "nibp_interval_min=10" in shown and "version=2" in shown


@pytest.mark.parametrize(
    "changes, who, secret, message",
    [
        (["dose_cap_mg=120"], "nurse.b", "1357", "Only an admin"),
        (["dose_cap_mg=120"], "admin.a", "0000", ""),
        (["no_such_thing=1"], "admin.a", "admin-4321", "not a policy setting"),
        (["dose_cap_mg=lots"], "admin.a", "admin-4321", "needs a float"),
        (["mg_per_kg_default=5"], "admin.a", "admin-4321", "mg/kg default"),
    ],
)
def test_bad_policy_changes_are_refused_and_change_nothing(db, changes, who, secret, message):
    r = run(db, "policy", "set", *changes, "--reason", "x", "--as", who, stdin=f"{secret}\n")
    assert r.returncode == 2 and message in r.stderr
    assert "version=1" in run(db, "policy", "show").stdout.splitlines()
