"""Starting runs: the `RunLauncher` role, Prefect's implementation and a recording double."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Protocol
from uuid import NAMESPACE_URL, UUID, uuid5

import httpx
from pydantic import BaseModel, ConfigDict, Field

from prefect_federation.api_retries import ClientRetries, retry_when_busy
from prefect_federation.errors import (
    DeploymentNotFound,
    ParameterSchemaError,
    PrefectApiUnavailable,
)
from prefect_federation.feed import RECEIVED_EVENT
from prefect_federation.labels import CORRELATION_ID, EVENT_SOURCE, EVENT_TYPE
from prefect_federation.listener.pipeline import RunRequest

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.responses import DeploymentResponse

__all__ = [
    "PrefectLauncher",
    "RecordingLauncher",
    "RunLauncher",
    "StartedRun",
    "flow_run_ui_url",
]


class StartedRun(BaseModel):
    """A flow run that exists (new, or found again by its idempotency key)."""

    model_config = ConfigDict(frozen=True)

    flow_run_id: UUID
    flow_run_name: str
    deployment: str
    deployment_id: UUID | None = None
    ui_url: str | None = None
    created: bool = Field(
        default=True,
        description="False when the idempotency key found a run that already existed (a "
        "redelivery, a duplicate, a replay).",
    )
    state_type: str | None = Field(
        default="SCHEDULED",
        description="The run's state type when it was created or found (`SCHEDULED` while it "
        "waits to start; a run found `COMPLETED` must not be executed again).",
    )
    flow_run: dict[str, Any] | None = Field(
        default=None,
        exclude=True,
        repr=False,
        description="The run as the create call answered (JSON): an executor starting it need "
        "not read it again.",
    )


class RunLauncher(Protocol):
    """Creates the flow run a `RunRequest` asks for, idempotently."""

    def start(self, request: RunRequest) -> StartedRun:
        """Create (or find) the run. Raises PermanentError or RetryableError subclasses."""
        ...


class RecordingLauncher:
    """An in-memory launcher for tests: records requests; one run per idempotency key."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.requests: list[RunRequest] = []
        self.runs: dict[str, StartedRun] = {}
        self.fail_with = fail_with
        self._lock = threading.Lock()

    def start(self, request: RunRequest) -> StartedRun:
        with self._lock:
            self.requests.append(request)
            if self.fail_with is not None:
                raise self.fail_with
            existing = self.runs.get(request.idempotency_key)
            if existing is not None:
                return existing.model_copy(update={"created": False})
            run_id = uuid5(NAMESPACE_URL, request.idempotency_key)
            started = StartedRun(
                flow_run_id=run_id, flow_run_name=request.name, deployment=request.deployment
            )
            self.runs[request.idempotency_key] = started
            return started

    def healthy(self) -> bool:
        """Whether the (pretend) Prefect API is up: not while `fail_with` is an outage."""
        from prefect_federation.errors import PrefectApiUnavailable

        return not isinstance(self.fail_with, PrefectApiUnavailable)


def _is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        try:
            detail = exc.response.json()
        except ValueError:
            detail = exc.response.text[:300]
        return f"HTTP {exc.response.status_code}: {detail}"
    return f"{type(exc).__name__}: {exc}"


