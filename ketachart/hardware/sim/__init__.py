"""Device-side simulators: the same protocols spoken from the monitor's or pump's end."""
