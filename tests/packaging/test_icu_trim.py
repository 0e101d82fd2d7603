"""packaging/icu_trim.py: which ICU data stays in the bundle, and that Qt still collates with what stays."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("icu_trim", ROOT / "packaging" / "icu_trim.py")
icu_trim = importlib.util.module_from_spec(spec)
spec.loader.exec_module(icu_trim)


@pytest.mark.parametrize("item,size,kept", [
    ("root.res", 100_000, True), ("pool.res", 160_000, True), ("supplementalData.res", 240_000, True),
    ("uts46.nrm", 60_000, True), ("cnvalias.icu", 60_000, True), ("en_GB.res", 5_000, True),
    ("es_US.res", 5_000, True), ("ja.res", 40_000, False),
    ("ibm-5348_P100-1997.cnv", 2_000, True), ("ibm-943_P15A-2003.cnv", 900_000, False),  # windows-1252 / Shift-JIS
    ("coll/ucadata.icu", 570_000, True), ("coll/sv.res", 35_000, True), ("coll/zh.res", 712_000, False),
    ("brkitr/word.brk", 20_000, True), ("brkitr/cjdict.dict", 2_000_000, False),
    ("zone/en.res", 50_000, True), ("zone/pool.res", 50_000, True), ("zone/ja.res", 50_000, False),
    ("translit/root.res", 50_000, False), ("rbnf/en.res", 10_000, False),
])
def test_what_stays(item, size, kept):
    assert icu_trim.keep(item, size) is kept


@pytest.mark.slow
def test_trimmed_data_still_collates_in_qt(tmp_path):
    import PySide6

    libs = sorted((Path(PySide6.__file__).parent / "Qt" / "lib").glob("libicudata.so.*"))
    if not libs or not sys.platform.startswith("linux"):
        pytest.skip("PySide6 ships no ICU data library here (only the Linux wheels do)")
    missing = [t for t in icu_trim.TOOLS if not shutil.which(t)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install icu-devtools binutils; make bundle does)")
    lib = tmp_path / libs[0].name
    shutil.copyfile(libs[0], lib)
    before, after = icu_trim.trim(lib)
    assert after < before / 3
    code = ("from PySide6.QtCore import QCoreApplication, QCollator, QLocale, QStringDecoder\n"
            "app = QCoreApplication([])\n"
            "print(QCollator(QLocale('en_US')).compare('apple', 'Banana') < 0,"
            " QCollator(QLocale('sv_SE')).compare('\\u00c4pple', 'zeta') > 0,"
            " QStringDecoder('windows-1252').isValid(), QStringDecoder('Shift_JIS').isValid())\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "LD_PRELOAD": str(lib)})
    # the trimmed copy was the one loaded: its CJK codec tables are gone, the single-byte ones are there
    assert run.stdout.split() == ["True", "True", "True", "False"], run.stdout + run.stderr
    assert "Could not create collator" not in run.stderr
