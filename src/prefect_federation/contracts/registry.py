"""The contracts of a federation, and validating data against them before anything is sent.

Publishing (`@publishes`, `publish_event`, the `publish` CLI, an `SnsPublisher` given a
registry) calls `ContractRegistry.enforce`: data that breaks its contract raises
`ContractViolation` naming each bad field and the contract, and nothing is published; a valid
envelope leaves with its contract's `dataschema`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect_federation.contracts.models import (
    Contract,
    import_model,
    model_schema,
    parse_dataschema,
    project_root,
)
from prefect_federation.errors import ConfigError, ContractViolation

if TYPE_CHECKING:
    from prefect_federation.declarations import DomainDeclaration, Federation, Publication
    from prefect_federation.events import EventEnvelope

__all__ = [
    "ContractRegistry",
    "contract_of",
    "contracts_of",
    "default_registry",
    "registry_for",
    "violations",
]


def contract_of(publication: Publication, producer: str, root: Path) -> Contract:
    """The contract a publication declares (its model's schema, its schema, or none).

    Raises:
        ConfigError: the model cannot be imported.
    """
    if publication.model is not None:
        schema = model_schema(import_model(publication.model, root))
        origin = f"model {publication.model}"
    elif publication.data_schema is not None:
        schema, origin = dict(publication.data_schema), "schema"
    else:
        schema, origin = {}, "none"
    return Contract(
        type=publication.type,
        version=publication.version,
        producer=producer,
        data_schema=schema,
        origin=origin,
    )


def contracts_of(
    domains: list[DomainDeclaration], root: Path
) -> tuple[dict[str, Contract], list[tuple[str, str, str]]]:
    """Every published type's contract, and (domain, type, error) for those that cannot load."""
    found: dict[str, Contract] = {}
    errors: list[tuple[str, str, str]] = []
    for domain in domains:
        for publication in domain.publishes:
            try:
                found[publication.type] = contract_of(publication, domain.domain, root)
            except ConfigError as exc:
                errors.append((domain.domain, publication.type, str(exc)))
    return found, errors


def violations(contract: Contract, data: Any, validator: Any = None) -> list[str]:
    """Each way `data` breaks the contract, as `data.<path>: <problem>` (empty: it is valid)."""
    if not contract.data_schema:
        return []
    if validator is None:
        validator = _validator(contract)
    found: list[str] = []
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.path]):
        where = ".".join(["data", *(str(p) for p in error.path)])
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [f for f in error.validator_value if f not in error.instance]
            lines = [f"{where}.{field}: required by the contract, missing" for field in missing]
        else:
            lines = [f"{where}: {error.message}"]
        found += [line for line in lines if line not in found]
    return found


def _validator(contract: Contract) -> Any:
    import jsonschema  # a dependency of prefect (and of nothing heavy)

    return jsonschema.Draft202012Validator(contract.data_schema)


class ContractRegistry:
    """Event type -> its contract; types not in it are published unchecked."""

    def __init__(self, contracts: dict[str, Contract] | None = None) -> None:
        self.contracts = dict(contracts or {})
        self._validators: dict[str, Any] = {}

    @classmethod
    def from_federation(cls, federation: Federation, root: Path) -> ContractRegistry:
        """Raises ConfigError when a declared model cannot be imported."""
        contracts, errors = contracts_of(list(federation), root)
        if errors:
            raise ConfigError("; ".join(error for _, _, error in errors))
        return cls(contracts)

    def get(self, event_type: str) -> Contract | None:
        return self.contracts.get(event_type)

    def check(self, event_type: str, data: Any) -> None:
        """Raise ContractViolation when `data` breaks `event_type`'s contract."""
        contract = self.contracts.get(event_type)
        if contract is None:
            return
        if event_type not in self._validators and contract.data_schema:
            self._validators[event_type] = _validator(contract)
        problems = violations(contract, data, self._validators.get(event_type))
        if problems:
            raise ContractViolation(
                f"{event_type} not published: its data breaks the contract "
                f"{contract.dataschema} ({contract.origin}): " + "; ".join(problems)
            )

    def enforce(self, envelope: EventEnvelope) -> EventEnvelope:
        """The envelope, checked against its contract and carrying the contract's `dataschema`.

        Raises:
            ContractViolation: the data breaks the contract, or the envelope names another
                version of it.
        """
        contract = self.contracts.get(envelope.type)
        if contract is None:
            return envelope
        if envelope.dataschema is not None and envelope.dataschema != contract.dataschema:
            named = parse_dataschema(envelope.dataschema)
            if named is None or named[0] != envelope.type or named[1] != contract.version:
                raise ContractViolation(
                    f"{envelope.type} not published: it names dataschema "
                    f"{envelope.dataschema!r}, the declared contract is {contract.dataschema}"
                )
        self.check(envelope.type, envelope.data)
        if envelope.dataschema == contract.dataschema:
            return envelope
        return envelope.model_copy(update={"dataschema": contract.dataschema})


_CACHE: dict[tuple[str, tuple[tuple[str, float], ...]], ContractRegistry] = {}


def registry_for(declarations: Path) -> ContractRegistry:
    """The contracts declared under `declarations` (a directory or one file); an empty
    registry when the path does not exist. Cached until a declaration file changes.

    Raises:
        ConfigError: a declaration is invalid, or a declared model cannot be imported.
    """
    if not declarations.exists():
        return ContractRegistry()
    files = [declarations] if declarations.is_file() else sorted(declarations.glob("*.y*ml"))
    key = (str(declarations.resolve()), tuple((str(f), f.stat().st_mtime) for f in files))
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    from prefect_federation.declarations import load_federation

    registry = ContractRegistry.from_federation(
        load_federation(declarations), project_root(declarations)
    )
    _CACHE[key] = registry
    return registry


def default_registry() -> ContractRegistry:
    """The contracts of `$PREFECT_FEDERATION_DECLARATIONS` (default `./deployments`)."""
    return registry_for(Path(os.environ.get("PREFECT_FEDERATION_DECLARATIONS", "deployments")))
