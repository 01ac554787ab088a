"""The generated policies against the calls the code really makes: every AWS call of `provision`
(one domain) and of a domain's publisher and listener queue is recorded on moto server, turned into
(IAM action, resource ARN, condition values) and evaluated by moto's IAM policy evaluator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

import prefect_federation.connect as connect
from prefect_federation.declarations import (
    DomainDeclaration,
    Federation,
    build_federation,
    load_federation,
)
from prefect_federation.dlq import (
    list_dead_letters,
    locate_queues,
    purge,
    queue_depth,
    redrive,
)
from prefect_federation.iam import (
    PolicyDocument,
    operator_policy,
    provisioning_policy,
    runtime_policy,
)
from prefect_federation.provision import provision
from prefect_federation.queue_admin import SqsQueueAdmin
from prefect_federation.settings import FederationSettings
from prefect_federation.testing import make_event

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"  # moto's
REGION = "us-east-1"  # tests/conftest.py's aws_env
EXAMPLE = load_federation(Path(__file__).resolve().parents[2] / "deployments")

Call = tuple[str, str, dict[str, str] | None]  # (IAM action, resource, condition values)


def _queue_arn(url: str) -> str:
    account, name = urlparse(url).path.strip("/").split("/")[-2:]
    return f"arn:aws:sqs:{REGION}:{account}:{name}"


# SQS authorizes a batch call as its single-message action
BATCH_ACTIONS = {
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
    "DeleteMessageBatch": "DeleteMessage",
    "SendMessageBatch": "SendMessage",
}


def as_iam_call(service: str, operation: str, params: dict[str, Any]) -> Call:
    """What IAM authorizes for one API call: the action, the resource, the condition values."""
    action = f"{service}:{BATCH_ACTIONS.get(operation, operation)}"
    if "TableName" in params:
        return action, f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{params['TableName']}", None
    if "QueueUrl" in params:
        return action, _queue_arn(params["QueueUrl"]), None
    if "QueueName" in params:
        account = params.get("QueueOwnerAWSAccountId", ACCOUNT)
        return action, f"arn:aws:sqs:{REGION}:{account}:{params['QueueName']}", None
    if operation == "CreateTopic":
        return action, f"arn:aws:sns:{REGION}:{ACCOUNT}:{params['Name']}", None
    if operation == "Subscribe":
        conditions = {"sns:Endpoint": params["Endpoint"], "sns:Protocol": params["Protocol"]}
        return action, params["TopicArn"], conditions
    if "TopicArn" in params:
        return action, params["TopicArn"], None
    if "SubscriptionArn" in params:
        return action, params["SubscriptionArn"], None
    return action, "*", None


class Recorder:
    """Records every API call of the clients it watches."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def watch(self, client: Any) -> Any:
        service = client.meta.service_model.service_name

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            self.calls.append(as_iam_call(service, model.name, params))

        client.meta.events.register("provide-client-params", record)
        return client

    def client(self, service: str, endpoint: str) -> Any:
        return self.watch(boto3.client(service, region_name=REGION, endpoint_url=endpoint))

    def refused_by(self, policy: PolicyDocument) -> list[Call]:
        evaluator = IAMPolicy(policy.to_json())
        return [
            call
            for call in self.calls
            if evaluator.is_action_permitted(call[0], call[1], incoming_condition_values=call[2])
            != PermissionResult.PERMITTED
        ]

    def actions(self) -> set[str]:
        return {action for action, _, _ in self.calls}

    def pairs(self) -> set[tuple[str, str]]:
        return {(action, resource) for action, resource, _ in self.calls}


def granted(policy: PolicyDocument) -> set[tuple[str, str]]:
    """Every (action, resource) the policy names."""
    return {
        (action, resource)
        for statement in policy.statements
        for action in statement.actions
        for resource in statement.resources
    }


def federation_of(*declarations: DomainDeclaration) -> Federation:
    return build_federation((f"<test:{d.domain}>", d) for d in declarations)


