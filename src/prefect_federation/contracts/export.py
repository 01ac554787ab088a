"""Exported contracts: one JSON Schema file a type and major version, and `index.json`.

```
contracts/
  index.json                          {"contracts": [{"type", "version", "dataschema", ...}]}
  scoring.completed.v1.schema.json    the data's JSON Schema, `$id` = its dataschema URN
```

`check --against` reads a directory like this, or exports one from a git ref first.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

from prefect_federation.contracts.models import Contract
from prefect_federation.errors import ConfigError

__all__ = ["INDEX", "baseline_from_git", "export_contracts", "read_exported", "schema_document"]

INDEX = "index.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def file_name(contract: Contract) -> str:
    return f"{contract.type}.v{contract.version}.schema.json"


def schema_document(contract: Contract) -> dict[str, Any]:
    """The contract as a standalone JSON Schema document."""
    document = {"$schema": DRAFT, "$id": contract.dataschema, **contract.data_schema}
    document.setdefault("title", contract.type)
    document["x-prefect-federation"] = {
        "type": contract.type,
        "version": contract.version,
        "producer": contract.producer,
        "origin": contract.origin,
    }
    return document


def export_contracts(contracts: list[Contract], directory: Path) -> list[Path]:
    """Write each contract's schema and the index; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    entries = []
    for contract in sorted(contracts, key=lambda c: (c.type, c.version)):
        path = directory / file_name(contract)
        path.write_text(json.dumps(schema_document(contract), indent=2, sort_keys=True) + "\n")
        written.append(path)
        entries.append(
            {
                "type": contract.type,
                "version": contract.version,
                "dataschema": contract.dataschema,
                "producer": contract.producer,
                "origin": contract.origin,
                "file": path.name,
            }
        )
    index = directory / INDEX
    index.write_text(json.dumps({"contracts": entries}, indent=2) + "\n")
    return [*written, index]


def read_exported(directory: Path) -> dict[str, Contract]:
    """Type -> its latest exported contract (the highest version in the index).

    Raises:
        ConfigError: no index, or an index entry whose file is missing or not JSON.
    """
    index = directory / INDEX
    try:
        entries = json.loads(index.read_text())["contracts"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{index}: not an index of exported contracts ({exc}); write one with "
            "`prefect-federation contracts export -o DIR`"
        ) from exc
    latest: dict[str, Contract] = {}
    for entry in entries:
        try:
            document = json.loads((directory / entry["file"]).read_text())
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"{index}: entry {entry!r}: {exc}") from exc
        schema = {k: v for k, v in document.items() if k not in ("$schema", "$id")}
        schema.pop("x-prefect-federation", None)
        contract = Contract(
            type=entry["type"],
            version=int(entry["version"]),
            producer=str(entry.get("producer", "")),
            data_schema=schema,
            origin=str(entry.get("origin", "schema")),
        )
        known = latest.get(contract.type)
        if known is None or known.version < contract.version:
            latest[contract.type] = contract
    return latest


def baseline_from_git(ref: str, root: Path, declarations: Path) -> dict[str, Contract]:
    """The contracts as they were at git `ref`: that tree exported in a separate process (its
    models are imported from that tree, not from this one).

    Raises:
        ConfigError: not a git ref here, or that tree's declarations do not export.
    """
    try:
        top = Path(_git(root, "rev-parse", "--show-toplevel").decode().strip())
        archive = _git(top, "archive", "--format=tar", ref)
    except ConfigError as exc:
        raise ConfigError(f"--against {ref}: {exc}") from exc
    relative_root = root.resolve().relative_to(top.resolve())
    relative_declarations = declarations.resolve().relative_to(root.resolve())
    with tempfile.TemporaryDirectory(prefix="contracts-") as scratch:
        tree = Path(scratch) / "tree"
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
        then_root = tree / relative_root
        out = Path(scratch) / "exported"
        command = [
            sys.executable,
            "-c",
            "from prefect_federation.cli import app; app()",
            "contracts",
            "export",
            "-d",
            str(then_root / relative_declarations),
            "-o",
            str(out),
        ]
        done = subprocess.run(command, cwd=then_root, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise ConfigError(
                f"--against {ref}: the contracts at {ref} do not export: "
                f"{done.stderr.strip()[-2000:]}"
            )
        return read_exported(out)


def _git(cwd: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=120)
    except OSError as exc:
        raise ConfigError(f"cannot run git: {exc}") from exc
    if done.returncode != 0:
        raise ConfigError(done.stderr.decode(errors="replace").strip())
    return done.stdout
