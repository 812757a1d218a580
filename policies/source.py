"""Safe YAML loading that remembers where every value came from, and the diagnostics that use it.

Policy authors get every problem as ``file:line:column: message`` plus a hint, so values are
loaded together with their positions. Only YAML's safe constructors are used (no tags that
build Python objects), and a key repeated in one mapping is an error instead of silently
keeping the last value.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]
"""A location inside a document: mapping keys and sequence indexes."""


@dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    """One problem in a policy file; ``line`` and ``column`` are 1-based."""

    file: str
    line: int
    column: int
    message: str
    hint: str = ""
    level: str = "error"

    def format(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.level}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


@dataclass(frozen=True, slots=True)
class Located:
    """A scalar node's start, its quoting style and its source line (to map expression offsets)."""

    line: int
    column: int
    style: str | None


class Document:
    """A loaded YAML file: plain Python data plus the position of every node in it."""

    def __init__(
        self, file: str, data: Any, positions: dict[Path_, Located], lines: list[str]
    ) -> None:
        self.file = file
        self.data = data
        self._positions = positions
        self._lines = lines

    def at(self, path: Path_) -> Located:
        """The position of ``path``, or of its nearest ancestor that has one."""
        while path not in self._positions and path:
            path = path[:-1]
        return self._positions.get(path, Located(1, 1, None))

    def diagnostic(
        self, path: Path_, message: str, hint: str = "", level: str = "error"
    ) -> Diagnostic:
        where = self.at(path)
        return Diagnostic(self.file, where.line, where.column, message, hint, level)

    def expression_position(self, path: Path_, offset: int, source: str) -> tuple[int, int]:
        """Line and column of character ``offset`` of the string value at ``path``."""
        where = self.at(path)
        before = source[:offset]
        if where.style in ("|", ">"):
            # Block scalars start on the next line, at its indentation; exact for style |.
            lines = before.split("\n")
            first = self._lines[where.line] if where.line < len(self._lines) else ""
            indent = len(first) - len(first.lstrip(" "))
            return where.line + len(lines), indent + 1 + len(lines[-1])
        if "\n" in before:
            return where.line + before.count("\n"), 1
        quote = 1 if where.style in ("'", '"') else 0
        return where.line, where.column + quote + offset


class YamlLoadError(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.format())
        self.diagnostic = diagnostic


def _walk(
    node: yaml.Node, path: Path_, file: str, positions: dict[Path_, Located]
) -> Iterator[Diagnostic]:
    mark = node.start_mark
    positions[path] = Located(mark.line + 1, mark.column + 1, getattr(node, "style", None))
    if isinstance(node, yaml.MappingNode):
        seen: set[object] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                m = key_node.start_mark
                yield Diagnostic(
                    file,
                    m.line + 1,
                    m.column + 1,
                    f"duplicate key {key!r}",
                    "YAML would silently keep only the last one; remove or rename one of them",
                )
            seen.add(key)
            yield from _walk(value_node, (*path, key), file, positions)
            km = key_node.start_mark
            positions[(*path, key, "__key__")] = Located(km.line + 1, km.column + 1, None)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _walk(item, (*path, i), file, positions)


def load_yaml(path: Path, display: str | None = None) -> tuple[Document, list[Diagnostic]]:
    """Safe-load ``path``; raises :class:`YamlLoadError` when it is not valid YAML at all."""
    file = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlLoadError(
            Diagnostic(file, 1, 1, f"cannot read file: {exc}", "check the path and encoding")
        ) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlLoadError(
            Diagnostic(
                file,
                line,
                col,
                f"invalid YAML: {exc.problem or exc.context}",
                "check indentation and quoting; quote expressions that start with a symbol",
            )
        ) from None
    except yaml.YAMLError as exc:
        raise YamlLoadError(Diagnostic(file, 1, 1, f"invalid YAML: {exc}")) from None
    positions: dict[Path_, Located] = {}
    problems = list(_walk(node, (), file, positions)) if node is not None else []
    return Document(file, data, positions, text.splitlines()), problems


def load_all(paths: Iterable[Path]) -> tuple[list[Document], list[Diagnostic]]:
    """Safe-load every file: the documents, and the problems (unreadable or invalid files
    are problems, not documents)."""
    docs: list[Document] = []
    problems: list[Diagnostic] = []
    for path in paths:
        try:
            doc, found = load_yaml(path, display_path(path))
        except YamlLoadError as exc:
            problems.append(exc.diagnostic)
            continue
        docs.append(doc)
        problems += found
    return docs, problems


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (shorter messages)."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return relative if not relative.startswith("..") else str(path)