@pytest.fixture
def settings(name_prefix: str) -> FederationSettings:
    return FederationSettings(name_prefix=name_prefix)


@pytest.fixture
def upstreams_provisioned(sns: Any, sqs: Any, settings: FederationSettings) -> None:
    """vendor -> ingestion -> customer-master, provisioned with moto's unrestricted credentials:
    the topics `scoring` subscribes to exist, as they would when those domains deployed first."""
    upstream = federation_of(
        *(EXAMPLE.domain(d) for d in ("vendor", "ingestion", "customer-master"))
    )
    provision(upstream, sns, sqs, settings)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def test_every_call_provision_makes_for_one_domain_is_permitted_by_its_provisioning_policy(
    aws_env: str,
    upstreams_provisioned: None,
    sns: Any,
    settings: FederationSettings,
    recorder: Recorder,
) -> None:
    scoring = EXAMPLE.domain("scoring")
    # first deploy: scoring also listens to ingestion.completed (two upstream topics)
    extended = scoring.model_dump(by_alias=True, exclude_none=True)
    extended["subscribes"].append({"event": "ingestion.completed", "deployment": "audit/scoring"})
    first = federation_of(DomainDeclaration.model_validate(extended))
    rec_sns, rec_sqs = recorder.client("sns", aws_env), recorder.client("sqs", aws_env)
    provision(first, rec_sns, rec_sqs, settings)
    refused_first = recorder.refused_by(
        provisioning_policy(first, "scoring", settings, ACCOUNT, REGION)
    )
    first_actions = recorder.actions()

    # drift, then the second deploy: ingestion.completed dropped, visibility timeout changed
    [subscription] = [
        s
        for s in sns.list_subscriptions()["Subscriptions"]
        if s["Endpoint"].endswith(f":{settings.name_prefix}scoring-inbox")
        and s["TopicArn"].endswith(f":{settings.name_prefix}customer-master")
    ]
    sns.set_subscription_attributes(
        SubscriptionArn=subscription["SubscriptionArn"],
        AttributeName="RawMessageDelivery",
        AttributeValue="false",
    )
    recorder.calls.clear()
    second_settings = settings.model_copy(update={"visibility_timeout": 90})
    second = federation_of(scoring)
    report = provision(second, rec_sns, rec_sqs, second_settings)
    refused_second = recorder.refused_by(
        provisioning_policy(second, "scoring", second_settings, ACCOUNT, REGION)
    )

    assert refused_first == []
    assert refused_second == []
    assert {"removed", "updated"} <= {action for action, _, _ in report.actions}
    exercised = first_actions | recorder.actions()
    granted = provisioning_policy(first, "scoring", settings, ACCOUNT, REGION).actions()
    # every granted action was needed; sns:TagResource is implied by create_topic(Tags=...)
    assert granted - {"sns:TagResource"} == exercised


