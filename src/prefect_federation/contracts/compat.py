"""Two versions of a contract: what changed, and whether it breaks the consumers that exist.

What matters for events is whether every consumer, unchanged, can read what the new version
publishes. A change is breaking only when some consumer reads the field it touches:

| change | breaking when |
|---|---|
| field removed (or renamed: removed + added with the same type) | a template or filter reads it |
| type widened (a new type, null included) | a template reads it |
| required -> optional | a template reads it without `| default(...)`, or a filter uses it |
| enum widened | a template reads it |
| enum narrowed | a filter accepts a value no longer sent (it would silently never match) |
| type narrowed, optional -> required, field added | never |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prefect_federation.contracts.models import Contract
from prefect_federation.contracts.problems import Problem
from prefect_federation.contracts.reads import reads_of
from prefect_federation.contracts.schema import json_types, resolve, variants
from prefect_federation.declarations import Federation

__all__ = ["Change", "Reader", "compare", "diff", "readers_of"]


@dataclass(frozen=True)
class Change:
    kind: str
    """removed, renamed, type-widened, type-narrowed, now-optional, now-required, enum-widened,
    enum-narrowed, added."""
    path: tuple[str, ...]
    detail: str
    removed_values: tuple[Any, ...] = ()

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Reader:
    """A consumer's read of a data path: from a parameter's template or a filter."""

    consumer: str
    deployment: str
    path: tuple[str, ...]
    parameter: str | None = None
    defaulted: bool = False
    filter_values: tuple[Any, ...] = field(default=())

    def describe(self) -> str:
        what = (
            f"parameter {self.parameter}" if self.parameter else f"filter on {'.'.join(self.path)}"
        )
        return f"{self.consumer} ({self.deployment}, {what})"


def _objects(schema: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in variants(schema, root) if v.get("type") == "object" or "properties" in v]


def _enum(schema: dict[str, Any], root: dict[str, Any]) -> set[Any] | None:
    values: set[Any] = set()
    for variant in variants(schema, root):
        if "const" in variant:
            values.add(variant["const"])
        elif "enum" in variant:
            values |= set(variant["enum"])
        elif variant.get("type") != "null":
            return None
    return values


def diff(
    old: dict[str, Any],
    new: dict[str, Any],
    path: tuple[str, ...] = (),
    old_root: dict[str, Any] | None = None,
    new_root: dict[str, Any] | None = None,
) -> list[Change]:
    """The changes from `old` to `new` (object properties, recursively)."""
    old_root = old if old_root is None else old_root
    new_root = new if new_root is None else new_root
    changes: list[Change] = []
    old_types, new_types = json_types(old, old_root), json_types(new, new_root)
    if path and old_types != new_types:
        widened = bool(new_types - old_types) or (bool(old_types) and not new_types)
        kind = "type-widened" if widened else "type-narrowed"
        shown = "/".join(sorted(old_types)) or "any", "/".join(sorted(new_types)) or "any"
        changes.append(
            Change(kind, path, f"changes `{'.'.join(path)}` from {shown[0]} to {shown[1]}")
        )
    old_enum, new_enum = _enum(old, old_root), _enum(new, new_root)
    if path and old_enum is not None and old_enum != new_enum:
        if new_enum is None or new_enum - old_enum:
            added = sorted(map(repr, (new_enum or set()) - old_enum)) or ["any value"]
            changes.append(
                Change("enum-widened", path, f"adds {', '.join(added)} to `{'.'.join(path)}`")
            )
        gone = tuple(sorted(old_enum - (new_enum or old_enum), key=repr))
        if gone:
            shown_gone = ", ".join(map(repr, gone))
            changes.append(
                Change(
                    "enum-narrowed",
                    path,
                    f"no longer sends {shown_gone} in `{'.'.join(path)}`",
                    gone,
                )
            )
    old_objects, new_objects = _objects(old, old_root), _objects(new, new_root)
    if not old_objects or not new_objects:
        return changes
    old_props = {k: v for o in old_objects for k, v in (o.get("properties") or {}).items()}
    new_props = {k: v for o in new_objects for k, v in (o.get("properties") or {}).items()}
    old_required = {k for o in old_objects for k in (o.get("required") or [])}
    new_required = {k for o in new_objects for k in (o.get("required") or [])}
    removed = [k for k in old_props if k not in new_props]
    added = [k for k in new_props if k not in old_props]
    for name in removed:
        twin = next(
            (
                a
                for a in added
                if json_types(new_props[a], new_root) == json_types(old_props[name], old_root)
                and (a in new_required) == (name in old_required)
            ),
            None,
        )
        if twin is not None and len(removed) == len(added):
            added.remove(twin)
            changes.append(
                Change("renamed", (*path, name), f"renames `{'.'.join((*path, name))}` to `{twin}`")
            )
        else:
            changes.append(Change("removed", (*path, name), f"removes `{'.'.join((*path, name))}`"))
    for name in added:
        changes.append(Change("added", (*path, name), f"adds `{'.'.join((*path, name))}`"))
    for name in old_props:
        if name not in new_props:
            continue
        here = (*path, name)
        if name in old_required and name not in new_required:
            changes.append(Change("now-optional", here, f"makes `{'.'.join(here)}` optional"))
        elif name not in old_required and name in new_required:
            changes.append(Change("now-required", here, f"makes `{'.'.join(here)}` required"))
        changes += diff(
            resolve(old_props[name], old_root),
            resolve(new_props[name], new_root),
            here,
            old_root,
            new_root,
        )
    return changes


def readers_of(federation: Federation, event_type: str) -> list[Reader]:
    """Every read of `event_type`'s data by a subscription: templates and filters."""
    found = []
    for consumer in federation:
        for subscription in consumer.subscriptions_for(event_type):
            templates = reads_of(subscription.parameters)
            if subscription.join is not None:  # its key reads every joined type's data
                templates += reads_of(subscription.join.key, "join.key")
            for template in templates:
                parameter = template.where.removeprefix("parameters.")
                for read in template.reads:
                    read_path = read.path
                    if read.root == "events" and read_path[:2] == (event_type, "data"):
                        read_path = read_path[1:]  # a join's `events['<type>'].data...`
                    elif read.root != "event":
                        continue
                    if read_path[:1] == ("data",) and len(read_path) > 1:
                        found.append(
                            Reader(
                                consumer.domain,
                                subscription.deployment,
                                read_path[1:],
                                parameter=parameter,
                                defaulted=read.defaulted,
                            )
                        )
            for path, accepted in subscription.filter.items():
                values = tuple(accepted) if isinstance(accepted, list) else (accepted,)
                found.append(
                    Reader(
                        consumer.domain,
                        subscription.deployment,
                        tuple(path.split(".")),
                        filter_values=values,
                    )
                )
    return found


