"""Least-privilege IAM policies, evaluated by a real policy evaluator (moto's `IAMPolicy`) and
linted by parliament, for every domain of the worked example in deployments/.

The actions and ARNs a domain needs are written out here from what the code calls (queue.py,
publisher.py, connect.py, provision.py) and from naming.py, not taken from iam.py."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Literal

import pytest
import typer
from moto.iam.access_control import IAMPolicy, PermissionResult
from typer.testing import CliRunner

from prefect_federation.cli.iam import iam_policy
from prefect_federation.declarations import (
    DomainDeclaration,
    Federation,
    build_federation,
    load_federation,
)
from prefect_federation.errors import ConfigError
from prefect_federation.iam import (
    PolicyDocument,
    PolicyStatement,
    domain_arns,
    operator_policy,
    provisioning_policy,
    runtime_policy,
)
from prefect_federation.naming import dlq_name, queue_name, topic_name
from prefect_federation.settings import FederationSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENTS = ROOT / "deployments"
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
REGION = "eu-west-1"
PREFIX = "federation-"
EXAMPLE = load_federation(DEPLOYMENTS)
DOMAINS = sorted(EXAMPLE.domains)
SUBSCRIBERS = [d for d in DOMAINS if EXAMPLE.domain(d).subscribes]
Kind = Literal["runtime", "provisioning", "operator"]
KINDS_OF: dict[str, list[Kind]] = {
    domain: ["runtime", "provisioning", *(["operator"] if domain in SUBSCRIBERS else [])]
    for domain in DOMAINS
}

# AWS offers no resource-level permissions for these (Service Authorization Reference: empty
# "resource types" column): "*" is the only resource a policy can give them.
UNSCOPABLE = {
    "sns:ListTopics",
    "sns:ListSubscriptions",
    "sns:GetSubscriptionAttributes",
    "sns:SetSubscriptionAttributes",
    "sns:Unsubscribe",
}
# Everything a domain could try on a topic or queue: what the policies grant, and worse.
EVERY_ACTION = sorted(
    {
        "sns:AddPermission",
        "sns:CreateTopic",
        "sns:DeleteTopic",
        "sns:GetTopicAttributes",
        "sns:ListSubscriptionsByTopic",
        "sns:Publish",
        "sns:RemovePermission",
        "sns:SetTopicAttributes",
        "sns:Subscribe",
        "sns:TagResource",
        "sqs:AddPermission",
        "sqs:ChangeMessageVisibility",
        "sqs:CreateQueue",
        "sqs:DeleteMessage",
        "sqs:DeleteQueue",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:PurgeQueue",
        "sqs:ReceiveMessage",
        "sqs:SendMessage",
        "sqs:SetQueueAttributes",
        "sqs:StartMessageMoveTask",
        "sqs:TagQueue",
    }
)


def arn(
    service: str, name: str, account: str = ACCOUNT, region: str = REGION, partition: str = "aws"
) -> str:
    return f"arn:{partition}:{service}:{region}:{account}:{name}"


def own_topic(domain: str, federation: Federation = EXAMPLE, prefix: str = PREFIX) -> str:
    return arn("sns", topic_name(prefix, domain, federation.domain(domain).fifo))


def own_queue(domain: str, federation: Federation = EXAMPLE, prefix: str = PREFIX) -> str:
    return arn("sqs", queue_name(prefix, domain, federation.domain(domain).fifo))


def own_dlq(domain: str, federation: Federation = EXAMPLE, prefix: str = PREFIX) -> str:
    return arn("sqs", dlq_name(prefix, domain, federation.domain(domain).fifo))


def subscribe_as(queue_arn: str, protocol: str = "sqs") -> dict[str, str]:
    """The condition values AWS evaluates for sns:Subscribe."""
    return {"sns:Endpoint": queue_arn, "sns:Protocol": protocol}


def settings(prefix: str = PREFIX) -> FederationSettings:
    return FederationSettings(name_prefix=prefix)


def policy_of(
    kind: Kind,
    domain: str,
    federation: Federation = EXAMPLE,
    account: str = ACCOUNT,
    region: str = REGION,
    prefix: str = PREFIX,
    **options: Any,
) -> PolicyDocument:
    build = {
        "runtime": runtime_policy,
        "provisioning": provisioning_policy,
        "operator": operator_policy,
    }[kind]
    return build(federation, domain, settings(prefix), account, region, **options)


def verdict(
    policy: PolicyDocument,
    action: str,
    resource: str,
    conditions: dict[str, str] | None = None,
) -> PermissionResult:
    """moto's evaluator, on the JSON document exactly as it would be attached."""
    return IAMPolicy(policy.to_json()).is_action_permitted(
        action, resource, incoming_condition_values=conditions
    )


