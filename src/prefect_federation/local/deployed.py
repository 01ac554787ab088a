"""What the demo deployed on one of its own servers, kept in its home, so that a demo reusing
`.federation/` does not deploy again what has not changed.

`prefect deploy` of the example's five domains takes 4-6 s on two cores, and gives the same
deployments as last time when nothing they are made of changed: `prefect.yaml`, the flows'
sources (their parameter schemas), the declarations, the checkout's directory, the Prefect
version. `<home>/deployed/<server>.json` records a fingerprint of those and the ids of the
deployments made. The next run skips deploying only if the fingerprint is the same and every
recorded deployment still exists on that server (one API call); otherwise it deploys as before
and records again. Only for the demo's embedded servers, whose database lives in its home.
"""

from __future__ import annotations

import contextlib
import hashlib
from importlib.metadata import version
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ValidationError

__all__ = ["DeployRecord", "deployment_ids", "fingerprint", "still_deployed"]


class DeployRecord(BaseModel):
    """`<home>/deployed/<server>.json`."""

    fingerprint: str
    deployments: dict[str, list[UUID]]  # domain -> the ids of its deployments

    @classmethod
    def read(cls, path: Path) -> DeployRecord | None:
        """The record at `path`; None if there is none or it cannot be read (then: deploy)."""
        try:
            return cls.model_validate_json(path.read_text())
        except (OSError, ValidationError):
            return None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(self.model_dump_json(indent=2))
        partial.replace(path)


def fingerprint(project: Path) -> str:
    """A digest of what the example's deployments are made of."""
    project = project.resolve()
    digest = hashlib.sha256()
    for part in (version("prefect"), version("prefect-federation"), str(project)):
        digest.update(part.encode() + b"\0")
    files = [
        project / "prefect.yaml",
        *sorted((project / "flows").rglob("*.py")),
        *sorted((project / "deployments").glob("*.y*ml")),
    ]
    for path in files:
        digest.update(str(path.relative_to(project)).encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def still_deployed(
    record: DeployRecord | None, expected: str, domains: list[str], client: Any
) -> bool:
    """True if `record` has the `expected` fingerprint, deployments for every one of `domains`,
    and each of those deployments exists on the server of `client` (a SyncPrefectClient)."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    if record is None or record.fingerprint != expected:
        return False
    if any(not record.deployments.get(domain) for domain in domains):
        return False
    ids = {i for domain in domains for i in record.deployments[domain]}
    found = client.read_deployments(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=sorted(ids)))
    )
    return {d.id for d in found} == ids


def deployment_ids(client: Any, pool: str) -> list[UUID]:
    """The ids of the deployments in work pool `pool` (the demo gives each domain its own)."""
    from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName

    found = client.read_deployments(
        work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool]))
    )
    return sorted(d.id for d in found)
