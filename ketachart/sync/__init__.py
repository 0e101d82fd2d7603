"""Offline-first sync of chart rows to the clinic's central PostgreSQL. Imports store, never Qt."""