def permitted(
    policy: PolicyDocument, action: str, resource: str, conditions: dict[str, str] | None = None
) -> bool:
    return verdict(policy, action, resource, conditions) == PermissionResult.PERMITTED


# What each domain needs: (action, resource, condition values), from the code, not from iam.py.
Need = tuple[str, str, dict[str, str] | None]


def runtime_needs(
    domain: str, federation: Federation = EXAMPLE, prefix: str = PREFIX
) -> list[Need]:
    declaration = federation.domain(domain)
    needs: list[Need] = []
    if declaration.publishes:
        topic = own_topic(domain, federation, prefix)
        needs += [("sns:Publish", topic, None), ("sns:ListTopics", "*", None)]
    if declaration.subscribes:
        queue, dlq = own_queue(domain, federation, prefix), own_dlq(domain, federation, prefix)
        needs += [
            ("sqs:ReceiveMessage", queue, None),
            ("sqs:DeleteMessage", queue, None),
            ("sqs:ChangeMessageVisibility", queue, None),
            ("sqs:GetQueueAttributes", queue, None),
            ("sqs:GetQueueUrl", queue, None),
            ("sqs:GetQueueUrl", dlq, None),
            ("sqs:SendMessage", dlq, None),
        ]
    return needs


def upstream_topics(domain: str, federation: Federation = EXAMPLE) -> list[str]:
    topics = []
    for upstream in federation.domain(domain).upstreams():
        declared = federation.domains.get(upstream)
        if declared is not None:
            topics.append(arn("sns", topic_name(PREFIX, upstream, declared.fifo)))
        else:
            topics += [arn("sns", topic_name(PREFIX, upstream, fifo)) for fifo in (False, True)]
    return topics


def provisioning_needs(domain: str, federation: Federation = EXAMPLE) -> list[Need]:
    declaration = federation.domain(domain)
    needs: list[Need] = [("sns:ListTopics", "*", None)]
    if declaration.publishes:
        topic = own_topic(domain, federation)
        needs += [("sns:CreateTopic", topic, None), ("sns:TagResource", topic, None)]
    if declaration.subscribes:
        queue = own_queue(domain, federation)
        for resource in (queue, own_dlq(domain, federation)):
            for action in (
                "sqs:CreateQueue",
                "sqs:GetQueueUrl",
                "sqs:GetQueueAttributes",
                "sqs:SetQueueAttributes",
            ):
                needs.append((action, resource, None))
        needs += [(action, "*", None) for action in sorted(UNSCOPABLE - {"sns:ListTopics"})]
        needs += [("sns:Subscribe", t, subscribe_as(queue)) for t in upstream_topics(domain)]
    else:
        # provision looks for a queue left from earlier subscriptions, to retire it
        needs.append(("sqs:GetQueueUrl", own_queue(domain, federation), None))
    return needs


def operator_needs(domain: str, federation: Federation = EXAMPLE) -> list[Need]:
    """`dlq list|show|redrive|purge`: locate_queues, then scan, release, delete, send back."""
    queue, dlq = own_queue(domain, federation), own_dlq(domain, federation)
    needs: list[Need] = [
        ("sqs:GetQueueUrl", arn("sqs", queue_name(PREFIX, domain, False)), None),
        ("sqs:GetQueueUrl", queue, None),
        ("sqs:GetQueueUrl", dlq, None),
        ("sqs:SendMessage", queue, None),
    ]
    for action in (
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    ):
        needs.append((action, dlq, None))
    return needs


def needs_of(kind: Kind, domain: str) -> list[Need]:
    return {
        "runtime": runtime_needs,
        "provisioning": provisioning_needs,
        "operator": operator_needs,
    }[kind](domain)


