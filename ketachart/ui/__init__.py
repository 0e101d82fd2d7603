"""Qt widgets and view models. The only package that owns widgets; imported only by ``ketachart.app``."""
