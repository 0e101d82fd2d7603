"""The clinic board widgets (grid, tiles, read-only chart). Clinical state lives in ketachart.board."""