def neighbour_resources(domain: str) -> list[str]:
    """Every other domain's topic, queue and DLQ, under both the standard and the FIFO name."""
    resources = []
    for other in DOMAINS:
        if other != domain:
            for fifo in (False, True):
                resources += [
                    arn("sns", topic_name(PREFIX, other, fifo)),
                    arn("sqs", queue_name(PREFIX, other, fifo)),
                    arn("sqs", dlq_name(PREFIX, other, fifo)),
                ]
    return resources


def federation_of(*declarations: dict[str, Any]) -> Federation:
    return build_federation(
        (f"<test:{d['domain']}>", DomainDeclaration.model_validate(d)) for d in declarations
    )


# -- what each domain needs is permitted ----------------------------------------------------------


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_runtime_policy_permits_every_call_the_domains_flows_and_listener_make(
    domain: str,
) -> None:
    policy = policy_of("runtime", domain)

    refused = [need for need in runtime_needs(domain) if not permitted(policy, *need)]

    assert refused == []


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_provisioning_policy_permits_every_call_provision_makes_for_the_domain(
    domain: str,
) -> None:
    policy = policy_of("provisioning", domain)

    refused = [need for need in provisioning_needs(domain) if not permitted(policy, *need)]

    assert refused == []


@pytest.mark.parametrize("domain", SUBSCRIBERS)
def test_the_operator_policy_permits_every_call_of_the_dlq_commands(domain: str) -> None:
    policy = policy_of("operator", domain)

    refused = [need for need in operator_needs(domain) if not permitted(policy, *need)]

    assert refused == []


# -- nothing on anyone else's resources ------------------------------------------------------------


@pytest.mark.parametrize(("domain", "kind"), [(d, k) for d in DOMAINS for k in KINDS_OF[d]])
def test_no_policy_permits_any_action_on_a_neighbours_topic_queue_or_dlq(
    domain: str, kind: Kind
) -> None:
    policy = policy_of(kind, domain)
    subscribable = set(upstream_topics(domain)) if kind == "provisioning" else set()
    own_endpoint = subscribe_as(own_queue(domain))

    allowed = [
        (action, resource)
        for resource in neighbour_resources(domain)
        for action in EVERY_ACTION
        # the one grant on a neighbour: subscribing its own queue to an upstream's topic
        if not (action == "sns:Subscribe" and resource in subscribable)
        and permitted(policy, action, resource, own_endpoint)
    ]

    assert allowed == []


@pytest.mark.parametrize("domain", [d for d in DOMAINS if EXAMPLE.domain(d).subscribes])
def test_the_provisioning_policy_subscribes_only_the_own_queue_and_only_over_sqs(
    domain: str,
) -> None:
    policy = policy_of("provisioning", domain)
    other_queues = [r for r in neighbour_resources(domain) if ":sqs:" in r]

    allowed = [
        (topic, conditions)
        for topic in upstream_topics(domain)
        for conditions in [subscribe_as(q) for q in other_queues]
        + [subscribe_as(own_queue(domain), protocol) for protocol in ("https", "lambda", "email")]
        if permitted(policy, "sns:Subscribe", topic, conditions)
    ]

    assert allowed == []


@pytest.mark.parametrize(("domain", "kind"), [(d, k) for d in DOMAINS for k in KINDS_OF[d]])
def test_no_policy_permits_its_own_names_in_another_account_region_partition_or_by_wildcard(
    domain: str, kind: Kind
) -> None:
    policy = policy_of(kind, domain)
    scoped = [(a, r, c) for a, r, c in needs_of(kind, domain) if r != "*"]
    assert scoped, "every domain's policy names at least one of its own resources"

    def variants(resource: str) -> list[str]:
        service, name = resource.split(":")[2], resource.rsplit(":", 1)[-1]
        return [
            arn(service, name, account=OTHER_ACCOUNT),
            arn(service, name, region="us-east-1"),
            arn(service, name, partition="aws-cn"),
            arn(service, "*"),
            arn(service, f"{name}-other"),
            f"arn:aws:{service}:*:*:{name}",
            "*",
        ]

    allowed = [
        (action, variant)
        for action, resource, conditions in scoped
        for variant in variants(resource)
        if permitted(policy, action, variant, conditions)
    ]

    assert allowed == []


