"""AWS clients from prefect-aws's `AwsCredentials`: moto server and real AWS by the same path.

Without a block name the clients come from the AWS environment (boto3's own chain: environment
variables, `AWS_ENDPOINT_URL`, profile, instance role) and Prefect is not imported: that is what
keeps `prefect-federation publish` and the `dlq` commands quick. Only a named block imports
Prefect and prefect-aws, to load it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

from botocore.config import Config

from prefect_federation.errors import ConfigError

if TYPE_CHECKING:
    from prefect_aws import AwsCredentials

__all__ = [
    "DEFAULT_CLIENT_CONFIG",
    "LazyAwsClient",
    "aws_client",
    "credentials_or_environment",
    "load_aws_credentials",
    "warm_service_models",
]

DEFAULT_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=5,
    read_timeout=60,  # above SQS's 20 s long poll
)


def load_aws_credentials(block_name: str | None = None) -> AwsCredentials:
    """The named AwsCredentials block, or credentials from the environment when no name is given."""
    from prefect_aws import AwsCredentials

    if not block_name:
        return AwsCredentials()
    try:
        return cast("AwsCredentials", AwsCredentials.load(block_name))
    except ValueError as exc:
        raise ConfigError(
            f"AwsCredentials block {block_name!r} cannot be loaded: {exc}. Save it from a "
            "checkout of prefect-federation with `python blocks/save_blocks.py local --endpoint "
            "URL` (moto server, LocalStack) or `python blocks/save_blocks.py aws --profile NAME`, "
            "or in the Prefect UI (`prefect block create aws-credentials`); or name no block to "
            "use the AWS environment (AWS_ENDPOINT_URL, AWS_PROFILE, ...)."
        ) from exc


def credentials_or_environment(block_name: str | None) -> AwsCredentials | None:
    """The named AwsCredentials block, or None (the AWS environment) without importing Prefect."""
    return load_aws_credentials(block_name) if block_name else None


def aws_client(credentials: AwsCredentials | None, service: str) -> Any:
    """A boto3 client for `service` using the block's session, region and client parameters;
    with None, a client from the environment (what `AwsCredentials()` amounts to): botocore's
    own session, the one a boto3 session wraps (same credential chain, region and endpoint
    settings, same client), without importing boto3's resource and transfer layers, which no
    client of ours uses (~1.6 MiB per process)."""
    if credentials is None:
        import botocore.session

        environment: Any = botocore.session.get_session()
        _share_loader(environment)
        return environment.create_client(service, config=DEFAULT_CLIENT_CONFIG)
    params: dict[str, Any] = credentials.aws_client_parameters.get_params_override()
    if credentials.region_name is not None:
        params["region_name"] = credentials.region_name
    config = params.pop("config", None)
    params["config"] = DEFAULT_CLIENT_CONFIG.merge(config) if config else DEFAULT_CLIENT_CONFIG
    session: Any = credentials.get_boto3_session()
    _share_loader(session)
    return session.client(service_name=service, **params)


class LazyAwsClient:
    """`aws_client(credentials, service)`, made on first use instead of now.

    A boto3 client parses its service's model when it is made: S3's costs a listener ~7 MiB
    and ~0.1 s, for skip records that a domain which never pauses with `skip` never writes.
    The credentials are read now (a block that cannot be loaded fails at start, not at first
    use); only the client waits. Any attribute (a call: `put_object`, `list_objects_v2`, ...)
    makes it, once, whichever thread asks first.
    """

    def __init__(self, credentials: AwsCredentials | None, service: str) -> None:
        self.credentials = credentials
        self.service = service
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def made(self) -> bool:
        return self._client is not None

    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = aws_client(self.credentials, self.service)
        return self._client

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # not the client's: copy, pickle and the like ask for these
            raise AttributeError(name)
        return getattr(self.client(), name)


_loader: Any = None


def _share_loader(session: Any) -> None:
    """One botocore data loader and one endpoint resolver for every session of this process.

    Each `AwsCredentials.get_boto3_session()` is a new botocore session with a loader of its
    own, which parses the service's model and endpoint rules again (~0.1-0.3 s of CPU per client,
    and a copy of them in memory each). The loader only caches what it read from botocore's data
    files, so one can serve every session; a fork server that warmed it (`warm_service_models`)
    hands it, parsed, to every flow run it forks.
    """
    global _loader
    core = getattr(session, "_session", session)  # a boto3 session wraps botocore's
    if not hasattr(core, "register_component"):
        return  # another boto3: each session keeps its own loader
    if core.get_config_variable("data_path"):
        return  # models of its own (AWS_DATA_PATH): this session reads them with its own loader
    if _loader is None:
        _loader = core.get_component("data_loader")
    else:
        core.register_component("data_loader", _loader)
    register = getattr(core, "_register_internal_component", None)
    if register is not None:  # not the whole endpoints.json in every session: ~7 MiB each
        from prefect_federation.aws_endpoints import shared_resolver

        register("endpoint_resolver", shared_resolver())


def warm_service_models(services: list[str]) -> None:
    """Parse the models of `services` into the shared loader now (a fork server, before its
    children need them); what fails here is simply parsed later."""
    import botocore.session

    session: Any = botocore.session.get_session()
    _share_loader(session)
    for service in services:
        try:
            session.create_client(
                service, "us-east-1", aws_access_key_id="warm", aws_secret_access_key="warm"
            )
        except Exception:  # nothing is at stake: the run parses it itself
            continue
