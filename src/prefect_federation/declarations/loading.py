"""Loading domain declarations: one YAML file per domain, checked alone, then against each other.

A mistake is refused with a `ConfigError` naming the file, the field and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from prefect_federation.declarations.models import DEPLOYMENT_PATTERN, DomainDeclaration, Federation
from prefect_federation.errors import ConfigError
from prefect_federation.events import DOMAIN_PATTERN, EVENT_TYPE_PATTERN

__all__ = ["build_federation", "load_declaration", "load_federation"]


_EXPECTED = {
    DEPLOYMENT_PATTERN: "expected `flow-name/deployment-name`",
    EVENT_TYPE_PATTERN: "expected an event type `<domain>.<what-happened>`, lowercase",
    DOMAIN_PATTERN: "expected a domain name: lowercase letters, digits and dashes",
}


def _message(item: Any) -> str:
    pattern = (item.get("ctx") or {}).get("pattern")
    return _EXPECTED.get(pattern, item["msg"]) if pattern else str(item["msg"])


def _format_validation_error(source: str, error: ValidationError) -> str:
    lines = [f"{source}: {error.error_count()} error(s) in the domain declaration"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        got = item.get("input")
        shown = repr(got) if not isinstance(got, dict) else "{...}"
        if len(shown) > 80:
            shown = shown[:77] + "..."
        lines.append(f"  {where}: {_message(item)} (got {shown})")
    return "\n".join(lines)


def load_declaration(path: Path) -> DomainDeclaration:
    """Load one domain declaration file; ConfigError names the file and field on a mistake."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the declaration: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with `domain:` at the top, got {raw!r}")
    try:
        return DomainDeclaration.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(str(path), exc)) from exc


def _declaration_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())
    raise ConfigError(f"{path}: no such declaration file or directory")


def build_federation(declarations: Iterable[tuple[str, DomainDeclaration]]) -> Federation:
    """Check declarations against each other and return the Federation."""
    domains: dict[str, DomainDeclaration] = {}
    origin: dict[str, str] = {}
    for where, declaration in declarations:
        if declaration.domain in domains:
            raise ConfigError(
                f"{where}: domain {declaration.domain!r} is already declared in "
                f"{origin[declaration.domain]}"
            )
        domains[declaration.domain] = declaration
        origin[declaration.domain] = where
    for name, declaration in domains.items():
        for index, subscription in enumerate(declaration.subscribes):
            field = "join.events" if subscription.join is not None else "event"
            for event_type in subscription.event_types:
                upstream = domains.get(subscription.source_of(event_type))
                if upstream is None:
                    continue  # an external producer: nothing to check it against
                if event_type not in {p.type for p in upstream.publishes}:
                    published = ", ".join(p.type for p in upstream.publishes) or "nothing"
                    raise ConfigError(
                        f"{origin[name]}: subscribes[{index}].{field} {event_type!r}: domain "
                        f"{upstream.domain!r} does not publish it (it publishes: {published})"
                    )
    federation = Federation(domains=domains)
    from prefect_federation.joins.checks import check_join_keys

    for name, declaration in domains.items():
        problem = check_join_keys(federation, declaration)
        if problem:
            raise ConfigError(f"{origin[name]}: {problem}")
    return federation


def load_federation(path: Path | str) -> Federation:
    """Load every `*.yaml` declaration under `path` (a directory or one file)."""
    path = Path(path)
    loaded = [(str(file), load_declaration(file)) for file in _declaration_files(path)]
    if not loaded:
        raise ConfigError(f"{path}: no domain declarations (*.yaml) found")
    return build_federation(loaded)
