"""The central's schema name and group roles, shared by the chart schema (:mod:`.central`) and the board's
(:mod:`.central_board`). Kept apart so the board, which imports only the latter, does not load the chart models."""

from __future__ import annotations

import psycopg
from psycopg import sql

SCHEMA = "ketachart"
CHAIR_ROLE = "ketachart_chair"
ADMIN_ROLE = "ketachart_admin"  # issue 13's clinic IT / admin logins


def ensure_role(cur: psycopg.Cursor, role: str) -> None:
    """Create the NOLOGIN group ``role`` unless it exists (roles are cluster-wide: two inits may race)."""
    cur.execute(sql.SQL(
        """DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {role_lit}) THEN
                BEGIN
                    CREATE ROLE {role} NOLOGIN;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                END;
            END IF;
        END $$"""
    ).format(role_lit=sql.Literal(role), role=sql.Identifier(role)))
