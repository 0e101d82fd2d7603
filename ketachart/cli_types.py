"""Argument types shared by every subcommand module.

Kept out of ``cli.py`` (like ``errors.py``) so that ``python -m ketachart.cli``, where that module is
``__main__``, and the subcommand modules use the very same ``OutputPath`` class.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from .errors import UserError


class OutputPath(type(Path())):
    """A file the command will write: checked by :func:`main` before the command runs (see output_path)."""


def output_path(text: str) -> Path:
    """argparse ``type`` for an output file; :func:`check_output_paths` says in one line why it cannot be written."""
    return OutputPath(text).expanduser()


def check_output_paths(args: argparse.Namespace) -> None:
    """Refuse an output file that cannot be written, before any work is done (exit 2, one line)."""
    for value in vars(args).values():
        if not isinstance(value, OutputPath):
            continue
        if value.is_dir():
            raise UserError(f"cannot write {value}: it is a folder; give a file name")
        parent = value.parent if str(value.parent) else Path(".")
        if not parent.is_dir():
            raise UserError(f"cannot write {value}: the folder {parent} does not exist")
        if value.exists():
            ok = os.access(value, os.W_OK)
        else:
            try:  # try it for real: ACLs and read-only mounts decide, not mode bits
                with tempfile.TemporaryFile(dir=parent):
                    pass
                ok = True
            except OSError:
                ok = False
        if not ok:
            raise UserError(f"cannot write {value}: permission denied (choose a folder you can write to)")
