"""What a subscription's parameter templates read, from Jinja's own parse tree (no regex):
each `event.<path>` (with or without `| default(...)`), and every other name they use."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["Read", "TemplateReads", "reads_of", "template_reads"]

_ENV = ImmutableSandboxedEnvironment()
_DEFAULT_FILTERS = {"default", "d"}


@dataclass(frozen=True)
class Read:
    """One value a template reads: `root.path...`, e.g. `event` + (`data`, `batch_id`)."""

    root: str
    path: tuple[str, ...]
    defaulted: bool
    """Wrapped in `| default(...)` (or `.get(...)`): a missing value is no error."""

    @property
    def dotted(self) -> str:
        return ".".join([self.root, *self.path])


@dataclass(frozen=True)
class TemplateReads:
    """The reads of one parameter's template (`where` is `parameters.<name>`)."""

    where: str
    template: str
    reads: tuple[Read, ...]
    syntax_error: str | None = None

    bare: bool = False
    """The template is exactly `{{ <one read> }}` (or with `| default(...)`): the value's type
    passes unchanged into the parameter."""

    @property
    def single_read(self) -> Read | None:
        return self.reads[0] if self.bare and len(self.reads) == 1 else None


def _chain(node: nodes.Node) -> tuple[str, list[str]] | None:
    """`event.data.x` / `event["data"]["x"]` -> ("event", ["data", "x"]); else None."""
    path: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            path.append(node.attr)
            node = node.node
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str | int)
        ):
            path.append(str(node.arg.value))
            node = node.node
        elif isinstance(node, nodes.Name):
            return node.name, path[::-1]
        else:
            return None


def _walk(node: nodes.Node, defaulted: bool, stored: set[str]) -> Iterator[Read]:
    if isinstance(node, nodes.Filter) and node.name in _DEFAULT_FILTERS and node.node is not None:
        yield from _walk(node.node, True, stored)
        for child in [*node.args, *(k.value for k in node.kwargs)]:
            yield from _walk(child, False, stored)
        return
    if (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Getattr)
        and node.node.attr == "get"
    ):  # `event.data.get("x")`: a read with a default
        found = _chain(node.node.node)
        if found is not None and node.args and isinstance(node.args[0], nodes.Const):
            root, path = found
            if root not in stored:
                yield Read(root, (*path, str(node.args[0].value)), True)
            for child in node.args[1:]:
                yield from _walk(child, False, stored)
            return
    if isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Name):
        found = _chain(node)
        if found is not None:
            root, path = found
            if root not in stored and not (isinstance(node, nodes.Name) and node.ctx != "load"):
                yield Read(root, tuple(path), defaulted)
            return
    for sub in node.iter_child_nodes():
        yield from _walk(sub, False, stored)


def template_reads(template: str, where: str) -> TemplateReads:
    """The reads of one template string."""
    try:
        tree = _ENV.parse(template)
    except TemplateSyntaxError as exc:
        return TemplateReads(where, template, (), syntax_error=str(exc))
    stored = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    return TemplateReads(where, template, tuple(_walk(tree, False, stored)), bare=_bare(tree))


def _bare(tree: nodes.Template) -> bool:
    body = [n for n in tree.body if not (isinstance(n, nodes.Output) and _blank(n))]
    if len(body) != 1 or not isinstance(body[0], nodes.Output):
        return False
    parts = [
        n for n in body[0].nodes if not (isinstance(n, nodes.TemplateData) and not n.data.strip())
    ]
    if len(parts) != 1:
        return False
    node = parts[0]
    if isinstance(node, nodes.Filter) and node.name in _DEFAULT_FILTERS and node.node is not None:
        node = node.node
    return _chain(node) is not None


def _blank(output: nodes.Output) -> bool:
    return all(isinstance(n, nodes.TemplateData) and not n.data.strip() for n in output.nodes)


def reads_of(value: Any, where: str = "parameters") -> list[TemplateReads]:
    """The reads of every template inside a parameters value (nested mappings and lists)."""
    if isinstance(value, str):
        return [template_reads(value, where)] if "{{" in value or "{%" in value else []
    if isinstance(value, Mapping):
        return [r for key, item in value.items() for r in reads_of(item, f"{where}.{key}")]
    if isinstance(value, list):
        return [r for i, item in enumerate(value) for r in reads_of(item, f"{where}[{i}]")]
    return []
