"""PostgreSQL COPY text format: the one encoder of values and rows for every COPY the ETL sends.

A row is its fields joined by tabs; a null is ``\\N``; in a field, backslash, tab, newline and
carriage return are written as backslash escapes. Booleans are ``t`` / ``f``, datetimes ISO
8601; other values (text, json text, numbers) as ``str`` gives them. PostgreSQL text cannot
hold NUL.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

NULL = "\\N"
ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# A character that a field must not hold as it is: escaped, or (NUL) not storable at all.
needs_escape = re.compile(r"[\t\n\r\\\x00]").search


class NulCharacter(ValueError):
    """A field holds NUL, which PostgreSQL text cannot store; ``index``: the first such field."""

    def __init__(self, index: int):
        super().__init__(f"field {index} contains a NUL character, which PostgreSQL text cannot store")
        self.index = index


def value_text(value: Any) -> str:
    """A value that is not null, as COPY text reads it, before escaping."""
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def field(value: Any) -> str:
    """One field, escaped; a NUL becomes U+FFFD (the rest of the text is kept)."""
    if value is None:
        return NULL
    return value_text(value).translate(ESCAPES).replace("\x00", "\ufffd")


def fields(values: Any) -> str:
    """A row of any values, every field escaped (no line end)."""
    return "\t".join(map(field, values))


def row(values: tuple, plain: bool = False) -> str:
    """A row as COPY text (no line end) on the fast path; raises NulCharacter for a NUL.

    Escaping every field costs more than all the rest of the formatting, and almost no field
    needs it: the row is joined as is, then checked as a whole. Exactly one tab per separator
    and one backslash per null means no field held a tab or a backslash; otherwise (or for a
    newline) the row is formatted again with every field escaped. ``plain``: the caller knows
    that no field holds any of those characters.
    """
    text = "\t".join([NULL if v is None else v if type(v) is str else str(v) if type(v) is int
                      else value_text(v) for v in values])
    if plain or (text.count("\t") == len(values) - 1 and text.count("\\") == values.count(None)
                 and "\n" not in text and "\r" not in text and "\x00" not in text):
        return text
    if "\x00" in text:
        raise NulCharacter(next(i for i, v in enumerate(values) if v is not None and "\x00" in value_text(v)))
    return fields(values)