class PrefectLauncher:
    """Creates runs with `create_flow_run_from_deployment(..., idempotency_key=...)`.

    Deployments are looked up by name once and cached for `cache_seconds`; parameters are checked
    against the deployment's parameter schema, so a mismatch is a clear permanent error rather
    than a run that fails later: by the server when the deployment enforces its schema (Prefect's
    default: its 409 becomes a `ParameterSchemaError`), else here before the run is created. The
    received event is recorded in Prefect's event stream, related to the run it started.
    """

    def __init__(
        self,
        client: SyncPrefectClient | None = None,
        *,
        cache_seconds: float = 60.0,
        emit_events: bool = True,
        client_retries: int | None = None,
    ) -> None:
        if client is None:
            from prefect.client.orchestration import get_client

            client = get_client(sync_client=True)
            client.__enter__()
            retry_when_busy(client)  # a busy database's 503: again at once, not in 2 s
        self.client = client
        self.cache_seconds = cache_seconds
        self.emit_events = emit_events
        self._retries = ClientRetries(client_retries)
        self._deployments: dict[str, tuple[float, DeploymentResponse]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.client.__exit__(None, None, None)

    def healthy(self) -> bool:
        """True when the Prefect API answers its health check."""
        with self._retries:
            return self.client.api_healthcheck() is None

    def deployment(self, name: str) -> DeploymentResponse:
        """The deployment called `flow/deployment`, from the cache or the API."""
        from prefect.exceptions import ObjectNotFound

        now = time.monotonic()
        with self._lock:
            cached = self._deployments.get(name)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        try:
            deployment = self.client.read_deployment_by_name(name)
        except ObjectNotFound as exc:
            raise DeploymentNotFound(
                f"deployment {name!r} does not exist on {self.client.api_url}"
            ) from exc
        except Exception as exc:
            if _is_unavailable(exc):
                raise PrefectApiUnavailable(
                    f"Prefect API {self.client.api_url}: {_describe(exc)}"
                ) from exc
            raise
        with self._lock:
            self._deployments[name] = (now, deployment)
        return deployment

    def check_parameters(self, request: RunRequest, deployment: DeploymentResponse) -> None:
        """Validate the rendered parameters against the deployment's parameter schema, unless
        the server does it anyway (`enforce_parameter_schema`, after hydrating them): validating
        twice costs CPU per run, and Prefect's validator imports SQLAlchemy (~20 MiB)."""
        schema = deployment.parameter_openapi_schema
        if not schema or deployment.enforce_parameter_schema:
            return
        from prefect.utilities.schema_tools.validation import ValidationError, validate

        merged = {**(deployment.parameters or {}), **request.parameters}
        try:
            validate(merged, schema, raise_on_error=True, ignore_required=False)
        except ValidationError as exc:
            raise ParameterSchemaError(
                f"deployment {request.deployment!r} rejects the parameters: {exc}"
            ) from exc

    def start(self, request: RunRequest) -> StartedRun:
        with self._retries:
            return self._start(request)

    def _create_run(
        self, deployment_id: UUID, request: RunRequest
    ) -> tuple[Any, bool, dict[str, Any]]:
        """`create_flow_run_from_deployment`, whether the run is new (the API answers 201 for a
        new run and 200 when the idempotency key found an existing one), and its JSON."""
        from prefect.client.schemas.actions import DeploymentFlowRunCreate
        from prefect.client.schemas.objects import FlowRun
        from prefect.states import Scheduled, to_state_create

        body = DeploymentFlowRunCreate(
            parameters=request.parameters,
            state=to_state_create(Scheduled()),
            tags=list(request.tags),
            name=request.name,
            idempotency_key=request.idempotency_key,
            labels=dict(request.labels),
        )
        response = self.client.request(
            "POST",
            "/deployments/{id}/create_flow_run",
            path_params={"id": deployment_id},
            json=body.model_dump(mode="json", exclude_unset=True),
        )
        document = response.json()
        return FlowRun.model_validate(document), response.status_code == 201, document

    def _start(self, request: RunRequest) -> StartedRun:
        from prefect.exceptions import ObjectNotFound

        deployment = self.deployment(request.deployment)
        self.check_parameters(request, deployment)
        try:
            flow_run, created, flow_run_json = self._create_run(deployment.id, request)
        except ObjectNotFound as exc:
            with self._lock:
                self._deployments.pop(request.deployment, None)
            raise DeploymentNotFound(
                f"deployment {request.deployment!r} no longer exists on {self.client.api_url}"
            ) from exc
        except httpx.HTTPStatusError as exc:
            if _is_unavailable(exc):
                raise PrefectApiUnavailable(
                    f"Prefect API {self.client.api_url}: {_describe(exc)}"
                ) from exc
            if exc.response.status_code in (409, 422):
                raise ParameterSchemaError(
                    f"Prefect refused a run of {request.deployment!r}: {_describe(exc)}"
                ) from exc
            raise
        except httpx.TransportError as exc:
            raise PrefectApiUnavailable(
                f"Prefect API {self.client.api_url}: {_describe(exc)}"
            ) from exc
        started = StartedRun(
            flow_run_id=flow_run.id,
            flow_run_name=flow_run.name,
            deployment=request.deployment,
            deployment_id=deployment.id,
            ui_url=flow_run_ui_url(flow_run.id),
            created=created,
            state_type=flow_run.state_type.value if flow_run.state_type else None,
            flow_run=flow_run_json,
        )
        if self.emit_events:
            _record_received_event(request, started)
        return started


def flow_run_ui_url(flow_run_id: UUID) -> str | None:
    """The run's page in the Prefect UI, when a UI URL is configured (Prefect's own `url_for`)."""
    from prefect.settings import PREFECT_UI_URL
    from prefect.utilities.urls import url_for

    if not PREFECT_UI_URL.value():
        return None
    return url_for("flow-run", obj_id=flow_run_id)


def _record_received_event(request: RunRequest, run: StartedRun) -> None:
    """Put the received event in Prefect's event feed, related to the run it started."""
    from prefect.events import emit_event

    envelope = request.envelope
    payload: dict[str, Any] = {"event": envelope.model_dump(mode="json")}
    emit_event(
        event=RECEIVED_EVENT,
        id=uuid5(NAMESPACE_URL, f"received:{request.idempotency_key}"),
        occurred=envelope.time,
        resource={
            "prefect.resource.id": f"prefect-federation.event.{envelope.id}",
            "prefect.resource.name": envelope.type,
            EVENT_TYPE: envelope.type,
            EVENT_SOURCE: envelope.source,
            CORRELATION_ID: str(envelope.correlationid),
        },
        related=[
            {
                "prefect.resource.id": f"prefect.flow-run.{run.flow_run_id}",
                "prefect.resource.role": "flow-run",
                "prefect.resource.name": run.flow_run_name,
            },
            {
                "prefect.resource.id": f"prefect-federation.domain.{envelope.source}",
                "prefect.resource.role": "source-domain",
                "prefect.resource.name": envelope.source,
            },
        ],
        payload=payload,
    )
