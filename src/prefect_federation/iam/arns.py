"""Every ARN a domain's policies name, from `prefect_federation.naming`."""

from __future__ import annotations

from pydantic import ValidationError

from prefect_federation.declarations import DomainDeclaration, Federation
from prefect_federation.errors import ConfigError
from prefect_federation.iam.models import AwsLocation, DomainArns
from prefect_federation.naming import dlq_name, join_table_name, queue_name, topic_name
from prefect_federation.settings import FederationSettings


def _location(account_id: str, region: str) -> AwsLocation:
    try:
        location = AwsLocation(account_id=account_id, region=region)
    except ValidationError as exc:
        problems = "; ".join(
            f"{e['loc'][0]}: {e['msg']} (got {e['input']!r})" for e in exc.errors()
        )
        raise ConfigError(f"not a valid AWS account/region: {problems}") from exc
    _ = location.partition  # an unknown region fails here, not halfway through a policy
    return location


def _upstream_topic_names(
    federation: Federation, declaration: DomainDeclaration, prefix: str
) -> list[str]:
    """As `provision` resolves them: a declared upstream's own FIFO flag; an undeclared one's topic
    is looked up under both names, so both are allowed."""
    names: list[str] = []
    for upstream in declaration.upstreams():
        declared = federation.domains.get(upstream)
        if declared is not None:
            names.append(topic_name(prefix, upstream, declared.fifo))
        else:
            names.extend([topic_name(prefix, upstream, False), topic_name(prefix, upstream, True)])
    return names


def domain_arns(
    federation: Federation,
    domain: str,
    settings: FederationSettings,
    account_id: str,
    region: str,
) -> DomainArns:
    """The ARNs of `domain`'s topic, queue, DLQ and upstream topics, named as `provision` does."""
    declaration = federation.domain(domain)
    location = _location(account_id, region)
    prefix, fifo = settings.name_prefix, declaration.fifo
    table = (
        f"arn:{location.partition}:dynamodb:{region}:{account_id}:table/"
        f"{join_table_name(prefix, domain)}"
        if declaration.keeps_state
        else None
    )
    return DomainArns(
        join_table=table,
        domain=domain,
        publishes=bool(declaration.publishes),
        subscribes=bool(declaration.subscribes),
        topic=location.arn("sns", topic_name(prefix, domain, fifo)),
        queue=location.arn("sqs", queue_name(prefix, domain, fifo)),
        dlq=location.arn("sqs", dlq_name(prefix, domain, fifo)),
        upstream_topics=tuple(
            sorted(
                location.arn("sns", name)
                for name in _upstream_topic_names(federation, declaration, prefix)
            )
        ),
    )
