"""Reading a JSON Schema the way `check` needs: the field at a path (nested too), whether it is
always there, its JSON types, and sample values of each of its shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FieldLookup", "json_types", "lookup", "resolve", "sample", "samples", "variants"]

_SAMPLES: dict[str, Any] = {
    "string": "text",
    "integer": 1,
    "number": 1.5,
    "boolean": True,
    "null": None,
}
_FORMATS = {
    "date": "2026-01-01",
    "date-time": "2026-01-01T00:00:00Z",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "uri": "https://example.com/x",
    "email": "x@example.com",
}


def resolve(schema: Any, root: dict[str, Any]) -> dict[str, Any]:
    """`schema` with local `$ref`s (`#/$defs/X`, `#/definitions/X`) followed."""
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 32:
        target: Any = root
        for part in str(schema["$ref"]).removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **rest} if rest else target
        seen += 1
    if isinstance(schema, dict) and len(schema.get("allOf", [])) == 1 and "type" not in schema:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        return {**resolve(schema["allOf"][0], root), **merged}
    return schema if isinstance(schema, dict) else {}


def variants(schema: Any, root: dict[str, Any]) -> list[dict[str, Any]]:
    """The shapes a value may take: `anyOf`/`oneOf` branches and each type of a type list."""
    schema = resolve(schema, root)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        base = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
        return [v for branch in branches for v in variants({**base, **branch}, root)]
    types = schema.get("type")
    if isinstance(types, list):
        return [{**schema, "type": t} for t in types]
    return [schema]


def json_types(schema: Any, root: dict[str, Any]) -> set[str]:
    """The JSON types a value may have; empty when the schema does not say (anything)."""
    found: set[str] = set()
    for variant in variants(schema, root):
        if "const" in variant and "type" not in variant:
            found.add(_type_of(variant["const"]))
        elif "enum" in variant and "type" not in variant:
            found |= {_type_of(v) for v in variant["enum"]}
        elif "type" in variant:
            found.add(str(variant["type"]))
        else:
            return set()
    if "integer" in found and "number" in found:
        found.discard("integer")
    return found


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


@dataclass(frozen=True)
class FieldLookup:
    """Where a dotted path leads in a schema."""

    found: bool
    """The path exists (or leads into an object whose fields the schema leaves open)."""
    required: bool = False
    """Every step of the path is required and never null: the value is always there."""
    schema: dict[str, Any] = field(default_factory=dict)
    missing: str = ""
    """The first step that does not exist."""
    known: tuple[str, ...] = ()
    """The fields that exist where `missing` was looked for (for "did you mean")."""
    open: bool = False
    """Somewhere along the path the schema allows any field: not verifiable."""


def lookup(schema: dict[str, Any], path: list[str]) -> FieldLookup:
    """The field at `path` (`["batch", "id"]` for `data.batch.id`) in an object schema."""
    root = schema
    current: dict[str, Any] = schema
    required = True
    for depth, part in enumerate(path):
        shapes = variants(current, root)
        objects = [s for s in shapes if s.get("type") == "object" or "properties" in s]
        if any(s.get("type") == "null" for s in shapes) or len(objects) < len(shapes):
            required = False  # the parent may be null (or not an object)
        if not objects:
            if any("type" not in s for s in shapes):  # not said: anything goes
                return FieldLookup(found=True, open=True)
            return FieldLookup(found=False, missing=".".join(path[: depth + 1]))
        holding = [o for o in objects if part in (o.get("properties") or {})]
        if not holding:
            if any(_open(o) for o in objects):
                return FieldLookup(found=True, open=True)
            known = sorted({k for o in objects for k in (o.get("properties") or {})})
            return FieldLookup(found=False, missing=".".join(path[: depth + 1]), known=tuple(known))
        required = required and all(part in (o.get("required") or []) for o in holding)
        required = required and len(holding) == len(objects)
        current = resolve(holding[0]["properties"][part], root)
    nullable = any(s.get("type") == "null" for s in variants(current, root))
    return FieldLookup(found=True, required=required and not nullable, schema=current)


def _open(schema: dict[str, Any]) -> bool:
    """An object schema that declares no properties and does not forbid extra ones."""
    return not schema.get("properties") and schema.get("additionalProperties", True) is not False


def sample(schema: Any, root: dict[str, Any] | None = None) -> Any:
    """A value of the schema's first non-null shape (objects with every property)."""
    root = root if root is not None else schema
    shapes = variants(schema, root)
    chosen = next((s for s in shapes if s.get("type") != "null"), shapes[0] if shapes else {})
    return _sample_of(chosen, root)


def samples(schema: Any, root: dict[str, Any] | None = None) -> list[Any]:
    """One value of each shape the schema allows (`str | None`: a string and null)."""
    root = root if root is not None else schema
    return [_sample_of(shape, root) for shape in variants(schema, root)]


def _sample_of(shape: dict[str, Any], root: dict[str, Any]) -> Any:
    if "const" in shape:
        return shape["const"]
    if shape.get("default") is not None:
        return shape["default"]
    if shape.get("enum"):
        return shape["enum"][0]
    if shape.get("examples"):
        return shape["examples"][0]
    kind = shape.get("type")
    if kind == "string" and shape.get("format") in _FORMATS:
        return _FORMATS[str(shape["format"])]
    if kind == "object" or "properties" in shape:
        return {
            name: sample(resolve(sub, root), root)
            for name, sub in (shape.get("properties") or {}).items()
        }
    if kind == "array":
        return [sample(resolve(shape.get("items", {}), root), root)]
    if kind == "integer" and "minimum" in shape:
        return shape["minimum"]
    return _SAMPLES.get(str(kind), "text")