def test_every_call_of_the_domains_publisher_and_listener_queue_is_permitted_by_its_runtime_policy(
    aws_env: str,
    upstreams_provisioned: None,
    sns: Any,
    sqs: Any,
    settings: FederationSettings,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    federation = federation_of(EXAMPLE.domain("scoring"))
    provision(federation, sns, sqs, settings)
    real_aws_client = connect.aws_client
    monkeypatch.setattr(connect, "aws_client", lambda *args: recorder.watch(real_aws_client(*args)))

    publisher = connect.open_publisher("scoring", settings)
    publisher.publish(make_event("scoring.completed", {"region": "north"}))
    queue = connect.open_queue(federation.domain("scoring"), settings)
    sqs.send_message(QueueUrl=queue.queue_url, MessageBody=json.dumps({"not": "an envelope"}))
    [message] = queue.receive(10, 1)
    queue.extend_visibility(message, 30)
    queue.dead_letter(message, "not an envelope")
    queue.delete(message)

    policy = runtime_policy(federation, "scoring", settings, ACCOUNT, REGION)
    assert recorder.refused_by(policy) == []
    # and nothing granted goes unused: every (action, resource) of the policy was exercised
    assert granted(policy) == recorder.pairs()


def test_a_neighbours_recorded_provisioning_calls_are_refused_by_the_domains_policies(
    aws_env: str,
    upstreams_provisioned: None,
    sns: Any,
    sqs: Any,
    settings: FederationSettings,
    recorder: Recorder,
) -> None:
    """The other way round, on real calls: everything `provision` does for `reporting` is refused
    by `scoring`'s policies, except listing (which names no resource)."""
    provision(federation_of(EXAMPLE.domain("scoring")), sns, sqs, settings)
    reporting = federation_of(EXAMPLE.domain("reporting"))
    provision(
        reporting,
        recorder.client("sns", aws_env),
        recorder.client("sqs", aws_env),
        settings,
        dynamodb=recorder.client("dynamodb", aws_env),  # its join table: refused too
    )
    both = federation_of(EXAMPLE.domain("scoring"), EXAMPLE.domain("reporting"))
    listing = {"sns:ListTopics", "sns:ListSubscriptions"}

    for build in (provisioning_policy, runtime_policy):
        policy = build(both, "scoring", settings, ACCOUNT, REGION)
        refused = recorder.refused_by(policy)
        permitted = [call for call in recorder.calls if call not in refused]

        assert {action for action, _, _ in permitted} <= listing, build.__name__
    assert {"sqs:CreateQueue", "sqs:SetQueueAttributes", "sns:Subscribe"} <= recorder.actions()


def test_provisioning_a_publish_only_domain_is_permitted_and_uses_every_grant(
    aws_env: str, settings: FederationSettings, recorder: Recorder
) -> None:
    vendor = federation_of(EXAMPLE.domain("vendor"))

    report = provision(
        vendor, recorder.client("sns", aws_env), recorder.client("sqs", aws_env), settings
    )

    policy = provisioning_policy(vendor, "vendor", settings, ACCOUNT, REGION)
    assert ("created", "sns topic", f"{settings.name_prefix}vendor") in report.actions
    assert recorder.refused_by(policy) == []
    # GetQueueUrl of its queue name: provision looks for a queue to retire
    assert (
        granted(policy)
        - {("sns:TagResource", f"arn:aws:sns:{REGION}:{ACCOUNT}:{settings.name_prefix}vendor")}
        == recorder.pairs()
    )


def test_retiring_the_queue_of_a_domain_that_stopped_subscribing_needs_retire_queue(
    aws_env: str,
    upstreams_provisioned: None,
    sns: Any,
    sqs: Any,
    settings: FederationSettings,
    recorder: Recorder,
) -> None:
    provision(federation_of(EXAMPLE.domain("scoring")), sns, sqs, settings)
    publish_only = federation_of(EXAMPLE.domain("scoring").model_copy(update={"subscribes": []}))

    report = provision(
        publish_only, recorder.client("sns", aws_env), recorder.client("sqs", aws_env), settings
    )

    def policy(retire_queue: bool) -> PolicyDocument:
        return provisioning_policy(
            publish_only, "scoring", settings, ACCOUNT, REGION, retire_queue=retire_queue
        )

    assert ("removed", "queue policy", "scoring") in report.actions
    assert recorder.refused_by(policy(retire_queue=True)) == []
    refused = {action for action, _, _ in recorder.refused_by(policy(retire_queue=False))}
    assert {"sqs:GetQueueAttributes", "sns:Unsubscribe"} <= refused


def test_every_call_of_the_dlq_commands_is_permitted_by_the_operator_policy_and_uses_every_grant(
    aws_env: str,
    upstreams_provisioned: None,
    sns: Any,
    sqs: Any,
    settings: FederationSettings,
    recorder: Recorder,
) -> None:
    federation = federation_of(EXAMPLE.domain("scoring"))
    provision(federation, sns, sqs, settings)
    listener_queue = connect.open_queue(federation.domain("scoring"), settings)
    for number in range(2):
        sqs.send_message(QueueUrl=listener_queue.queue_url, MessageBody=f"bad body {number}")
    for message in listener_queue.receive(10, 1):
        listener_queue.dead_letter(message, "not an envelope")
        listener_queue.delete(message)
    rec_sqs = recorder.client("sqs", aws_env)

    admin = SqsQueueAdmin(rec_sqs)
    queues = locate_queues(admin, settings.name_prefix, "scoring")
    letters = list_dead_letters(admin, queues.dlq_url)
    assert queue_depth(admin, queues.dlq_url) == 2
    redriven = redrive(admin, queues.dlq_url, queues.queue_url, [letters[0].message_id])
    purged = purge(admin, queues.dlq_url)

    assert len(letters) == 2
    assert len(redriven.done) == 1
    assert len(purged.done) == 1
    policy = operator_policy(federation, "scoring", settings, ACCOUNT, REGION)
    assert recorder.refused_by(policy) == []
    assert granted(policy) == recorder.pairs()


def test_the_join_tables_calls_of_provision_and_the_listener_are_exactly_what_is_granted(
    aws_env: str, sns: Any, sqs: Any, settings: FederationSettings, recorder: Recorder
) -> None:
    from datetime import UTC, datetime, timedelta

    from prefect_federation.joins.coordinator import JoinCoordinator
    from prefect_federation.joins.dynamodb import DynamoJoinStore
    from prefect_federation.listener.pipeline import plan_message
    from prefect_federation.naming import join_table_name
    from prefect_federation.publisher import InMemoryPublisher

    upstream = ("vendor", "ingestion", "customer-master", "scoring")
    provision(federation_of(*(EXAMPLE.domain(d) for d in upstream)), sns, sqs, settings)
    reporting = federation_of(EXAMPLE.domain("reporting"))
    dynamodb = recorder.client("dynamodb", aws_env)
    provision(reporting, sns, sqs, settings, dynamodb=dynamodb)
    provisioning = provisioning_policy(reporting, "reporting", settings, ACCOUNT, REGION)
    refused_provisioning = recorder.refused_by(provisioning)
    provision_pairs = recorder.pairs()
    recorder.calls.clear()

    now = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    store = DynamoJoinStore(dynamodb, join_table_name(settings.name_prefix, "reporting"))
    coordinator = JoinCoordinator(
        reporting.domain("reporting"), store, InMemoryPublisher(), clock=lambda: now
    )
    store.check()
    data = {
        "snapshot_date": "2026-11-23",
        "region": "north",
        "batch_id": "b",
        "scores_path": "s.csv",
        "high_risk": 1,
        "master_path": "m.csv",
    }
    for event_type in ("scoring.completed", "customer-master.completed"):
        body = make_event(event_type, data).to_json()
        plan = plan_message(body, reporting.domain("reporting"))
        coordinator.complete(plan)  # the second completes the join: a run is asked for
    store.mark_started(store.joins()[0].item_id, "run-1")
    coordinator.complete(plan_message(body, reporting.domain("reporting")))  # a late one
    lonely = make_event("scoring.completed", {**data, "region": "south"}).to_json()
    coordinator.complete(plan_message(lonely, reporting.domain("reporting")))
    now += timedelta(hours=7)
    assert [e.type for e in coordinator.tick()] == ["reporting.join.expired"]
    runtime = runtime_policy(reporting, "reporting", settings, ACCOUNT, REGION)

    def table_pairs(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
        return {pair for pair in pairs if pair[0].startswith("dynamodb:")}

    assert refused_provisioning == []
    assert table_pairs(granted(provisioning)) == table_pairs(provision_pairs)
    assert recorder.refused_by(runtime) == []
    assert table_pairs(granted(runtime)) == table_pairs(recorder.pairs())
