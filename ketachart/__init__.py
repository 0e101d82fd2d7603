"""KetaChart: bedside charting for ketamine and esketamine chair sessions."""

__version__ = "0.1.0"
