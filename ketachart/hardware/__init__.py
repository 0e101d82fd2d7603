"""Bedside devices: sans-IO protocol codecs, the serial/TCP link, and simulators."""
