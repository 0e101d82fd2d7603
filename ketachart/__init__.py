"""KetaChart: bedside charting for ketamine and esketamine chair sessions."""

from importlib.metadata import PackageNotFoundError, version as _version

try:  # one version number: pyproject.toml's, read from the installed package metadata (also in the bundle)
    __version__ = _version("ketachart")
except PackageNotFoundError:  # a bare source tree that was never installed
    __version__ = "0+unknown"
