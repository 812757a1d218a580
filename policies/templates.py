"""Reason templates: ``"hate score {scores.hate:.2f}, matched {found.slurs}"``.

Only ``{dotted.name}`` and ``{dotted.name:format_spec}`` are supported; names are looked up
in the condition's variables (plus ``rule.id`` and ``rule.action``), never as Python
attributes, so a template cannot reach anything else. Lists render comma-separated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(?::([^{}]*))?\}")


@dataclass(frozen=True, slots=True)
class Field:
    offset: int
    path: tuple[str, ...]
    spec: str


def fields(template: str) -> list[Field]:
    return [
        Field(m.start(1), tuple(m.group(1).split(".")), m.group(2) or "")
        for m in _FIELD.finditer(template)
    ]


def _lookup(variables: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = variables
    for part in path:
        node = node[part]
    return node


class Template:
    """A reason template parsed once; :meth:`render` only looks values up and formats them."""

    def __init__(self, template: str) -> None:
        parts: list[tuple[str, tuple[str, ...], str]] = []
        last = 0
        for m in _FIELD.finditer(template):
            parts.append(
                (template[last : m.start()], tuple(m.group(1).split(".")), m.group(2) or "")
            )
            last = m.end()
        self._parts = parts
        self._tail = template[last:]

    def render(self, variables: Mapping[str, Any], rule: Mapping[str, str]) -> str:
        """The text for ``variables`` (the condition's) and ``rule`` (its id and action)."""
        out = []
        for literal, path, spec in self._parts:
            value = _lookup(rule, path[1:]) if path[0] == "rule" else _lookup(variables, path)
            if isinstance(value, list):
                text = ", ".join(str(v) for v in value) or "none"
            else:
                text = format(value, spec)
            out.append(literal)
            out.append(text)
        out.append(self._tail)
        return "".join(out)


def check_spec(spec: str, kind: str) -> str | None:
    """Why ``spec`` cannot format a value of schema type ``kind``, or None."""
    sample: Any = {"double": 0.5, "int": 1, "string": "x", "bool": True}.get(kind, "x")
    try:
        format(sample, spec)
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None