# -- each policy only does its job ----------------------------------------------------------------


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_runtime_policy_cannot_create_reconfigure_delete_or_feed_its_own_resources(
    domain: str,
) -> None:
    policy = policy_of("runtime", domain)
    forbidden = [
        (action, own_topic(domain))
        for action in (
            "sns:CreateTopic",
            "sns:DeleteTopic",
            "sns:SetTopicAttributes",
            "sns:AddPermission",
            "sns:Subscribe",
        )
    ]
    for resource in (own_queue(domain), own_dlq(domain)):
        forbidden += [
            (action, resource)
            for action in (
                "sqs:CreateQueue",
                "sqs:SetQueueAttributes",
                "sqs:AddPermission",
                "sqs:DeleteQueue",
                "sqs:PurgeQueue",
                "sqs:StartMessageMoveTask",
            )
        ]
    forbidden += [
        ("sqs:SendMessage", own_queue(domain)),  # the listener never feeds its own queue
        ("sqs:ReceiveMessage", own_dlq(domain)),  # nor reads its DLQ (the operator does)
        ("sqs:DeleteMessage", own_dlq(domain)),
    ]

    assert [f for f in forbidden if permitted(policy, *f, subscribe_as(own_queue(domain)))] == []


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_provisioning_policy_cannot_publish_consume_or_delete(domain: str) -> None:
    policy = policy_of("provisioning", domain)
    forbidden = [
        ("sns:Publish", own_topic(domain)),
        ("sns:DeleteTopic", own_topic(domain)),
        ("sns:SetTopicAttributes", own_topic(domain)),
    ]
    for resource in (own_queue(domain), own_dlq(domain)):
        forbidden += [
            (action, resource)
            for action in (
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:SendMessage",
                "sqs:PurgeQueue",
                "sqs:DeleteQueue",
            )
        ]

    assert [f for f in forbidden if permitted(policy, *f)] == []


def test_a_domain_that_publishes_nothing_gets_no_sns_permission_at_run_time() -> None:
    # (every domain of the example publishes something now: its join or SLA alerts)
    federation = federation_of(
        {"domain": "up", "publishes": [{"type": "up.done"}]},
        {"domain": "down", "subscribes": [{"event": "up.done", "deployment": "f/d"}]},
    )
    actions = policy_of("runtime", "down", federation=federation).actions()

    assert actions, "it subscribes, so it has queue permissions"
    assert [a for a in actions if a.startswith("sns:")] == []


@pytest.mark.parametrize("domain", [d for d in DOMAINS if d not in SUBSCRIBERS])
def test_a_domain_that_subscribes_to_nothing_may_only_look_up_its_queue_name_to_retire_it(
    domain: str,
) -> None:
    runtime = policy_of("runtime", domain)
    provisioning = policy_of("provisioning", domain)

    assert [a for a in runtime.actions() if a.startswith("sqs:") or "Subscri" in a] == []
    assert [a for a in provisioning.actions() if a.startswith("sqs:") or "Subscri" in a] == [
        "sqs:GetQueueUrl"
    ]
    assert permitted(provisioning, "sqs:GetQueueUrl", own_queue(domain))
    assert not permitted(provisioning, "sqs:GetQueueAttributes", own_queue(domain))
    with pytest.raises(ConfigError, match=f"'{domain}' subscribes to nothing"):
        policy_of("operator", domain)


def test_retire_queue_lets_provision_unsubscribe_and_clear_the_queue_a_domain_no_longer_needs() -> (
    None
):
    federation = federation_of({"domain": "vendor", "publishes": [{"type": "vendor.sent"}]})
    default = policy_of("provisioning", "vendor", federation)
    retiring = policy_of("provisioning", "vendor", federation, retire_queue=True)
    queue = own_queue("vendor", federation)
    retire_calls = [
        ("sqs:GetQueueUrl", queue),
        ("sqs:GetQueueAttributes", queue),
        ("sqs:SetQueueAttributes", queue),
        ("sns:ListSubscriptions", "*"),
        ("sns:Unsubscribe", "*"),
    ]

    assert [c for c in retire_calls if not permitted(retiring, *c)] == []
    assert [c for c in retire_calls if permitted(default, *c)] == [("sqs:GetQueueUrl", queue)]
    assert not permitted(retiring, "sqs:CreateQueue", queue)
    assert not permitted(retiring, "sqs:SetQueueAttributes", own_dlq("vendor", federation))
    assert not permitted(retiring, "sns:Subscribe", own_topic("scoring"), subscribe_as(queue))


