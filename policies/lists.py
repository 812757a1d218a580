"""Named keyword and regex lists, compiled once into linear-time RE2 multi-pattern sets.

A list is one text file in ``lists/``: ``NAME.keywords.txt`` (phrases matched as whole words,
case-insensitively) or ``NAME.regex.txt`` (RE2 patterns, case-insensitive). One entry per
line; blank lines and lines starting with ``#`` are ignored. RE2 guarantees time linear in
the text and rejects what would need backtracking (backreferences, lookaround), so no
pattern a policy author writes can stall the worker. A whole list is one ``re2.Set``: a
message is scanned once per list, not once per pattern.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import re2

from policies.source import Diagnostic

KINDS = ("keywords", "regex")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # errors are reported as diagnostics, not on stderr
    options.max_mem = 64 << 20  # room for the DFA of a few thousand patterns
    return options


def keyword_pattern(phrase: str) -> str:
    """A phrase as a whole-word pattern; any run of whitespace matches any run."""
    return r"\b" + r"\s+".join(re2.escape(word) for word in phrase.split()) + r"\b"


@dataclass(frozen=True, slots=True)
class Entry:
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class ListSource:
    """One list file, parsed but not compiled."""

    name: str
    kind: str
    file: str
    entries: tuple[Entry, ...]


def list_name(path: Path) -> tuple[str, str] | None:
    """``scam_phrases.keywords.txt`` → ("scam_phrases", "keywords"); None if not a list file."""
    parts = path.name.split(".")
    if len(parts) != 3 or parts[2] != "txt" or parts[1] not in KINDS:
        return None
    return parts[0], parts[1]


def read_list(path: Path, display: str) -> tuple[ListSource | None, list[Diagnostic]]:
    parsed = list_name(path)
    if parsed is None:
        return None, [
            Diagnostic(
                display,
                1,
                1,
                "not a list file name",
                "name list files NAME.keywords.txt or NAME.regex.txt",
            )
        ]
    name, kind = parsed
    problems: list[Diagnostic] = []
    if not name or name[0].isdigit() or not set(name) <= _NAME_CHARS:
        problems.append(
            Diagnostic(
                display,
                1,
                1,
                f"list name {name!r} is not a valid identifier",
                "use lower_snake_case so rules can say lists.NAME",
            )
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Diagnostic(display, 1, 1, f"cannot read list: {exc}")]
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        key = " ".join(entry.casefold().split())
        if key in seen:
            problems.append(
                Diagnostic(
                    display,
                    number,
                    1,
                    f"duplicate entry (first on line {seen[key]})",
                    "remove one",
                    level="warning",
                )
            )
            continue
        seen[key] = number
        entries.append(Entry(number, entry))
    if not entries:
        problems.append(
            Diagnostic(display, 1, 1, "list is empty", "add entries or delete the file", "warning")
        )
    return ListSource(name, kind, display, tuple(entries)), problems


def check_entries(source: ListSource) -> Iterator[Diagnostic]:
    """An error for every entry RE2 rejects, with RE2's reason."""
    options = _options()
    for entry in source.entries:
        pattern = keyword_pattern(entry.text) if source.kind == "keywords" else entry.text
        try:
            re2.compile(pattern, options)
        except re2.error as exc:
            reason = exc.args[0].decode() if isinstance(exc.args[0], bytes) else str(exc)
            yield Diagnostic(
                source.file,
                entry.line,
                1,
                f"pattern rejected by RE2: {reason}",
                "RE2 runs in linear time and has no backreferences or lookaround; "
                "rewrite the pattern without them (e.g. list the alternatives)",
            )


class CompiledList:
    """One list as an RE2 set: which of its entries occur in a text."""

    def __init__(self, source: ListSource) -> None:
        self.name = source.name
        self.entries = tuple(e.text for e in source.entries)
        self._set = re2.Set.SearchSet(_options())
        for entry in self.entries:
            self._set.Add(keyword_pattern(entry) if source.kind == "keywords" else entry)
        self._set.Compile()

    def matches(self, text: str) -> list[str]:
        """The entries found in ``text``, in list order."""
        if not self.entries:
            return []
        # Entry indexes, or None for no match (google-re2-stubs wrongly says bool).
        found = cast("list[int] | None", self._set.Match(text))
        return [self.entries[i] for i in sorted(found)] if found else []


def match_all(lists: Mapping[str, CompiledList], text: str) -> dict[str, list[str]]:
    return {name: compiled.matches(text) for name, compiled in lists.items()}
