"""Loading a rules directory: every check ``vigil policy lint`` reports, and the compiled rule set.

A rules directory holds rule files (``*.yaml``), list files (``lists/NAME.keywords.txt``,
``lists/NAME.regex.txt``) and rule tests (``tests/*.yaml``, not part of the rule set).
Loading never stops at the first problem: it collects every diagnostic it can, and yields a
:class:`RuleSet` only when there is no error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cel
from pydantic import ValidationError

from policies import expressions, templates
from policies.base import PolicyError
from policies.lists import CompiledList, ListSource, check_entries, read_list
from policies.schema import Exempt, Ladder, LadderStep, Rule, RuleFile
from policies.source import Diagnostic, Document, display_path, load_all

LISTS_DIR = "lists"
TESTS_DIR = "tests"
_YAML = (".yaml", ".yml")
_TEMPLATE_EXTRAS = {"rule": {"id": expressions.STRING, "action": expressions.STRING}}


@dataclass(frozen=True, slots=True)
class CompiledRule:
    spec: Rule
    program: cel.Program
    depends_on: frozenset[str]


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A validated rule set, ready for :class:`policies.engine.RuleEngine`."""

    rules: tuple[CompiledRule, ...]
    """In file order (files by name): the order decisions and reports list them in."""
    levels: tuple[tuple[CompiledRule, ...], ...]
    """The same rules grouped so that every rule comes after the rules it refers to."""
    ladders: Mapping[str, Ladder]
    lists: Mapping[str, CompiledList]
    categories: tuple[str, ...]
    version: str


@dataclass(slots=True)
class Loaded:
    ruleset: RuleSet | None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "error"]


def rule_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix in _YAML)


def list_files(root: Path) -> list[Path]:
    lists = (root if root.is_dir() else root.parent) / LISTS_DIR
    return sorted(p for p in lists.iterdir() if p.is_file()) if lists.is_dir() else []


def test_files(root: Path) -> list[Path]:
    tests = (root if root.is_dir() else root.parent) / TESTS_DIR
    return sorted(p for p in tests.iterdir() if p.suffix in _YAML) if tests.is_dir() else []


