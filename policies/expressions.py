"""Rule conditions: CEL expressions over a fixed, typed set of variables.

The CEL binding has no static type checker, so checks are done here in two ways:
- a scan of every dotted name (``author.roles``, ``scores.hate``) against :func:`schema`,
  which catches unknown variables and fields with their exact position;
- evaluation against probe contexts built from the schema's types and the expression's own
  literals, which catches type errors (CEL never coerces), non-boolean results, and
  conditions that are always or never true.
"""

from __future__ import annotations

import difflib
import itertools
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cel

from policies.state import VELOCITY_WINDOWS

DOUBLE, INT, STRING, BOOL, STRINGS = "double", "int", "string", "bool", "list of strings"
Schema = Mapping[str, Any]
"""Nested mapping of variable names; leaves are one of the type names above."""

UNKNOWN_ACCOUNT_AGE_DAYS = 36500.0
"""What ``author.account_age_days`` reads when the event has no age: an old account, so
new-account rules never fire on missing data."""

_MACROS = ("all", "exists", "exists_one", "map", "filter")
_BUILTINS = frozenset({"true", "false", "null", "in"})
_PROBE_LIMIT = 1024


def schema(
    categories: Sequence[str], lists: Sequence[str], ladders: Sequence[str], rules: Sequence[str]
) -> dict[str, Any]:
    """The variables a condition (and a reason template) may use, with their types."""
    state: dict[str, Any] = {name: INT for name in VELOCITY_WINDOWS}
    state.update(
        messages_1h=INT,
        same_content_1h=INT,
        same_content_channels_1h=INT,
        strikes={ladder: INT for ladder in ladders},
    )
    return {
        "scores": {c: DOUBLE for c in categories},
        "message": {
            "content": STRING, "length": INT, "links": INT, "mentions": INT, "truncated": BOOL,
        },
        "author": {"id": STRING, "account_age_days": DOUBLE, "roles": STRINGS, "verified": BOOL},
        "channel": {"id": STRING, "nsfw": BOOL, "type": STRING},
        "guild": {"id": STRING},
        "lists": {name: BOOL for name in lists},
        "found": {name: STRINGS for name in lists},
        "state": state,
        "rules": {rule: BOOL for rule in rules},
    }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Issue:
    """A problem at character ``offset`` of the expression."""

    offset: int
    message: str
    hint: str = ""
    level: str = "error"


@dataclass(frozen=True, slots=True)
class Reference:
    offset: int
    path: tuple[str, ...]


_TOKEN = re.compile(
    r"""(?P<string>[rR]?(?:'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"))"""
    r"""|(?P<number>\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+|\d+(?:[eE][+-]?\d+)?u?)"""
    r"""|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*)"""
    r"""|(?P<other>.)""",
    re.DOTALL,
)


def _tokens(expression: str) -> Iterator[re.Match[str]]:
    for match in _TOKEN.finditer(expression):
        if not match.group().isspace():
            yield match


def references(expression: str) -> tuple[list[Reference], list[str], list[float]]:
    """Dotted variable references, string literals and numeric literals of ``expression``."""
    refs: list[Reference] = []
    strings: list[str] = []
    numbers: list[float] = []
    tokens = list(_tokens(expression))
    bound = {
        m.group(1)
        for m in re.finditer(rf"\.\s*(?:{'|'.join(_MACROS)})\s*\(\s*(\w+)\s*,", expression)
    }
    for i, tok in enumerate(tokens):
        kind = tok.lastgroup
        if kind == "string":
            body = tok.group()
            raw = body[0] in "rR"
            body = body[1:] if raw else body
            quote = 3 if body[:3] in ("'''", '"""') else 1
            text = body[quote:-quote]
            strings.append(text if raw else text.encode().decode("unicode_escape", "replace"))
        elif kind == "number":
            numbers.append(float(tok.group().rstrip("u")))
        elif kind == "name":
            prev = tokens[i - 1].group() if i else ""
            if prev == ".":
                continue  # a method or field of an expression result, e.g. (x).size()
            path = tuple(part.strip() for part in tok.group().split("."))
            follows_call = i + 1 < len(tokens) and tokens[i + 1].group() == "("
            if follows_call:
                path = path[:-1]  # the last part is a function or method name
            if not path or path[0] in _BUILTINS or path[0] in bound:
                continue
            refs.append(Reference(tok.start(), path))
    return refs, strings, numbers


