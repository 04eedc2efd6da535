"""BPF_PROG_QUERY results (mprog.c bpf_mprog_query).

The kernel writes ``count`` (the real total), ``revision`` and ``attach_flags``
*before* filling the arrays, then fills at most ``capacity`` elements and
returns ENOSPC if the buffer was too small. Both halves matter to callers, so
the query returns a :class:`QueryResult` whose ``errno`` is 0 or ENOSPC instead
of raising; :meth:`QueryResult.raise_for_errno` turns ENOSPC into a
:class:`QueryNoSpace` exception that still carries the partial result.

>>> r = build_query_result([(10, 0), (11, 5)], revision=3, capacity=1, want_ids=True)
>>> r.errno_name, r.count, r.prog_ids, r.link_ids
('ENOSPC', 2, (10,), (0,))
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass

from qdisclab.errors import KernelError, errno_name


@dataclass(frozen=True, slots=True)
class QueryResult:
    """What BPF_PROG_QUERY wrote back.

    ``errno``: 0 or ENOSPC (buffer smaller than ``count``). ``count``: total
    number of attached programs (never the capacity). ``prog_ids`` etc. hold
    only the elements the kernel wrote: ``min(capacity, count)`` of them, or
    none when the capacity was 0 or no id array was passed. ``link_ids[i]`` is
    0 for a prog-based slot. The ``*_attach_flags`` are always 0 in the merged
    kernel (no sticky FIRST/LAST flags).
    """

    errno: int
    count: int
    revision: int
    attach_flags: int
    prog_ids: tuple[int, ...]
    link_ids: tuple[int, ...]
    prog_attach_flags: tuple[int, ...]
    link_attach_flags: tuple[int, ...]

    @property
    def errno_name(self) -> str | None:
        return errno_name(self.errno) if self.errno else None

    def raise_for_errno(self) -> QueryResult:
        """Raise :class:`QueryNoSpace` on ENOSPC, else return self."""
        if self.errno:
            raise QueryNoSpace(self)
        return self


class QueryNoSpace(KernelError):
    """ENOSPC from a query; ``result`` holds the partially filled arrays and the total."""

    def __init__(self, result: QueryResult) -> None:
        self.result = result
        super().__init__(
            errno.ENOSPC,
            f"query buffer holds {len(result.prog_ids)} of {result.count} programs",
        )


def build_query_result(
    slots: Sequence[tuple[int, int]], revision: int, capacity: int | None, want_ids: bool
) -> QueryResult:
    """Build the result for ``slots`` = ``[(prog_id, link_id or 0), ...]``.

    ``capacity`` None means "large enough" (a Python caller that wants
    everything); ``want_ids`` False models ``prog_ids == NULL``.
    """
    total = len(slots)
    if capacity is None:
        capacity = total
    if capacity == 0 or not want_ids or total == 0:
        return QueryResult(0, total, revision, 0, (), (), (), ())
    written = slots[: min(capacity, total)]
    zeros = (0,) * len(written)
    return QueryResult(
        errno.ENOSPC if capacity < total else 0,
        total,
        revision,
        0,
        tuple(p for p, _ in written),
        tuple(lk for _, lk in written),
        zeros,
        zeros,
    )
