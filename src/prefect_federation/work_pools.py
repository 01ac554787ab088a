"""Each domain's Prefect work pool, created by `provision` on the domain's Prefect server.

`prefect deploy` refuses a deployment whose work pool does not exist, so a new domain could not
deploy before someone created its pool by hand. A domain that subscribes to events runs
deployments; `provision` creates its pool (named after the domain, type `process`, or what the
declaration's `work_pool` says) with the type's default base job template. A pool that exists is
left as it is (its job template may have been edited on purpose); one of another type than the
declaration names is a ConfigError, because Prefect cannot change a pool's type.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prefect_federation.declarations import DomainDeclaration, WorkPool
from prefect_federation.errors import ConfigError

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

__all__ = ["default_base_job_template", "ensure_work_pools"]


def default_base_job_template(pool_type: str) -> dict[str, Any] | None:
    """The default base job template of a work pool type (None when the type is unknown)."""
    from prefect.utilities.asyncutils import run_coro_as_sync
    from prefect.workers.base import BaseWorker
    from prefect.workers.utilities import get_default_base_job_template_for_infrastructure_type

    worker = BaseWorker.get_worker_class_from_type(pool_type)  # installed here: no network
    if worker is not None:
        return dict(worker.get_default_base_job_template())
    template = run_coro_as_sync(get_default_base_job_template_for_infrastructure_type(pool_type))
    return dict(template) if template else None


def _ensure(client: SyncPrefectClient, domain: str, pool: WorkPool) -> tuple[str, str, str]:
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    assert pool.name is not None
    label = f"{pool.name} ({pool.type})"
    try:
        existing = client.read_work_pool(pool.name)
    except ObjectNotFound:
        existing = None
    if existing is None:
        template = default_base_job_template(pool.type)
        if template is None:
            raise ConfigError(
                f"domain {domain!r}: work pool type {pool.type!r} is unknown here: install its "
                f"worker's package, or create the pool yourself (`prefect work-pool create "
                f"{pool.name} --type {pool.type}`)"
            )
        try:
            client.create_work_pool(
                WorkPoolCreate(name=pool.name, type=pool.type, base_job_template=template)
            )
        except ObjectAlreadyExists:  # created meanwhile (two provisions at once)
            existing = client.read_work_pool(pool.name)
        else:
            return ("created", "work pool", label)
    if existing.type != pool.type:
        raise ConfigError(
            f"work pool {pool.name!r} exists with type {existing.type!r}, but domain {domain!r} "
            f"declares type {pool.type!r} (`work_pool.type`, default 'process'): Prefect cannot "
            "change a pool's type; declare the pool's type, or another `work_pool.name`"
        )
    return ("unchanged", "work pool", label)


def ensure_work_pools(
    client: SyncPrefectClient, declarations: Iterable[DomainDeclaration]
) -> list[tuple[str, str, str]]:
    """Create the work pool of each domain that needs one; returns (action, kind, name) rows."""
    rows = []
    for declaration in declarations:
        pool = declaration.pool()
        if pool is not None:
            rows.append(_ensure(client, declaration.domain, pool))
    return rows
