"""The clinic board: every chair at a glance, live, from the central PostgreSQL (read-only). No Qt here:
``queries`` reads the central with the board's login, ``model`` makes the tiles, ``listen`` hears NOTIFY;
the widgets are in ``ketachart.ui.board``."""
