"""PyInstaller entry point: the same ``ketachart`` command as the console script."""

import sys

from ketachart.cli import main

if __name__ == "__main__":
    sys.exit(main())