def rules_version(root: Path) -> str:
    """Hash of every rule and list file (names and bytes): the policy version decisions carry."""
    digest = hashlib.sha256()
    base = root if root.is_dir() else root.parent
    for path in [*rule_files(root), *list_files(root)]:
        digest.update(path.relative_to(base).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return "rules@" + digest.hexdigest()[:12]


def validation_diagnostics(
    doc: Document, exc: ValidationError, prefix: tuple[str | int, ...] = ()
) -> list[Diagnostic]:
    out = []
    for err in exc.errors():
        loc = (*prefix, *err["loc"])
        if err["type"] == "extra_forbidden":
            parent = loc[:-1]
            model = _model_at(parent)
            allowed = ", ".join(model.model_fields) if model else ""
            out.append(
                doc.diagnostic(
                    (*loc, "__key__"),
                    f"unknown field {loc[-1]!r}",
                    f"allowed fields here: {allowed}" if allowed else "",
                )
            )
            continue
        message = err["msg"].removeprefix("Value error, ")
        name = ".".join(str(p) for p in err["loc"] if isinstance(p, str))
        hint = ""
        if err["type"] == "string_type" and isinstance(err["input"], bool):
            hint = "YAML reads yes/no/on/off/true/false as a boolean; quote it: 'off'"
        out.append(doc.diagnostic(loc, f"{name}: {message}" if name else message, hint))
    return out


def _model_at(loc: tuple[str | int, ...]) -> Any:
    named = [p for p in loc if isinstance(p, str)]
    if named == ["rules"]:
        return Rule
    if named[:1] == ["rules"] and named[-1:] == ["exempt"]:
        return Exempt
    if named[:1] == ["ladders"] and named[-1:] == ["steps"]:
        return LadderStep
    if named[:1] == ["ladders"] and len(named) == 2:
        return Ladder
    if not named:
        return RuleFile
    return None


@dataclass(slots=True)
class _FileContent:
    ladders: dict[str, Ladder] = field(default_factory=dict)
    rules: list[tuple[int, Rule | None, Any]] = field(default_factory=list)
    """(index, the rule or None when invalid, the raw mapping) for every entry of 'rules'."""


def _validate_file(doc: Document) -> tuple[_FileContent, list[Diagnostic]]:
    """Validate each ladder and rule on its own, so one bad rule hides no other problem."""
    content, problems = _FileContent(), []
    data = doc.data
    if not isinstance(data, dict):
        return content, [doc.diagnostic((), "expected a mapping with 'rules:' (and 'ladders:')")]
    for key in data:
        if key not in RuleFile.model_fields:
            problems.append(
                doc.diagnostic(
                    (key, "__key__"),
                    f"unknown top-level field {key!r}",
                    "a rule file has 'rules:' and optionally 'ladders:'",
                )
            )
    ladders = data.get("ladders") or {}
    if not isinstance(ladders, dict):
        problems.append(
            doc.diagnostic(("ladders",), "'ladders' must be a mapping of name → ladder")
        )
        ladders = {}
    for name, raw in ladders.items():
        try:
            content.ladders.update(RuleFile.model_validate({"ladders": {name: raw}}).ladders)
        except ValidationError as exc:
            problems += validation_diagnostics(doc, exc)
    rules = data.get("rules")
    if not isinstance(rules, list):
        problems.append(doc.diagnostic(("rules",), "'rules' must be a list of rules"))
        rules = []
    for i, raw in enumerate(rules):
        try:
            content.rules.append((i, Rule.model_validate(raw), raw))
        except ValidationError as exc:
            problems += validation_diagnostics(doc, exc, ("rules", i))
            content.rules.append((i, None, raw))
    return content, problems


@dataclass(slots=True)
class _Parsed:
    doc: Document
    index: int
    rule: Rule | None
    """None when the entry failed validation; its condition is still checked."""
    raw: Any

    def field(self, name: str) -> str | None:
        value = self.raw.get(name) if isinstance(self.raw, dict) else None
        return value if isinstance(value, str) else None


def _diag_at_expression(
    doc: Document, path: tuple[str | int, ...], source: str, issue: expressions.Issue
) -> Diagnostic:
    line, column = doc.expression_position(path, issue.offset, source)
    return Diagnostic(doc.file, line, column, issue.message, issue.hint, issue.level)


def _levels(rules: Sequence[CompiledRule]) -> tuple[tuple[CompiledRule, ...], ...]:
    by_id = {r.spec.id: r for r in rules}
    level: dict[str, int] = {}

    def depth(rule_id: str) -> int:
        if rule_id not in level:
            level[rule_id] = 1 + max((depth(d) for d in by_id[rule_id].depends_on), default=-1)
        return level[rule_id]

    for rule in rules:
        depth(rule.spec.id)
    count = max(level.values(), default=-1) + 1
    return tuple(tuple(r for r in rules if level[r.spec.id] == n) for n in range(count))


def _find_cycle(deps: Mapping[str, frozenset[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(deps.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(deps):
        if node not in state and (found := visit(node)):
            return found
    return None


def load_rules(root: Path, categories: Sequence[str]) -> Loaded:
    """Validate and compile the rule set at ``root`` (a directory or a single rule file)."""
    if not root.exists():
        return Loaded(None, [Diagnostic(str(root), 1, 1, "no such file or directory")])
    diagnostics: list[Diagnostic] = []
    sources: list[ListSource] = []
    for path in list_files(root):
        source, problems = read_list(path, display_path(path))
        diagnostics += problems
        if source:
            sources.append(source)
            diagnostics += check_entries(source)
    list_names = [s.name for s in sources]

    parsed: list[_Parsed] = []
    ladders: dict[str, Ladder] = {}
    files = rule_files(root)
    if not files:
        diagnostics.append(
            Diagnostic(display_path(root), 1, 1, "no rule files", "add a *.yaml file with 'rules:'")
        )
    docs, problems = load_all(files)
    diagnostics += problems
    for doc in docs:
        if doc.data is None:
            continue
        rule_file, problems = _validate_file(doc)
        diagnostics += problems
        for name, ladder in rule_file.ladders.items():
            if name in ladders:
                diagnostics.append(
                    doc.diagnostic(("ladders", name, "__key__"), f"duplicate ladder {name!r}")
                )
            ladders[name] = ladder
        parsed += [_Parsed(doc, i, rule, raw) for i, rule, raw in rule_file.rules]

    seen: dict[str, Diagnostic] = {}
    for p in parsed:
        rule_id = p.field("id")
        if rule_id is None:
            continue
        if rule_id in seen:
            first = seen[rule_id]
            diagnostics.append(
                p.doc.diagnostic(
                    ("rules", p.index, "id"),
                    f"duplicate rule id {rule_id!r}",
                    f"first defined at {first.file}:{first.line}",
                )
            )
        else:
            seen[rule_id] = p.doc.diagnostic(("rules", p.index, "id"), "")
    rule_ids = list(seen)
    disabled = {p.rule.id for p in parsed if p.rule and p.rule.mode == "disabled"}
    variables = expressions.schema(categories, list_names, list(ladders), rule_ids)

    compiled: list[CompiledRule] = []
    deps: dict[str, frozenset[str]] = {}
    for p in parsed:
        doc, where, rule = p.doc, ("rules", p.index), p.rule
        if rule and rule.ladder is not None and rule.ladder not in ladders:
            diagnostics.append(
                doc.diagnostic(
                    (*where, "ladder"),
                    f"unknown ladder {rule.ladder!r}",
                    f"known ladders: {', '.join(sorted(ladders)) or '(none)'}",
                )
            )
        when, rule_id, reason = p.field("when"), p.field("id"), p.field("reason")
        if reason:
            diagnostics += _check_template(doc, (*where, "reason"), reason, variables)
        if when is None:
            continue
        program, needs, issues = _check_condition(when, rule_id, variables, disabled)
        diagnostics += [_diag_at_expression(doc, (*where, "when"), when, i) for i in issues]
        if rule_id is not None:
            deps[rule_id] = needs & set(rule_ids)
        if program is not None and rule is not None:
            compiled.append(CompiledRule(rule, program, deps[rule.id]))

    cycle = _find_cycle(deps)
    if cycle:
        p = next(p for p in parsed if p.field("id") == cycle[0])
        diagnostics.append(
            p.doc.diagnostic(
                ("rules", p.index, "when"),
                "rules refer to each other: " + " → ".join(cycle),
                "break the cycle: a rule can only use rules that do not depend on it",
            )
        )
    diagnostics.sort()
    if any(d.level == "error" for d in diagnostics):
        return Loaded(None, diagnostics)
    lists = {s.name: CompiledList(s) for s in sources}
    ruleset = RuleSet(
        tuple(compiled), _levels(compiled), ladders, lists, tuple(categories), rules_version(root)
    )
    return Loaded(ruleset, diagnostics)


def _check_condition(
    when: str, rule_id: str | None, variables: Mapping[str, Any], disabled: set[str]
) -> tuple[cel.Program | None, frozenset[str], list[expressions.Issue]]:
    """The compiled condition (None on a syntax error), the rules it uses, and its issues."""
    program, syntax = expressions.compile_condition(when)
    if program is None:
        assert syntax is not None
        return None, frozenset(), [syntax]
    issues = expressions.check_references(when, variables)
    refs, _, _ = expressions.references(when)
    needs = frozenset(r.path[1] for r in refs if r.path[0] == "rules" and len(r.path) > 1)
    for ref in refs:
        if ref.path[0] != "rules" or len(ref.path) < 2:
            continue
        if ref.path[1] == rule_id:
            issues.append(expressions.Issue(ref.offset, "a rule cannot refer to itself"))
        elif ref.path[1] in disabled:
            issues.append(
                expressions.Issue(
                    ref.offset,
                    f"refers to disabled rule {ref.path[1]!r} (always false)",
                    "enable that rule (shadow mode still evaluates it) or drop the reference",
                )
            )
    if not any(i.level == "error" for i in issues):
        issues += expressions.check_behaviour(when, program, variables)
    return program, needs, issues


def _check_template(
    doc: Document, path: tuple[str | int, ...], template: str, variables: Mapping[str, Any]
) -> list[Diagnostic]:
    out = []
    scope = {**variables, **_TEMPLATE_EXTRAS}
    for f in templates.fields(template):
        issue = expressions.check_references(".".join(f.path), scope)
        if issue:
            problem = issue[0]
            out.append(
                _diag_at_expression(
                    doc, path, template, expressions.Issue(f.offset, problem.message, problem.hint)
                )
            )
            continue
        kind, _ = expressions.leaf_type(scope, f.path)
        if isinstance(kind, Mapping):
            message = f"{'.'.join(f.path)} is a group of values, name one of its fields"
            out.append(
                _diag_at_expression(doc, path, template, expressions.Issue(f.offset, message))
            )
        elif f.spec and (why := templates.check_spec(f.spec, kind)):
            message = f"format ':{f.spec}' does not fit a {kind}: {why}"
            out.append(
                _diag_at_expression(doc, path, template, expressions.Issue(f.offset, message))
            )
    return out


def load_or_raise(root: Path, categories: Sequence[str]) -> RuleSet:
    loaded = load_rules(root, categories)
    if loaded.ruleset is None:
        errors = loaded.errors
        shown = "\n".join(d.format() for d in errors[:20])
        more = f"\n… and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise PolicyError(f"invalid rule set {root} ({len(errors)} errors):\n{shown}{more}")
    return loaded.ruleset