def test_a_domain_with_no_events_gets_no_runtime_policy_and_only_the_retiring_lookup() -> None:
    federation = federation_of({"domain": "idle"})

    with pytest.raises(ConfigError, match="'idle' neither publishes nor subscribes"):
        policy_of("runtime", "idle", federation)
    provisioning = policy_of("provisioning", "idle", federation)
    assert [(s.actions, s.resources) for s in provisioning.statements] == [
        (("sqs:GetQueueUrl",), (own_queue("idle", federation),))
    ]


def test_without_topic_lookup_the_runtime_policy_has_no_star_resource_and_still_publishes() -> None:
    policy = policy_of("runtime", "scoring", topic_lookup=False)

    assert [s.sid for s in policy.statements if "*" in s.resources] == []
    assert not permitted(policy, "sns:ListTopics", "*")
    assert permitted(policy, "sns:Publish", own_topic("scoring"))


@pytest.mark.parametrize("domain", SUBSCRIBERS)
def test_the_operator_policy_cannot_consume_the_listeners_queue_publish_or_reconfigure(
    domain: str,
) -> None:
    policy = policy_of("operator", domain)
    queue, dlq = own_queue(domain), own_dlq(domain)
    forbidden = [
        ("sqs:ReceiveMessage", queue),
        ("sqs:DeleteMessage", queue),
        ("sqs:ChangeMessageVisibility", queue),
        ("sqs:SendMessage", dlq),
        ("sqs:PurgeQueue", dlq),
        ("sqs:DeleteQueue", dlq),
        ("sqs:SetQueueAttributes", dlq),
        ("sqs:SetQueueAttributes", queue),
        ("sns:Publish", own_topic(domain)),
    ]

    assert [f for f in forbidden if permitted(policy, *f)] == []


def test_the_operator_of_a_fifo_domain_may_look_up_its_standard_queue_name_and_nothing_more() -> (
    None
):
    federation = federation_of(
        {"domain": "ledger", "fifo": True, "publishes": [{"type": "ledger.posted"}]},
        {
            "domain": "audit",
            "fifo": True,
            "subscribes": [{"event": "ledger.posted", "deployment": "audit/ledger"}],
        },
    )
    policy = policy_of("operator", "audit", federation)
    standard = arn("sqs", "federation-audit-inbox")

    assert permitted(policy, "sqs:GetQueueUrl", standard)
    assert permitted(policy, "sqs:SendMessage", arn("sqs", "federation-audit-inbox.fifo"))
    assert not permitted(policy, "sqs:SendMessage", standard)
    assert not permitted(policy, "sqs:ReceiveMessage", arn("sqs", "federation-audit-inbox-dlq"))


# -- names: FIFO, prefix, partition, undeclared upstreams ------------------------------------------


def test_a_fifo_domain_is_granted_its_fifo_names_only() -> None:
    federation = federation_of(
        {"domain": "ledger", "fifo": True, "publishes": [{"type": "ledger.posted"}]},
        {
            "domain": "audit",
            "fifo": True,
            "subscribes": [{"event": "ledger.posted", "deployment": "audit/ledger"}],
        },
    )
    runtime = policy_of("runtime", "audit", federation)
    provisioning = policy_of("provisioning", "audit", federation)
    queue = arn("sqs", "federation-audit-inbox.fifo")
    ledger_fifo = arn("sns", "federation-ledger.fifo")

    assert permitted(runtime, "sqs:ReceiveMessage", queue)
    assert permitted(runtime, "sqs:SendMessage", arn("sqs", "federation-audit-inbox-dlq.fifo"))
    assert not permitted(runtime, "sqs:ReceiveMessage", arn("sqs", "federation-audit-inbox"))
    assert permitted(provisioning, "sns:Subscribe", ledger_fifo, subscribe_as(queue))
    assert not permitted(
        provisioning, "sns:Subscribe", arn("sns", "federation-ledger"), subscribe_as(queue)
    )
    ledger = policy_of("runtime", "ledger", federation)
    assert permitted(ledger, "sns:Publish", ledger_fifo)
    assert not permitted(ledger, "sns:Publish", arn("sns", "federation-ledger"))


