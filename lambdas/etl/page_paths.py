"""The page path rule: which spellings of a page's path are one page in the warehouse.

A store serves its home page as ``/`` and ``/index.html`` and its cart as ``/cart`` and
``/cart.html``: as sent, journeys and landing pages count each spelling as a page of its own.
``PagePathRule`` says which spellings fold together. It is declarative (``ETL_PAGE_PATH_RULES``,
JSON; the provisioning config's ``etl.page_paths`` writes it) and applied to ``page_path`` as
an event row is built (``normalize.page_parts``), so reprocessing a raw object
(``scripts/invoke_etl.py --reprocess``) rewrites the paths of the rows it loaded, and the
sessions and aggregates of those rows are derived again.

The rule, applied to the URL's path (never its query or fragment) until nothing changes:

1. ``lowercase``: the path in lower case (off by default: paths are case-sensitive on most
   servers);
2. ``trailing_slash: fold``: trailing slashes go (``/cart/`` -> ``/cart``), but ``/`` stays;
3. ``index_pages``: a last segment that is one of these file names (case aside) goes, leaving
   its folder (``/index.html`` -> ``/``, ``/help/index.html`` -> ``/help/``, then ``/help``
   when trailing slashes fold);
4. ``strip_extensions``: else a last segment ending in one of these (case aside) loses it
   (``/cart.html`` -> ``/cart``), unless nothing would be left of the segment.

An empty path is ``/``. Each step only shortens the path, so repeating them ends, and the
result is a fixed point: normalizing a normalized path changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

SETTING = "ETL_PAGE_PATH_RULES"
TRAILING_SLASH_CHOICES = ("fold", "keep")
DEFAULT_INDEX_PAGES = ("index.html", "index.htm")
DEFAULT_STRIP_EXTENSIONS = (".html", ".htm")
_MAX_ENTRIES = 20
_MAX_NAME = 100


class PagePathRuleError(ValueError):
    """A rule that cannot be applied; the message names the setting and the option."""

    def __init__(self, setting: str, option: str | None, problem: str):
        super().__init__(f"{setting}: {option} {problem}" if option else f"{setting}: {problem}")
        self.option = option
        self.problem = problem


@dataclass(frozen=True, slots=True)
class PagePathRule:
    index_pages: tuple[str, ...] = DEFAULT_INDEX_PAGES
    strip_extensions: tuple[str, ...] = DEFAULT_STRIP_EXTENSIONS
    trailing_slash: str = "fold"
    lowercase: bool = False

    def __post_init__(self) -> None:
        self.check()

    @classmethod
    def off(cls) -> PagePathRule:
        """Paths as sent (the warehouse's behaviour before the rule)."""
        return cls(index_pages=(), strip_extensions=(), trailing_slash="keep", lowercase=False)

    def check(self, setting: str = SETTING) -> None:
        def fail(option: str, problem: str) -> None:
            raise PagePathRuleError(setting, option, problem)

        for option, names in (("index_pages", self.index_pages), ("strip_extensions", self.strip_extensions)):
            if not isinstance(names, tuple) or not all(isinstance(n, str) for n in names):
                fail(option, f"must be a list of strings, got {names!r}")
            if len(names) > _MAX_ENTRIES:
                fail(option, f"holds at most {_MAX_ENTRIES} entries, got {len(names)}")
            for name in names:
                if not 0 < len(name) <= _MAX_NAME or any(c in name for c in "/?#") or name.strip() != name:
                    fail(option, f"entries are file names without '/', '?', '#' or spaces (1-{_MAX_NAME} characters),"
                                 f" got {name!r}")
        for ext in self.strip_extensions:
            if not ext.startswith(".") or len(ext) < 2:
                fail("strip_extensions", f"entries start with '.' (such as \".html\"), got {ext!r}")
        if self.trailing_slash not in TRAILING_SLASH_CHOICES:
            fail("trailing_slash", f"must be one of {', '.join(TRAILING_SLASH_CHOICES)}, got {self.trailing_slash!r}")
        if not isinstance(self.lowercase, bool):
            fail("lowercase", f"must be true or false, got {self.lowercase!r}")

    @classmethod
    def from_mapping(cls, raw: Any, setting: str = SETTING) -> PagePathRule:
        """The rule from a JSON-like mapping; options left out keep their defaults, unknown ones
        are refused (a typo must not silently leave the default)."""
        if not isinstance(raw, dict):
            raise PagePathRuleError(setting, None, f"expected a JSON object, got {type(raw).__name__}")
        known = {"index_pages", "strip_extensions", "trailing_slash", "lowercase"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise PagePathRuleError(setting, unknown[0], f"is not an option (known: {', '.join(sorted(known))})")
        values: dict[str, Any] = {}
        for option in ("index_pages", "strip_extensions"):
            if option in raw:
                value = raw[option]
                if not isinstance(value, list | tuple):
                    raise PagePathRuleError(setting, option, f"must be a list of strings, got {value!r}")
                values[option] = tuple(value)
        for option in ("trailing_slash", "lowercase"):
            if option in raw:
                values[option] = raw[option]
        try:
            return cls(**values)
        except PagePathRuleError as exc:
            raise PagePathRuleError(setting, exc.option, exc.problem) from None

    @classmethod
    def from_json(cls, text: str | None, setting: str = SETTING) -> PagePathRule:
        """The rule from its environment variable; unset or empty: the default rule."""
        if text is None or not text.strip():
            return cls()
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise PagePathRuleError(setting, None, f"not JSON: {exc}") from None
        return cls.from_mapping(raw, setting)

    def to_json(self) -> str:
        return json.dumps({"index_pages": list(self.index_pages), "strip_extensions": list(self.strip_extensions),
                           "trailing_slash": self.trailing_slash, "lowercase": self.lowercase},
                          separators=(",", ":"))

    @property
    def normalizer(self) -> Callable[[str], str]:
        """``normalize_path`` for this rule: a cached function of the path alone."""
        return _normalizer(self)


DEFAULT_RULE = PagePathRule()


@lru_cache(maxsize=64)
def _normalizer(rule: PagePathRule) -> Callable[[str], str]:
    index_pages = frozenset(n.lower() for n in rule.index_pages)
    extensions = tuple(e.lower() for e in rule.strip_extensions)
    fold = rule.trailing_slash == "fold"
    lowercase = rule.lowercase
    if not index_pages and not extensions and not fold and not lowercase:
        return _as_sent

    @lru_cache(maxsize=65536)
    def normalize(path: str) -> str:
        if lowercase:
            path = path.lower()
        while True:
            before = path
            if fold and len(path) > 1 and path.endswith("/"):
                path = path.rstrip("/") or "/"
            head, slash, last = path.rpartition("/")
            folded = last.lower()
            if folded and folded in index_pages:
                path = head + slash
            elif extensions and folded.endswith(extensions):
                for ext in extensions:
                    if folded.endswith(ext) and len(folded) > len(ext):
                        path = head + slash + last[:-len(ext)]
                        break
            if path == before:
                return path or "/"

    return normalize


def _as_sent(path: str) -> str:
    return path or "/"


def normalize_path(path: str, rule: PagePathRule = DEFAULT_RULE) -> str:
    """``path`` (a URL's path, no query) as ``rule`` spells it."""
    return _normalizer(rule)(path)
