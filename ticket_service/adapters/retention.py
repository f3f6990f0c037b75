"""Deleting rows whose time has passed, across tenants, a batch at a time.

Batches keep each transaction (and the locks it takes) short, so a sweep never stalls the
webhook path; whatever one sweep leaves, the next takes.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection


async def purge(
    conn: AsyncConnection, table: Table, *, older: ColumnElement[bool], limit: int
) -> int:
    """Delete up to `limit` rows of `table` matching `older` (all of them, for a table
    without a primary key to batch by); how many went."""
    key = list(table.primary_key.columns)
    statement = delete(table).where(older)
    if key:
        doomed = select(*key).where(older).limit(limit)
        statement = delete(table).where(tuple_(*key).in_(doomed))
    result = await conn.execute(statement)
    return result.rowcount
