"""AWS clients from prefect-aws's `AwsCredentials`: moto server and real AWS by the same path."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from botocore.config import Config

from prefect_federation.errors import ConfigError

if TYPE_CHECKING:
    from prefect_aws import AwsCredentials

__all__ = ["DEFAULT_CLIENT_CONFIG", "aws_client", "load_aws_credentials"]

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


def aws_client(credentials: AwsCredentials, service: str) -> Any:
    """A boto3 client for `service` using the block's session, region and client parameters."""
    params: dict[str, Any] = credentials.aws_client_parameters.get_params_override()
    if credentials.region_name is not None:
        params["region_name"] = credentials.region_name
    config = params.pop("config", None)
    params["config"] = DEFAULT_CLIENT_CONFIG.merge(config) if config else DEFAULT_CLIENT_CONFIG
    session: Any = credentials.get_boto3_session()
    return session.client(service_name=service, **params)
