"""The desktop bundle's size (`make bundle` builds dist/ketachart): total and its biggest parts.

Prints ``bundle.size_mb`` (goal <= 150 MB) when the bundle was built in this tree, else says it was not.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_MB = 150.0


def _size(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            total += os.lstat(os.path.join(root, name)).st_size  # symlinks count as links, as du does not follow
    return total


def parts(bundle: Path, top: int = 8) -> dict[str, float]:
    """The biggest entries of _internal/ (and PySide6's Qt/lib), in MB."""
    internal = bundle / "_internal"
    sizes = {p.name: _size(p) for p in internal.iterdir()} if internal.is_dir() else {}
    qt_lib = internal / "PySide6" / "Qt" / "lib"
    if qt_lib.is_dir():
        sizes.update({f"PySide6/Qt/lib/{p.name}": _size(p) for p in qt_lib.iterdir()})
    biggest = sorted(sizes.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return {name: round(size / 1e6, 1) for name, size in biggest}


def run(quick: bool = False):
    bundle = Path(os.environ.get("KETACHART_BUNDLE", ROOT / "dist" / "ketachart"))
    if not (bundle / "ketachart").exists() and not (bundle / "ketachart.exe").exists():
        yield {"name": "bundle.size_mb", "value": None, "goal": GOAL_MB,
               "note": f"not built: no bundle at {bundle} (run `make bundle` first)"}
        return
    yield {"name": "bundle.size_mb", "value": round(_size(bundle) / 1e6, 1), "goal": GOAL_MB,
           "parts_mb": parts(bundle), "note": f"PyInstaller onedir bundle at {bundle} (apparent size, MB = 10^6 bytes)"}
