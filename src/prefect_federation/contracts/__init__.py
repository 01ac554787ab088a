"""Contracts: the declared shape of each published event's data, checked before runtime.

| module | what |
|---|---|
| `models.py` | `Contract` (type, major version, JSON Schema), the `dataschema` URN, models |
| `registry.py` | the contracts of a declarations directory; validating data before publishing |
| `schema.py` | reading a JSON Schema: paths, required-ness, types, sample values |
| `reads.py` | what a parameter template reads (`event.data.<path>`, with or without a default) |
| `targets.py` | a deployment's flow and its parameter schema (prefect.yaml, Prefect's own schema) |
| `check.py` | every subscription against its producer's contract (reads, filters) |
| `parameters.py` | ... and against its target flow's parameter schema (types, required) |
| `where.py` | what one subscription's checks share; "did you mean" |
| `problems.py` | `Problem`: rule, producer, consumer, subscription, field, message |
| `compat.py` | two versions of a contract: the changes, breaking or not for the actual consumers |
| `export.py` | writing and reading exported JSON Schema files (one a type and version, an index) |
"""

from __future__ import annotations

from prefect_federation.contracts.models import Contract, dataschema_uri

__all__ = ["Contract", "dataschema_uri"]
