"""Errors shared by every command: a problem the user can fix is printed as one line, exit code 2.

Kept out of ``cli.py`` so that ``python -m ketachart.cli`` (where that module is ``__main__``) and the
subcommand modules raise and catch the same class.
"""


class UserError(Exception):
    """A problem the user can fix; printed without a traceback, exit code 2."""
