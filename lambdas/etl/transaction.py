"""One transaction on a pg8000 connection: committed when its block ends, rolled back when
anything (an error, a test's injected crash, an interrupt) leaves it early."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def transaction(connection: Any, **local: str) -> Iterator[None]:
    """``START TRANSACTION`` and ``SET LOCAL name = 'value'`` for each of ``local`` (settings
    fixed in code, never input), in one round trip; ``COMMIT`` at the end of the block."""
    try:
        connection.run("; ".join(["START TRANSACTION",
                                  *(f"SET LOCAL {name} = '{value}'" for name, value in local.items())]))
        yield
        connection.run("COMMIT")
    except BaseException:
        rollback(connection)
        raise


def rollback(connection: Any) -> None:
    """``ROLLBACK``, quietly: the connection may be gone, and the original error is the one
    that matters."""
    with contextlib.suppress(Exception):
        connection.run("ROLLBACK")
