"""Every list paginates with bounds: one page shape and one pair of query parameters.

A route takes ``page: PageQuery`` (``?limit=&offset=``, both bounded so no number a
caller sends can reach the database as an out-of-range integer) and answers
``Page[ItemView]``: the items, the total matching the filter, and the ``limit`` and
``offset`` used, so a client pages with ``offset += limit`` until ``offset >= total``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import asyncpg
from fastapi import Depends, Query
from pydantic import BaseModel, Field

T = TypeVar("T")

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
# Far beyond any list the city holds, far below PostgreSQL's bigint: an offset past the
# end is an empty page, never a database error.
MAX_OFFSET = 10_000_000


@dataclass(frozen=True)
class PageRequest:
    """Which slice of a list the caller asked for."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0

    def slice(self, items: Sequence[T]) -> list[T]:
        """This page of a list already in memory (short lists read whole)."""
        return list(items[self.offset : self.offset + self.limit])


async def page_request(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, at most {MAX_LIMIT}")
    ] = DEFAULT_LIMIT,
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Items to skip (0 = the first page)")
    ] = 0,
) -> PageRequest:
    """FastAPI dependency: the bounded ``limit`` and ``offset`` query parameters."""
    return PageRequest(limit=limit, offset=offset)


PageQuery = Annotated[PageRequest, Depends(page_request)]

MAX_IDS = 100  # ids repeated in one query string: the URL stays under 4 KB
HouseholdIdsQuery = Annotated[
    list[uuid.UUID] | None,
    Query(
        max_length=MAX_IDS,
        description=f"Only these households (repeat the parameter, at most {MAX_IDS})",
    ),
]
"""A list's filter by household, for many at once (e.g. a week's move-outs): 422 naming
``household_id`` beyond ``MAX_IDS``."""


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int = Field(ge=0, description="Items matching the request's filter, all pages")
    limit: int = Field(ge=1, le=MAX_LIMIT, description="The page size used")
    offset: int = Field(ge=0, description="Items skipped before this page")

    @classmethod
    def of(cls, items: Sequence[T], total: int, request: PageRequest) -> Page[T]:
        return cls(items=list(items), total=total, limit=request.limit, offset=request.offset)

    @classmethod
    def slice_of(cls, everything: Sequence[T], request: PageRequest) -> Page[T]:
        """Page a list read whole (bounded by nature, e.g. a city's sites)."""
        return cls.of(request.slice(everything), len(everything), request)


async def fetch_page(
    db: asyncpg.Pool | asyncpg.Connection,
    select: str,
    *args: Any,
    order_by: str,
    page: PageRequest,
) -> tuple[list[asyncpg.Record], int]:
    """One page of ``select`` (no ORDER BY/LIMIT of its own) and the total it matches.

    ``order_by`` must make the order total (end with a unique column), or pages could
    repeat or skip rows.
    """
    n = len(args)
    rows = await db.fetch(
        f"{select} ORDER BY {order_by} LIMIT ${n + 1} OFFSET ${n + 2}",
        *args,
        page.limit,
        page.offset,
    )
    total = await db.fetchval(f"SELECT count(*) FROM ({select}) AS matching", *args)
    return list(rows), int(total)
