"""A contract: an event type's data schema and major version, from a pydantic model or a JSON
Schema in the producer's declaration (`publishes[].model` or `publishes[].schema`)."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import GenerateJsonSchema

from prefect_federation.errors import ConfigError

__all__ = [
    "DATASCHEMA_PREFIX",
    "Contract",
    "dataschema_uri",
    "import_model",
    "model_schema",
    "parse_dataschema",
    "project_root",
]

DATASCHEMA_PREFIX = "urn:prefect-federation:"
_DATASCHEMA = re.compile(r"^urn:prefect-federation:(?P<type>[^:]+):v(?P<version>[1-9][0-9]*)$")


def dataschema_uri(event_type: str, version: int) -> str:
    """The CloudEvents `dataschema` of a contract: `urn:prefect-federation:<type>:v<major>`."""
    return f"{DATASCHEMA_PREFIX}{event_type}:v{version}"


def parse_dataschema(uri: str) -> tuple[str, int] | None:
    """(type, major version) of a `dataschema` URN, or None when it is not one of ours."""
    match = _DATASCHEMA.match(uri)
    return (match.group("type"), int(match.group("version"))) if match else None


class Contract(BaseModel):
    """The data of one event type at one major version."""

    model_config = ConfigDict(frozen=True)

    type: str
    version: int = Field(ge=1)
    producer: str
    data_schema: dict[str, Any] = Field(
        default_factory=dict, description="JSON Schema of the event's data; {} when none declared."
    )
    origin: str = Field(description="`model <module:Class>`, `schema` or `none`.")

    @property
    def dataschema(self) -> str:
        return dataschema_uri(self.type, self.version)

    @property
    def declared(self) -> bool:
        """Whether the data has a declared shape (a model or a schema)."""
        return self.origin != "none"

    @property
    def label(self) -> str:
        """`scoring.completed v1 (model flows.scoring.events:ScoringCompleted)`."""
        return f"{self.type} v{self.version} ({self.origin})"


class _EveryFieldPresent(GenerateJsonSchema):
    """The schema of what `model_dump()` sends: a field with a default is always there."""

    def field_is_required(self, field: Any, total: bool) -> bool:
        if self.mode == "serialization":
            return not field.get("serialization_exclude")
        return super().field_is_required(field, total)


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of a model's dumped data (every field with a default is present)."""
    return model.model_json_schema(mode="serialization", schema_generator=_EveryFieldPresent)


def project_root(declarations: Path) -> Path:
    """The directory models are imported from: the nearest one up from the declarations that
    holds a `prefect.yaml`, else the declarations directory's parent."""
    directory = (declarations if declarations.is_dir() else declarations.parent).resolve()
    for candidate in [directory, *directory.parents]:
        if (candidate / "prefect.yaml").is_file():
            return candidate
    return directory.parent


def import_model(reference: str, root: Path) -> type[BaseModel]:
    """The pydantic model `module.path:ClassName`, imported with `root` on `sys.path`.

    Raises:
        ConfigError: naming the reference and what went wrong.
    """
    module_name, _, attribute = reference.partition(":")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # an import error, or the module itself raising
        raise ConfigError(
            f"model {reference!r}: cannot import {module_name!r} from {root}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    model = getattr(module, attribute, None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ConfigError(
            f"model {reference!r}: {module_name}.{attribute} is not a pydantic model "
            f"(got {type(model).__name__})"
        )
    return model