def test_the_name_prefix_of_the_settings_is_in_every_arn() -> None:
    policy = policy_of("runtime", "scoring", prefix="prod-")

    assert permitted(policy, "sns:Publish", arn("sns", "prod-scoring"))
    assert permitted(policy, "sqs:ReceiveMessage", arn("sqs", "prod-scoring-inbox"))
    assert not permitted(policy, "sns:Publish", arn("sns", "federation-scoring"))
    assert not permitted(policy, "sqs:ReceiveMessage", arn("sqs", "federation-scoring-inbox"))


def test_the_partition_follows_the_region() -> None:
    policy = policy_of("runtime", "scoring", region="cn-north-1")
    china = arn("sns", "federation-scoring", region="cn-north-1", partition="aws-cn")

    assert permitted(policy, "sns:Publish", china)
    assert not permitted(policy, "sns:Publish", china.replace("arn:aws-cn:", "arn:aws:"))


def test_an_undeclared_upstream_may_be_subscribed_under_its_standard_or_fifo_name_only() -> None:
    federation = federation_of(
        {
            "domain": "warehouse",
            "subscribes": [
                {
                    "event": "airflow.exported",
                    "source": "airflow",
                    "adapter": "raw",
                    "deployment": "import/table",
                }
            ],
        }
    )
    policy = policy_of("provisioning", "warehouse", federation)
    mine = subscribe_as(own_queue("warehouse", federation))

    assert permitted(policy, "sns:Subscribe", arn("sns", "federation-airflow"), mine)
    assert permitted(policy, "sns:Subscribe", arn("sns", "federation-airflow.fifo"), mine)
    assert not permitted(policy, "sns:Subscribe", arn("sns", "federation-vendor"), mine)
    assert domain_arns(federation, "warehouse", settings(), ACCOUNT, REGION).upstream_topics == (
        arn("sns", "federation-airflow"),
        arn("sns", "federation-airflow.fifo"),
    )


# -- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("account", "region", "expected"),
    [
        ("12345678901", REGION, "account_id"),
        ("12345678901a", REGION, "account_id"),
        (ACCOUNT, "Europe", "region"),
        (ACCOUNT, "xx-nowhere-1", "unknown AWS region 'xx-nowhere-1'"),
    ],
)
def test_a_malformed_account_or_unknown_region_is_a_config_error_naming_it(
    account: str, region: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        runtime_policy(EXAMPLE, "scoring", settings(), account, region)


def test_an_undeclared_domain_is_a_config_error_listing_the_declared_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown domain 'billing'.*scoring"):
        provisioning_policy(EXAMPLE, "billing", settings(), ACCOUNT, REGION)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"actions": ("sqs:*",), "resources": ("arn:aws:sqs:eu-west-1:1:q",)}, "without wildcards"),
        ({"actions": ("sqs:Receive*",), "resources": ("arn:aws:sqs:eu-west-1:1:q",)}, "wildcards"),
        ({"actions": ("sns:Publish",), "resources": ("*",)}, "these have them: sns:Publish"),
        ({"actions": ("sns:Publish",), "resources": ("arn:aws:sns:*:1:t",)}, "no wildcards"),
        ({"sid": "Has Space", "actions": ("sns:Publish",), "resources": ("x",)}, "alphanumeric"),
    ],
)
def test_a_statement_with_a_wildcard_or_a_bad_sid_cannot_be_built(
    fields: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ValueError, match=expected):
        PolicyStatement(**{"sid": "Test", **fields})


# -- the documents themselves ----------------------------------------------------------------------


def every_document() -> list[tuple[str, str, dict[str, Any]]]:
    documents = []
    for domain in DOMAINS:
        for kind in KINDS_OF[domain]:
            documents.append((domain, kind, policy_of(kind, domain).to_dict()))
        if domain not in SUBSCRIBERS:
            retiring = policy_of("provisioning", domain, retire_queue=True)
            documents.append((domain, "provisioning", retiring.to_dict()))
    return documents


