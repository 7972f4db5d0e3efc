"""A yes/no validator compiled from a JSON Schema, for the hot path of the ingest.

fastjsonschema (the reference validator) reports *why* an event is invalid, and pays for it
on every valid event too: each ``anyOf`` branch that does not match raises and catches an
exception, every object copies its key set, every ``$ref`` is a call. Nearly every event is
valid, so the contract first asks this predicate, which is generated from the same schema
file into plain boolean expressions; only when it answers "no" does fastjsonschema run to
produce the rejection. The predicate therefore only has to agree with fastjsonschema on
*acceptance*, and it mirrors fastjsonschema's semantics keyword by keyword (its type
mapping, bool is not a number, a float without fraction is an integer, patterns searched
with ``$`` meaning end of string, format regexes taken from fastjsonschema itself). A
schema using any keyword not handled here raises ``Unsupported`` at compile time and the
contract falls back to fastjsonschema alone, so the contract can grow without this module
silently accepting too much. tests/contract/test_fast_validation.py checks the agreement
with hypothesis.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

__all__ = ["Unsupported", "compile_check"]


class Unsupported(Exception):
    """The schema uses something this compiler does not mirror; use the reference validator."""


# Keywords that never change whether a value is valid.
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "definitions", "default",
                          "examples"})
_STRING_KEYWORDS = ("maxLength", "minLength", "pattern", "format")
_NUMBER_KEYWORDS = ("minimum", "maximum")
_OBJECT_KEYWORDS = ("maxProperties", "required", "properties", "additionalProperties")
_ARRAY_KEYWORDS = ("maxItems", "items")
_SUPPORTED = frozenset({"type", "enum", "anyOf", "$ref", *_STRING_KEYWORDS, *_NUMBER_KEYWORDS,
                        *_OBJECT_KEYWORDS, *_ARRAY_KEYWORDS})

# fastjsonschema's JSON_TYPE_TO_PYTHON_TYPE, one branch per type; "number" and "integer"
# exclude bool unless "boolean" is allowed too, which the OR of branches gives for free.
_TYPE_TESTS = {
    "null": "{v} is None",
    "boolean": "isinstance({v}, bool)",
    "number": "(isinstance({v}, (int, float, Decimal)) and not isinstance({v}, bool))",
    "integer": "((isinstance({v}, int) or (isinstance({v}, float) and {v}.is_integer()))"
               " and not isinstance({v}, bool))",
    "string": "isinstance({v}, str)",
    "array": "isinstance({v}, (list, tuple))",
    "object": "isinstance({v}, dict)",
}
# The type each keyword family applies to when the schema has no "type" (fastjsonschema guards).
_GUARDS = {
    "string": "isinstance({v}, str)",
    "number": "(isinstance({v}, (int, float, Decimal)) and not isinstance({v}, bool))",
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, (list, tuple))",
}
_FAMILY = {"string": "string", "number": "number", "integer": "number", "object": "object", "array": "array",
           "null": None, "boolean": None}


class _Compiler:
    def __init__(self, root: dict[str, Any], format_regexes: dict[str, str], dollar_finder: re.Pattern[str]):
        self.root = root
        self.format_regexes = format_regexes
        self.dollar_finder = dollar_finder
        self.namespace: dict[str, Any] = {"Decimal": Decimal, "_MISSING": object()}
        self.functions: list[str] = []
        self.done: dict[int, str] = {}  # id(object schema) -> generated function name
        self.refs_in_progress: set[str] = set()
        self.counter = 0
        self.without_properties_of: int | None = None

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, value: Any, prefix: str = "_c") -> str:
        name = self.name(prefix)
        self.namespace[name] = value
        return name

    def resolve(self, ref: str) -> Any:
        base = self.root.get("$id", "")
        if base and ref.startswith(base + "#"):
            ref = ref[len(base):]  # this document's own id spelled out
        if not ref.startswith("#"):
            raise Unsupported(f"remote $ref {ref}")
        node: Any = self.root
        for part in filter(None, ref[1:].split("/")):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise Unsupported(f"unresolvable $ref {ref}")
            node = node[part]
        return node

    def expr(self, schema: Any, v: str) -> str:
        """A Python boolean expression over variable ``v`` that is true iff ``v`` is valid."""
        if schema is True or schema == {}:
            return "True"
        if schema is False:
            return "False"
        if not isinstance(schema, dict):
            raise Unsupported(f"schema {schema!r}")
        if "$ref" in schema:
            # Like fastjsonschema (draft 7): keywords beside $ref are ignored.
            ref = schema["$ref"]
            if ref in self.refs_in_progress:
                raise Unsupported(f"recursive $ref {ref}")
            self.refs_in_progress.add(ref)
            try:
                return self.expr(self.resolve(ref), v)
            finally:
                self.refs_in_progress.discard(ref)
        unknown = [k for k in schema if k not in _SUPPORTED and k not in _ANNOTATIONS and not k.startswith("x-")]
        if unknown:
            raise Unsupported(f"keywords {unknown}")

        family_conds = {"string": self.string_conds(schema, v), "number": self.number_conds(schema, v),
                        "object": self.object_conds(schema, v), "array": self.array_conds(schema, v)}
        parts: list[str] = []
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            branches = []
            for t in types:
                if t not in _TYPE_TESTS:
                    raise Unsupported(f"type {t!r}")
                family = _FAMILY[t]
                conds = [_TYPE_TESTS[t].format(v=v), *(family_conds[family] if family else [])]
                branches.append(" and ".join(conds))
            parts.append("(" + " or ".join(f"({b})" for b in branches) + ")" if branches else "False")
        else:
            for family, conds in family_conds.items():
                if conds:
                    parts.append(f"(not {_GUARDS[family].format(v=v)} or ({' and '.join(conds)}))")
        if "enum" in schema:
            parts.append(self.enum_expr(schema["enum"], v))
        if "anyOf" in schema:
            branches = [self.expr(s, v) for s in schema["anyOf"]]
            parts.append("(" + " or ".join(f"({b})" for b in branches) + ")" if branches else "False")
        return " and ".join(parts) if parts else "True"

    def string_conds(self, schema: dict[str, Any], v: str) -> list[str]:
        conds = []
        if "maxLength" in schema:
            conds.append(f"not (len({v}) > {_number(schema['maxLength'])})")
        if "minLength" in schema:
            conds.append(f"not (len({v}) < {_number(schema['minLength'])})")
        if "pattern" in schema:
            regex = re.compile(self.dollar_finder.sub(r"\\Z", schema["pattern"]))
            conds.append(f"{self.const(regex.search, '_search')}({v}) is not None")
        if "format" in schema:
            fmt = schema["format"]
            if fmt == "regex":
                raise Unsupported("format regex")
            if fmt in self.format_regexes:
                conds.append(f"{self.const(re.compile(self.format_regexes[fmt]).match, '_match')}({v}) is not None")
            # fastjsonschema ignores formats it does not know; so does this.
        return conds

    def number_conds(self, schema: dict[str, Any], v: str) -> list[str]:
        conds = []
        if "minimum" in schema:
            conds.append(f"not ({v} < {_number(schema['minimum'])})")
        if "maximum" in schema:
            conds.append(f"not ({v} > {_number(schema['maximum'])})")
        return conds

    def object_conds(self, schema: dict[str, Any], v: str) -> list[str]:
        conds = []
        if "maxProperties" in schema:
            conds.append(f"not (len({v}) > {_number(schema['maxProperties'])})")
        required = schema.get("required", [])
        if not isinstance(required, list) or not all(isinstance(k, str) for k in required):
            raise Unsupported("required")
        conds.extend(f"{k!r} in {v}" for k in required)
        if ("properties" in schema or "additionalProperties" in schema) and id(schema) != self.without_properties_of:
            conds.append(f"{self.object_function(schema)}({v})")
        return conds

    def object_function(self, schema: dict[str, Any]) -> str:
        if id(schema) in self.done:
            return self.done[id(schema)]
        name = self.done[id(schema)] = self.name("_object")
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            raise Unsupported("properties")
        lines = [f"def {name}(d):"]
        # One dict lookup per declared property, its check inlined: measured faster than
        # walking the object's own keys and dispatching to per-property functions.
        for key, sub in properties.items():
            check = self.expr(sub, "v")
            if check != "True":
                lines += [f"    v = d.get({key!r}, _MISSING)",
                          f"    if v is not _MISSING and not ({check}):", "        return False"]
        extra = schema.get("additionalProperties", True)
        if extra is not True and extra != {}:
            check = self.expr(extra, "v")
            known = self.const(frozenset(properties), "_known")
            lines += ["    for k, v in d.items():",
                      f"        if k not in {known} and not ({check}):", "            return False"]
        lines.append("    return True")
        self.functions.append("\n".join(lines))
        return name

    def array_conds(self, schema: dict[str, Any], v: str) -> list[str]:
        conds = []
        if "maxItems" in schema:
            conds.append(f"not (len({v}) > {_number(schema['maxItems'])})")
        items = schema.get("items", True)
        if isinstance(items, list):
            raise Unsupported("tuple items")
        check = self.expr(items, "x")
        if check != "True":
            key = id(schema) + 1  # beside the object function of the same schema dict, if any
            if key not in self.done:
                name = self.done[key] = self.name("_array")
                self.functions.append("\n".join([
                    f"def {name}(a):", "    for x in a:", f"        if not ({check}):", "            return False",
                    "    return True"]))
            conds.append(f"{self.done[key]}({v})")
        return conds

    def enum_expr(self, values: Any, v: str) -> str:
        if not isinstance(values, list):
            raise Unsupported("enum")
        matches = []
        for value in values:  # as fastjsonschema's _enum_value_matches
            if isinstance(value, bool):
                matches.append(f"(isinstance({v}, bool) and {v} is {value!r})")
            elif isinstance(value, int | float):
                matches.append(f"(isinstance({v}, (int, float)) and not isinstance({v}, bool) and {v} == {value!r})")
            elif value is None:
                matches.append(f"{v} is None")
            elif isinstance(value, str):
                matches.append(f"(isinstance({v}, str) and {v} == {value!r})")
            else:
                raise Unsupported(f"enum value {value!r}")
        return "(" + " or ".join(matches) + ")" if matches else "False"


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unsupported(f"bound {value!r}")
    return repr(value)


def compile_check(schema: dict[str, Any]) -> Callable[[Any], bool]:
    """Compile ``schema`` into ``check(value) -> bool``; raises Unsupported for what it cannot mirror."""
    # The format regexes and the "$ means end of string" rewrite are fastjsonschema's own,
    # so the two validators cannot drift apart on them.
    from fastjsonschema.draft04 import DOLLAR_FINDER
    from fastjsonschema.draft07 import CodeGeneratorDraft07

    compiler = _Compiler(schema, dict(CodeGeneratorDraft07.FORMAT_REGEXS), DOLLAR_FINDER)
    body = compiler.expr(schema, "value")
    functions = [*compiler.functions, f"def check(value):\n    return True if ({body}) else False\n"]
    by_shape = schema.get("type") in ("object", ["object"]) and isinstance(schema.get("properties"), dict) \
        and "$ref" not in schema
    if by_shape:
        # Everything the check asks of an object except its declared properties' values.
        compiler.without_properties_of = id(schema)
        functions.append(f"def _rest(value):\n    return True if ({compiler.expr(schema, 'value')}) else False\n")
        compiler.without_properties_of = None
    source = "\n\n".join(functions)
    compiler.functions = []
    exec(compile(source, "<contract fast check>", "exec"), compiler.namespace)  # noqa: S102 - code generated from the schema file
    check = compiler.namespace["check"]
    check.source = source  # for debugging and the tests
    check.for_shape = _ShapeCompiler(compiler, schema).compile if by_shape else None
    return check


class _ShapeCompiler:
    """Checks specialised to one object shape (its keys, in order), for a caller that has
    already grouped objects by shape (the contract's fold plans).

    Knowing the keys, the generated function unpacks the values by position and checks just
    those properties, instead of one lookup per declared property. Same expressions as
    ``check``, so the same verdicts (tests/contract/test_fast_validation.py compares them).
    """

    def __init__(self, compiler: _Compiler, schema: dict[str, Any]):
        self.compiler = compiler
        self.properties = schema["properties"]
        extra = schema.get("additionalProperties", True)
        self.additional = None if extra is True or extra == {} else extra
        self.lock = threading.Lock()

    def compile(self, keys: tuple[str, ...]) -> Callable[[dict[str, Any]], bool]:
        """``fn(obj)`` == ``check(obj)`` for any dict ``obj`` whose keys are exactly ``keys``, in order."""
        with self.lock:
            compiler = self.compiler
            name = compiler.name("_shape")
            lines = [f"def {name}(d):", "    if not _rest(d):", "        return False"]
            if keys:
                lines.append(f"    {''.join(f'v{i}, ' for i in range(len(keys)))}= d.values()")
            for i, key in enumerate(keys):
                sub = self.properties.get(key, self.additional)
                check = "True" if sub is None else compiler.expr(sub, f"v{i}")
                if check != "True":
                    lines += [f"    if not ({check}):", "        return False"]
            lines.append("    return True")
            source = "\n\n".join([*compiler.functions, "\n".join(lines)])
            compiler.functions = []
            exec(compile(source, "<contract fast check, one shape>", "exec"), compiler.namespace)  # noqa: S102
            return compiler.namespace[name]
