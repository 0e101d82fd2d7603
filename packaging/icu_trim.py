"""Shrink the ICU data library Qt ships (libicudata, 32 MB) to what Qt can ask of it in KetaChart (about 6 MB).

Qt Core links ICU for collation (QCollator, file dialogs' sorting), legacy text codecs (QStringConverter by
name) and time-zone display names. KetaChart and pyqtgraph call none of these directly; the app never
uses ICU's break dictionaries, transliterators, number spell-out, or any locale's display names. Kept:

- everything that is not locale data (properties, normalisation, aliases, supplemental data, time zones);
- collation for every language except the three large CJK tables (zh, ja, ko fall back to root order);
- locale data, display names (units, currencies, languages, regions, zones) and break rules for root and
  English, Spanish, French, German, Italian, Portuguese and Dutch;
- single-byte codecs (windows-125x, ISO-8859-x ...); the multi-byte CJK codec tables go.

Dropped: transliteration, rule-based number formats, break dictionaries (CJK, Thai, Lao, Khmer, Burmese).
A missing item makes ICU fall back (root collation, no display name), never crash; ``ketachart selftest``
checks that collation works in the bundle.

Uses ICU's own tools (Debian's icu-devtools: icupkg, genccode) and binutils (readelf, ld):

    python packaging/icu_trim.py dist/ketachart/_internal/PySide6/Qt/lib/libicudata.so.73
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

LANGS = {"root", "en", "es", "fr", "de", "it", "pt", "nl"}
BIG_CJK_COLLATION = {"zh", "ja", "ko"}
DROP_TREES = {"translit", "rbnf"}
NAME_TREES = {"unit", "curr", "lang", "region", "zone"}
SMALL_CODEC = 20_000  # bytes: single-byte codec tables are 1-10 KB, CJK ones 50 KB to 1 MB
TOOLS = ("icupkg", "genccode", "readelf", "ld")


def _locale(name: str) -> str | None:
    """The language of a locale resource (``en_GB.res`` -> ``en``), or None for a non-locale item."""
    m = re.fullmatch(r"([a-z]{2,3})(_[A-Za-z0-9]*)*\.res", name)
    return m.group(1) if m else None


def keep(item: str, size: int) -> bool:
    tree, _, name = item.rpartition("/")
    lang = _locale(name) or ("root" if name == "root.res" else None)
    if tree in DROP_TREES:
        return False
    if tree == "":
        if name.endswith(".cnv"):
            return size < SMALL_CODEC
        return lang is None or lang in LANGS
    if tree == "coll":
        return lang not in BIG_CJK_COLLATION
    if tree == "brkitr":
        return not name.endswith(".dict") and (lang is None or lang in LANGS)
    if tree in NAME_TREES:
        return lang is None or lang in LANGS
    return True


def _run(*cmd: str, cwd: Path | None = None) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=cwd).stdout


def _extract(lib: Path, dat: Path) -> str:
    """Copy the library's common data (symbol icudtNN_dat in .rodata) to ``dat``; return the entry name."""
    symbols = _run("readelf", "-W", "--dyn-syms", str(lib))
    m = re.search(r"\s([0-9a-f]+)\s+(0x[0-9a-f]+|\d+)\s+OBJECT\s+GLOBAL\s+DEFAULT\s+\d+\s+(icudt\d+)_dat\b", symbols)
    if not m:
        raise SystemExit(f"icu-trim: no icudtNN_dat symbol in {lib}")
    addr, size, entry = int(m.group(1), 16), int(m.group(2), 0), m.group(3)
    sections = _run("readelf", "-W", "-S", str(lib))
    for line in sections.splitlines():
        s = re.search(r"\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if s and int(s.group(2), 16) <= addr < int(s.group(2), 16) + int(s.group(4), 16):
            offset = int(s.group(3), 16) + addr - int(s.group(2), 16)
            with open(lib, "rb") as f:
                f.seek(offset)
                dat.write_bytes(f.read(size))
            return entry
    raise SystemExit(f"icu-trim: the data symbol of {lib} is in no section")


def trim(lib: Path) -> tuple[int, int]:
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        raise SystemExit(f"icu-trim: missing {', '.join(missing)} (Debian: apt-get install icu-devtools binutils)")
    with tempfile.TemporaryDirectory(prefix="ketachart-icu-") as tmp:
        work = Path(tmp)
        entry = _extract(lib, work / "extracted")
        pkg = f"{entry}l"  # little-endian ASCII package, as on every platform we bundle for
        (work / "in").mkdir()
        full = work / "in" / f"{pkg}.dat"  # icupkg wants the package's own name (its items are prefixed with it)
        (work / "extracted").rename(full)
        items = [ln.strip() for ln in _run("icupkg", "-l", str(full)).splitlines() if ln.strip()]
        (work / "x").mkdir()
        (work / "items.txt").write_text("\n".join(items) + "\n")
        _run("icupkg", "-x", str(work / "items.txt"), "-d", str(work / "x"), str(full))
        sizes = {item: (work / "x" / item).stat().st_size for item in items}
        drop = [i for i in items if not keep(i, sizes[i])]
        # codec tables that extend a dropped one are useless without it: drop them too (icupkg names them)
        (work / "probe").mkdir()
        for _ in range(3):
            (work / "drop.txt").write_text("\n".join(drop) + "\n")
            probe = subprocess.run(["icupkg", "-r", str(work / "drop.txt"), str(full), str(work / "probe" / f"{pkg}.dat")],
                                   capture_output=True, text=True)
            extra = {m for m in re.findall(r"Item (\S+\.cnv) depends on missing item", probe.stderr)} - set(drop)
            if not extra:
                break
            drop += sorted(extra)
        (work / "drop.txt").write_text("\n".join(drop) + "\n")
        out = work / "out"
        out.mkdir()
        # --ignore-deps: brkitr/root.res names the dropped dictionaries; ICU works without them
        _run("icupkg", "--ignore-deps", "-r", str(work / "drop.txt"), str(full), str(out / f"{pkg}.dat"))
        # -m: an ELF file of this machine's architecture (ELF output defaults to i386 otherwise)
        _run("genccode", "-o", "-m", str(Path(sys.executable).resolve()), "-e", entry, f"{pkg}.dat", cwd=out)
        obj = next(out.glob("*.o"))
        new = out / lib.name
        _run("ld", "-shared", "-soname", lib.name, "-o", str(new), str(obj))
        if f"{entry}_dat" not in _run("readelf", "-W", "--dyn-syms", str(new)):
            raise SystemExit(f"icu-trim: the rebuilt {lib.name} lacks {entry}_dat; left unchanged")
        before = lib.stat().st_size
        shutil.copyfile(new, lib)
        return before, lib.stat().st_size


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    before, after = trim(Path(argv[0]))
    print(f"icu-trim: {argv[0]}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