@pytest.mark.parametrize(("domain", "kind", "document"), every_document())
def test_every_document_is_iam_json_with_unique_sids_explicit_actions_and_star_where_unscopable(
    domain: str, kind: str, document: dict[str, Any]
) -> None:
    assert set(document) == {"Version", "Statement"}
    assert document["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in document["Statement"]]
    assert len(sids) == len(set(sids))
    assert all(sid.isalnum() for sid in sids)
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in statement["Action"])
        if "*" in statement["Resource"]:
            assert statement["Resource"] == ["*"]
            assert set(statement["Action"]) <= UNSCOPABLE
        else:
            assert all("*" not in resource for resource in statement["Resource"])


def test_the_sids_of_the_three_kinds_differ_so_their_documents_can_be_merged() -> None:
    sids = [
        {s.sid for s in policy_of(kind, "scoring").statements}
        for kind in ("runtime", "provisioning", "operator")
    ] + [{s.sid for s in policy_of("provisioning", "vendor", retire_queue=True).statements}]

    assert all(len(sids[i] & sids[j]) == 0 for i in range(3) for j in range(i + 1, 3))
    assert sids[3] & (sids[0] | sids[2]) == set()


# -- against AWS's own action catalogue, and a linter (parliament) --------------------------------


def _parliament() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # parliament imports the deprecated pkg_resources
        return pytest.importorskip("parliament")


def test_star_is_given_exactly_to_the_actions_aws_defines_without_resource_types() -> None:
    parliament = _parliament()
    catalogue = json.loads(Path(parliament.iam_definition_path).read_text())
    resource_types = {
        f"{service['prefix']}:{privilege['privilege']}": {
            r["resource_type"].rstrip("*") for r in privilege["resource_types"]
        }
        - {""}
        for service in catalogue
        if service["prefix"] in ("sns", "sqs", "dynamodb")
        for privilege in service["privileges"]
    }
    expected_type = {"sns": "topic", "sqs": "queue", "dynamodb": "table"}
    wrong = []
    for _, _, document in every_document():
        for statement in document["Statement"]:
            for action in statement["Action"]:
                expected = {expected_type[action.split(":")[0]]}
                scopable = resource_types[action]
                if statement["Resource"] == ["*"] and scopable:
                    wrong.append((action, "given '*' but AWS scopes it to", scopable))
                if statement["Resource"] != ["*"] and not expected <= scopable:
                    wrong.append((action, "given an ARN but AWS scopes it to", scopable))

    assert wrong == []
    assert {a for a, types in resource_types.items() if not types} >= UNSCOPABLE


@pytest.mark.parametrize(("domain", "kind", "document"), every_document())
def test_parliament_finds_nothing_but_the_documented_permissions_management_of_provisioning(
    domain: str, kind: str, document: dict[str, Any]
) -> None:
    parliament = _parliament()

    findings = parliament.analyze_policy_string(
        json.dumps(document), include_community_auditors=True
    ).findings

    reported = [(f.issue, sorted(f.location.get("actions", []))) for f in findings]
    if kind != "provisioning":
        assert reported == []
    else:
        # Documented: CreateQueue, CreateTopic and SetQueueAttributes can set a resource policy
        # (provision writes each queue's policy), so AWS classes them "Permissions management".
        assert [issue for issue, _ in reported] in ([], ["PERMISSIONS_MANAGEMENT_ACTIONS"])
        for _, actions in reported:
            assert set(actions) <= {"sqs:createqueue", "sqs:setqueueattributes", "sns:createtopic"}


# -- the CLI, with the account and region given (no AWS call) -------------------------------------


@pytest.fixture
def cli() -> typer.Typer:
    """`iam-policy` on an app of its own, as `cli.py` registers it."""
    app = typer.Typer()
    app.command("iam-policy")(iam_policy)

    @app.callback()
    def _root() -> None:
        """Make `iam-policy` a subcommand, as on the real app."""

    return app


def run_cli(cli: typer.Typer, *args: str, archive: bool = False) -> Any:
    arguments = ["iam-policy", "-d", str(DEPLOYMENTS), "--account-id", ACCOUNT, "--region", REGION]
    if not archive:
        arguments.append("--no-archive")
    return CliRunner().invoke(cli, [*arguments, *args])


