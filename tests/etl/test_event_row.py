"""_event_row builds EventRow by position, for speed: the names it passes must be the fields, in order."""

from __future__ import annotations

import ast
import inspect

from etl import normalize
from etl.normalize import EventRow


def _positional_rows() -> list[list[str]]:
    tree = ast.parse(inspect.getsource(normalize))
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_new_row"
                and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "EventRow"):
            values = node.args[1]
            assert isinstance(values, ast.Tuple), "EventRow's values must be a literal tuple"
            found.append([v.id if isinstance(v, ast.Name) else ast.unparse(v) for v in values.elts])
    return found


def test_every_positional_event_row_passes_the_fields_in_order():
    rows = _positional_rows()
    assert rows, "no positional EventRow construction found: update this test with the code"
    for names in rows:
        assert names == list(EventRow._fields)

