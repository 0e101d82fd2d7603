"""Pure clinical model: no Qt, no SQLAlchemy, no I/O.

Everything here can be tested with plain values and a fake clock.
"""