def test_by_default_the_cli_lets_a_publisher_archive_only_under_its_own_topic(
    cli: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_FEDERATION_NAME_PREFIX", raising=False)

    result = run_cli(cli, "--domain", "scoring", archive=True)

    assert result.exit_code == 0, result.output
    statements = {s["Sid"]: s for s in json.loads(result.stdout)["Statement"]}
    assert statements["ArchiveOwnEvents"]["Action"] == ["s3:PutObject"]
    assert statements["ArchiveOwnEvents"]["Resource"] == [
        "arn:aws:s3:::federation-event-archive/federation-scoring/*"
    ]


def test_the_cli_prints_the_runtime_policy_by_default(
    cli: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_FEDERATION_NAME_PREFIX", raising=False)

    result = run_cli(cli, "--domain", "scoring")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == policy_of("runtime", "scoring").to_dict()


def test_the_cli_prints_both_policies_keyed_by_kind_with_the_runtime_options(
    cli: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_FEDERATION_NAME_PREFIX", raising=False)

    result = run_cli(cli, "--domain", "scoring", "--kind", "both", "--no-topic-lookup")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "runtime": policy_of("runtime", "scoring", topic_lookup=False).to_dict(),
        "provisioning": policy_of("provisioning", "scoring").to_dict(),
    }


@pytest.mark.parametrize(
    ("args", "kind", "domain", "options"),
    [
        (["--kind", "operator"], "operator", "reporting", {}),
        (
            ["--kind", "provisioning", "--retire-queue"],
            "provisioning",
            "vendor",
            {"retire_queue": True},
        ),
    ],
)
def test_the_cli_prints_the_operator_policy_and_the_retiring_provisioning_policy(
    cli: typer.Typer,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    kind: Kind,
    domain: str,
    options: dict[str, Any],
) -> None:
    monkeypatch.delenv("PREFECT_FEDERATION_NAME_PREFIX", raising=False)

    result = run_cli(cli, "--domain", domain, *args)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == policy_of(kind, domain, **options).to_dict()


def test_the_cli_uses_the_name_prefix_from_the_environment(
    cli: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_FEDERATION_NAME_PREFIX", "prod-")

    result = run_cli(cli, "--domain", "reporting", "--kind", "provisioning")

    assert result.exit_code == 0, result.output
    assert (
        json.loads(result.stdout)
        == policy_of("provisioning", "reporting", prefix="prod-").to_dict()
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--domain", "billing"], "unknown domain 'billing'"),
        (["--domain", "scoring", "--account-id", "42"], "account_id"),
        (["--domain", "vendor", "--kind", "operator"], "'vendor' subscribes to nothing"),
    ],
)
def test_the_cli_exits_2_with_the_reason_on_a_bad_domain_or_account(
    cli: typer.Typer, args: list[str], expected: str
) -> None:
    result = run_cli(cli, *args)

    assert result.exit_code == 2
    assert expected in " ".join(result.stderr.split())
    assert result.stdout == ""


def test_with_the_archive_a_subscriber_may_record_and_replay_only_its_own_skipped_events() -> None:
    bucket = "federation-event-archive"
    runtime = policy_of("runtime", "reporting", archive_bucket=bucket)
    operator = policy_of("operator", "reporting", archive_bucket=bucket)
    own = f"arn:aws:s3:::{bucket}/skipped/reporting/write-risk-report+reporting/2026/12/02/x.json"
    neighbours = f"arn:aws:s3:::{bucket}/skipped/scoring/score-customers+scoring/2026/12/02/x.json"

    assert permitted(runtime, "s3:PutObject", own)  # a paused (skip) subscription records
    assert not permitted(runtime, "s3:PutObject", neighbours)
    assert not permitted(runtime, "s3:GetObject", own)  # the listener never reads them back
    for action in ("s3:GetObject", "s3:DeleteObject"):  # replay --skipped reads, then deletes
        assert permitted(operator, action, own)
        assert not permitted(operator, action, neighbours)
    listing = {s["Sid"]: s for s in operator.to_dict()["Statement"]}["ListOwnSkippedEvents"]
    assert listing["Resource"] == [f"arn:aws:s3:::{bucket}"]  # moto does not evaluate conditions
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "skipped/reporting/*"}}
    assert not permitted(operator, "s3:PutObject", own)