def _touches(change: Change, reader: Reader) -> bool:
    shorter = min(len(change.path), len(reader.path))
    return change.path[:shorter] == reader.path[:shorter]


def breaks(change: Change, reader: Reader) -> bool:
    """Whether `change` breaks what `reader` reads."""
    if not _touches(change, reader):
        return False
    is_filter = reader.parameter is None
    exact = change.path == reader.path
    if change.kind in ("removed", "renamed"):
        return True
    if change.kind in ("type-widened", "enum-widened"):
        return not is_filter and len(reader.path) >= len(change.path)
    if change.kind == "now-optional":
        return len(reader.path) >= len(change.path) and (is_filter or not reader.defaulted)
    if change.kind == "enum-narrowed":
        return is_filter and exact and any(v in change.removed_values for v in reader.filter_values)
    return False


def compare(old: Contract, new: Contract, readers: list[Reader]) -> tuple[list[Problem], list[str]]:
    """(errors, notes): a breaking change without a new major version is an error; each change
    is a note saying whether, and whom, it breaks."""
    head = f"{new.type} v{old.version} -> v{new.version}"
    if new.version < old.version:
        message = f"{head}: the major version went down (it only goes up)"
        problem = Problem("version", message, producer=new.producer, standalone=True)
        return [problem], []
    errors: list[Problem] = []
    notes: list[str] = []
    for change in diff(old.data_schema, new.data_schema):
        victims = [r for r in readers if breaks(change, r)]
        if not victims:
            notes.append(f"{head} {change.detail}: compatible (no consumer is affected)")
            continue
        text = f"{head} {change.detail}, read by " + ", ".join(r.describe() for r in victims)
        if new.version == old.version:
            errors.append(
                Problem(
                    "breaking-change",
                    f"{text}: a breaking change needs a new major version (`version: "
                    f"{old.version + 1}` in {new.producer}'s `publishes`), and its consumers "
                    "a change",
                    consumer=", ".join(sorted({r.consumer for r in victims})),
                    producer=new.producer,
                    field=f"data.{change.dotted}",
                    standalone=True,
                )
            )
        else:
            notes.append(f"{text}: breaking, in a new major version")
    return errors, notes