def _suggest(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    known = ", ".join(sorted(options)) if options else "(none)"
    return f"did you mean {close[0]!r}? known: {known}" if close else f"known: {known}"


def leaf_type(schema_: Schema, path: tuple[str, ...]) -> tuple[Any, Issue | None]:
    node: Any = schema_
    for depth, part in enumerate(path):
        if not isinstance(node, Mapping):
            name = ".".join(path[:depth])
            return None, Issue(0, f"{name} is a {node}, it has no field {part!r}")
        if part not in node:
            where = ".".join(path[:depth]) or "variable"
            label = f"unknown {where} {part!r}" if depth else f"unknown variable {part!r}"
            return None, Issue(0, label, _suggest(part, list(node)))
        node = node[part]
    return node, None


def check_references(expression: str, schema_: Schema) -> list[Issue]:
    issues: list[Issue] = []
    refs, _, _ = references(expression)
    for ref in refs:
        _, problem = leaf_type(schema_, ref.path)
        if problem:
            issues.append(Issue(ref.offset, problem.message, problem.hint))
    for match in re.finditer(
        r"scores\s*\.\s*\w+\s*(?:[<>]=?|==|!=)\s*(-?[\d.]+)|(-?[\d.]+)\s*(?:[<>]=?|==|!=)\s*scores\s*\.",
        expression,
    ):
        literal = match.group(1) or match.group(2)
        try:
            value = float(literal)
        except ValueError:
            continue
        if not 0.0 <= value <= 1.0:
            issues.append(
                Issue(
                    match.start(),
                    f"score threshold {literal} is outside [0, 1]",
                    "scores are probabilities between 0 and 1",
                )
            )
    if re.search(r"\.\s*matches\s*\(|\bmatches\s*\(", expression):
        issues.append(
            Issue(
                expression.find("matches"),
                "regex matching inside a condition",
                "put the pattern in a lists/NAME.regex.txt file and use lists.NAME: lists are "
                "compiled once into one linear-time scan",
            )
        )
    return issues


def _probe_values(
    kind: str, strings: list[str], numbers: list[float], upper: float = float("inf")
) -> list[Any]:
    """Values worth trying for a variable of type ``kind``: its extremes and both sides of
    every literal in the expression (values are never negative, scores never above 1)."""
    if kind == DOUBLE:
        values = {0.0, min(upper, 1e6)} | {n + d for n in numbers for d in (-0.001, 0.0, 0.001)}
        return sorted(v for v in values if 0.0 <= v <= upper)
    if kind == INT:
        values_i = {0, 1, 100000} | {int(n) + d for n in numbers for d in (-1, 0, 1)}
        return sorted(v for v in values_i if v >= 0)
    if kind == STRING:
        return ["", "hello there", *dict.fromkeys(strings)]
    if kind == BOOL:
        return [False, True]
    if kind == STRINGS:
        return [[], ["member"], *([s] for s in dict.fromkeys(strings))]
    raise ValueError(kind)


def default_context(schema_: Schema) -> dict[str, Any]:
    def fill(node: Any) -> Any:
        if isinstance(node, Mapping):
            return {k: fill(v) for k, v in node.items()}
        return _probe_values(node, [], [])[0]

    return fill(schema_)  # type: ignore[no-any-return]


def _set(context: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = context
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _first_sentence(message: str) -> str:
    return message.split(". ")[0].rstrip(".")


def check_behaviour(expression: str, program: cel.Program, schema_: Schema) -> list[Issue]:
    """Type errors, non-boolean results, always-true and never-true conditions, by probing."""
    refs, strings, numbers = references(expression)
    leaves: dict[tuple[str, ...], list[Any]] = {}
    for ref in refs:
        kind, problem = leaf_type(schema_, ref.path)
        if problem is None and isinstance(kind, str):
            upper = 1.0 if ref.path[0] == "scores" else float("inf")
            leaves[ref.path] = _probe_values(kind, strings, numbers, upper)
    paths = list(leaves)
    total = 1
    for values in leaves.values():
        total *= len(values)
    exhaustive = total <= _PROBE_LIMIT
    if exhaustive:
        combos: Iterator[tuple[Any, ...]] = itertools.product(*leaves.values())
    else:
        rng = random.Random(0)
        combos = (tuple(rng.choice(v) for v in leaves.values()) for _ in range(_PROBE_LIMIT))
    results: set[bool] = set()
    for combo in combos:
        context = default_context(schema_)
        for path, value in zip(paths, combo, strict=True):
            _set(context, path, value)
        try:
            result = program.execute(context)
        except TypeError as exc:
            return [
                Issue(
                    0,
                    f"type error: {_first_sentence(str(exc))}",
                    "CEL never converts types: scores and account_age_days are doubles, counts "
                    "are ints, roles is a list of strings; use double(x) or int(x) to convert",
                )
            ]
        except (KeyError, RuntimeError, ValueError) as exc:
            return [Issue(0, f"evaluation error: {_first_sentence(str(exc))}")]
        if not isinstance(result, bool):
            return [
                Issue(
                    0,
                    f"condition must be true or false, it gives a {type(result).__name__}",
                    "compare the value, e.g. scores.hate > 0.9",
                )
            ]
        results.add(result)
    if len(results) == 1:
        always = results.pop()
        level = "error" if exhaustive else "warning"
        if always:
            return [
                Issue(0, "condition is always true", "the rule would fire on every message", level)
            ]
        return [Issue(0, "condition can never be true", "the rule is unreachable", level)]
    return []


def compile_condition(expression: str) -> tuple[cel.Program | None, Issue | None]:
    try:
        return cel.compile(expression), None
    except ValueError as exc:
        text = str(exc)
        where = re.search(r"<input>:(\d+):(\d+): (.*)", text)
        offset = 0
        message = _first_sentence(text)
        if where:
            line, col, message = int(where.group(1)), int(where.group(2)), where.group(3)
            lines = expression.split("\n")
            offset = sum(len(x) + 1 for x in lines[: line - 1]) + col - 1
        message = message.removeprefix("Syntax error: ")
        hint = "see the condition syntax in policies/README.md"
        if "<EOF>" in message:
            message, hint = "the condition ends too early", "an operand or a ')' is missing"
        elif " expecting " in message:
            message = message.split(" expecting ")[0]
        return None, Issue(offset, f"syntax error: {message}", hint)
