"""Parameter templates: `"{{ event.data.snapshot_date }}"`, rendered in a sandbox.

In the style of Prefect's deployment triggers, with three differences users rely on:
- a template that is a single expression keeps the value's JSON type (`"{{ event.data.rows }}"`
  renders the integer, not the string);
- UUIDs, datetimes and other values pydantic can serialise render without error
  (`"{{ event.id }}"` gives the id as a string);
- a reference to a missing field is an error, never a silent empty string.

Templates render in Jinja's immutable sandbox: no access to Python internals, no mutation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic_core import to_jsonable_python

from prefect_federation.errors import ParameterRenderError

__all__ = ["check_template", "render_value"]

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.DOTALL)


def _is_template(value: str) -> bool:
    return "{{" in value or "{%" in value


@lru_cache(maxsize=1024)
def _compile(template: str) -> Any:
    match = _SINGLE_EXPRESSION.match(template)
    if match:
        return ("expr", _ENV.compile_expression(match.group("expr"), undefined_to_none=False))
    return ("text", _ENV.from_string(template))


def check_template(value: Any, where: str = "parameters") -> None:
    """Raise ValueError naming every string template inside `value` that has a syntax error."""
    problems = _template_problems(value, where)
    if problems:
        raise ValueError("; ".join(problems))


def _template_problems(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        if _is_template(value):
            try:
                _compile(value)
            except TemplateSyntaxError as exc:
                return [f"{where}: template {value!r} is not valid: {exc}"]
        return []
    if isinstance(value, Mapping):
        return [
            p for key, item in value.items() for p in _template_problems(item, f"{where}.{key}")
        ]
    if isinstance(value, list):
        return [
            p for i, item in enumerate(value) for p in _template_problems(item, f"{where}[{i}]")
        ]
    return []


def render_value(value: Any, context: Mapping[str, Any], where: str = "parameters") -> Any:
    """Render every template inside `value` (recursively) against `context`.

    Raises:
        ParameterRenderError: naming the parameter and the template that failed.
    """
    if isinstance(value, str):
        if not _is_template(value):
            return value
        try:
            kind, compiled = _compile(value)
            if kind == "expr":
                result = compiled(**context)
                if isinstance(result, Undefined):
                    result._fail_with_undefined_error()
            else:
                result = compiled.render(**context)
            return to_jsonable_python(result)
        except (UndefinedError, SecurityError, TemplateSyntaxError) as exc:
            raise ParameterRenderError(f"{where}: template {value!r} failed: {exc}") from exc
        except Exception as exc:  # a filter or an operator raising on this event's values
            raise ParameterRenderError(
                f"{where}: template {value!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
    if isinstance(value, Mapping):
        return {key: render_value(item, context, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [
            render_value(item, context, f"{where}[{index}]") for index, item in enumerate(value)
        ]
    return value
