"""A subscription's target: the deployment in `prefect.yaml`, its entrypoint's flow function, and
that function's parameter schema as Prefect itself computes it (from the source, unexecuted)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Target", "TargetError", "Targets"]


class TargetError(Exception):
    """The deployment or its flow cannot be found or read (the message says which)."""


@dataclass(frozen=True)
class Target:
    """A deployment's flow and the JSON Schema of its parameters."""

    deployment: str
    entrypoint: str
    parameter_schema: dict[str, Any]

    @property
    def properties(self) -> dict[str, Any]:
        return dict(self.parameter_schema.get("properties") or {})

    @property
    def required(self) -> list[str]:
        return list(self.parameter_schema.get("required") or [])


def _flow_name(source: str, function: str) -> str | None:
    """The `@flow(name=...)` of `function` in `source` (Prefect's default: dashes for
    underscores); None when the function has no `@flow` decorator."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function:
            for decorator in node.decorator_list:
                call = decorator if isinstance(decorator, ast.Call) else None
                target = call.func if call else decorator
                name = target.attr if isinstance(target, ast.Attribute) else None
                name = target.id if isinstance(target, ast.Name) else name
                if name != "flow":
                    continue
                for keyword in call.keywords if call else []:
                    if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                        return str(keyword.value.value)
                return function.replace("_", "-")
    return None


@dataclass
class Targets:
    """The deployments of a project's `prefect.yaml`, resolved on demand (and cached)."""

    root: Path
    _deployments: list[dict[str, Any]] | None = None
    _cache: dict[str, Target | TargetError] = field(default_factory=dict)

    @property
    def prefect_yaml(self) -> Path:
        return self.root / "prefect.yaml"

    def available(self) -> bool:
        return self.prefect_yaml.is_file()

    def _entries(self) -> list[dict[str, Any]]:
        if self._deployments is None:
            try:
                document = yaml.safe_load(self.prefect_yaml.read_text()) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise TargetError(f"{self.prefect_yaml}: cannot read it: {exc}") from exc
            entries = document.get("deployments") if isinstance(document, dict) else None
            self._deployments = [e for e in entries or [] if isinstance(e, dict)]
        return self._deployments

    def target(self, deployment: str) -> Target:
        """The target of `flow-name/deployment-name`.

        Raises:
            TargetError: no such deployment in prefect.yaml, or its flow cannot be read.
        """
        cached = self._cache.get(deployment)
        if cached is None:
            try:
                cached = self._resolve(deployment)
            except TargetError as exc:
                cached = exc
            self._cache[deployment] = cached
        if isinstance(cached, TargetError):
            raise cached
        return cached

    def _resolve(self, deployment: str) -> Target:
        from prefect.utilities.callables import parameter_schema_from_entrypoint

        flow_name, _, name = deployment.partition("/")
        candidates = [e for e in self._entries() if e.get("name") == name]
        if not candidates:
            known = ", ".join(sorted(str(e.get("name")) for e in self._entries())) or "none"
            raise TargetError(
                f"deployment {name!r} is not in {self.prefect_yaml} (deployments: {known})"
            )
        seen = []
        for entry in candidates:
            entrypoint = str(entry.get("entrypoint") or "")
            path, _, function = entrypoint.rpartition(":")
            file = self.root / path
            try:
                source = file.read_text()
                found = _flow_name(source, function)
            except (OSError, SyntaxError) as exc:
                raise TargetError(f"entrypoint {entrypoint!r} cannot be read: {exc}") from exc
            seen.append(f"{entrypoint} (flow {found!r})")
            if found != flow_name:
                continue
            try:
                schema = parameter_schema_from_entrypoint(f"{file}:{function}")
            except Exception as exc:  # Prefect's own reading of the signature failed
                raise TargetError(
                    f"entrypoint {entrypoint!r}: no parameter schema: {type(exc).__name__}: {exc}"
                ) from exc
            return Target(deployment, entrypoint, schema.model_dump_for_openapi())
        raise TargetError(
            f"deployment {name!r} in {self.prefect_yaml} does not run flow {flow_name!r}: "
            + "; ".join(seen)
        )
