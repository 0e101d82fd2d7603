"""No patient data in logs or crash output: run a demo session and the selftest at DEBUG and grep."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from ketachart.demo import NAMES
from ketachart.logging_setup import RedactingFilter, clear_sensitive, register_sensitive

# The real mechanism is under test: redaction is switched off, so only "never log it" keeps the names out.
RUNNER = (
    "import sys\n"
    "from ketachart.logging_setup import setup_logging\n"
    "setup_logging('DEBUG', redact_values=False)\n"
    "from ketachart.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def run(args, env):
    return subprocess.run([sys.executable, "-c", RUNNER, *args], env=env, capture_output=True, text=True, timeout=240)


def test_demo_session_and_selftest_log_no_patient_data(tmp_path):
    env = dict(os.environ, KETACHART_DATA_DIR=str(tmp_path / "data"), QT_QPA_PLATFORM="offscreen",
               KETACHART_KEYRING="0")
    env.pop("KETACHART_DB_KEY", None)
    db = str(tmp_path / "demo.db")
    outputs = []
    for args in (["demo-session", "--unencrypted", "--db", db, "--seed", "0"],
                 ["demo-session", "--unencrypted", "--db", db, "--seed", "0"],  # second run: patient exists
                 ["selftest", "--unencrypted", "--db", db],
                 ["verify", "--unencrypted", "--db", db]):
        done = run(args, env)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    logs = tmp_path / "data" / "logs"
    files = sorted(logs.iterdir())
    assert files, "setup_logging wrote no log file"
    text = "\n".join(p.read_text(errors="replace") for p in files) + "\n".join(outputs)
    assert "DEBUG" in text or "INFO" in text  # something was logged at all
    family, given, dob, _ = NAMES[0]
    for needle in (family, given, dob, "DEMO-0000", f"{given} {family}", f"{family}, {given}"):
        assert needle not in text, f"patient data {needle!r} found in logs/output"


def test_the_safety_net_masks_registered_values_and_mrn_labels():
    clear_sensitive()
    register_sensitive("Rivera", "Jordan", "1984-03-12")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "chart of %s %s (MRN: %s) born %s", ("Jordan", "Rivera", "DEMO-0000", "1984-03-12"), None)
    RedactingFilter().filter(record)
    msg = record.getMessage()
    assert "Rivera" not in msg and "Jordan" not in msg and "DEMO-0000" not in msg and "1984-03-12" not in msg
    clear_sensitive()
