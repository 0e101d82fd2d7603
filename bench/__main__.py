"""Run every benchmark module (or those named) and print JSON lines.

    python -m bench                 # all
    python -m bench store devices   # only bench_store.py and bench_devices.py
    python -m bench board           # the clinic board (bench_board.py; needs PostgreSQL like bench sync)
    python -m bench --quick         # smaller sizes, for a smoke run in CI
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
import traceback


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("areas", nargs="*", help="benchmark modules to run (store, devices, ui ...)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    args = parser.parse_args(argv)
    here = os.path.dirname(__file__)
    names = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([here]) if m.name.startswith("bench_"))
    if args.areas:
        unknown = set(args.areas) - set(names)
        if unknown:
            parser.error(f"unknown area(s) {', '.join(sorted(unknown))}; have {', '.join(names)}")
        names = [n for n in names if n in args.areas]
    if len(names) > 1:
        # Each area in its own process: one benchmark that aborts (Qt does, on misuse) cannot take the
        # others' figures with it, and no area measures in a process another one has warmed or bloated.
        import subprocess

        failed = 0
        for name in names:
            cmd = [sys.executable, "-m", "bench", name] + (["--quick"] if args.quick else [])
            code = subprocess.call(cmd, cwd=os.path.dirname(here))
            if code != 0:
                failed += 1
                print(json.dumps({"name": f"{name}.error", "error": f"exit code {code}"}), flush=True)
        return 1 if failed else 0
    failed = 0
    for name in names:
        try:
            module = importlib.import_module(f"bench.bench_{name}")
            for figure in module.run(quick=args.quick):
                print(json.dumps(figure), flush=True)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failed += 1
            traceback.print_exc()
            print(json.dumps({"name": f"{name}.error", "error": f"{type(exc).__name__}: {exc}"}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
