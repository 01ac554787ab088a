"""The `JoinStore` on DynamoDB: one table per domain (`<prefix><domain>-joins`), key `pk`.

Every decision is one `UpdateItem` with a `ConditionExpression`; DynamoDB applies writes to an
item one at a time, so of two listeners racing for the same claim exactly one succeeds
(`ConditionalCheckFailedException` for the other). Times are stored as epoch seconds (numbers,
so conditions can compare them).

Item layout: a join `join#<subscription>#<key>` has `st` (open/started/expired), `sub`, `jkey`,
`first_at`, `expires_at`, one `arr:<type>` per arrived type (the first event's JSON), `run_id`
and `late` (a string set of `<type> <event id>`). An expectation instance
`sla#<type>#<day>#<value>` has `event`, `day`, `val`, `deadline`, `arrived_at`, `arrived_event`,
`missed_at`, `recovered_at`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from prefect_federation.errors import AwsThrottled, ConfigError
from prefect_federation.joins.models import (
    ArrivalResult,
    ExpectationInstance,
    JoinRecord,
    SlaRecord,
)
from prefect_federation.joins.store import (
    SlaClaim,
    event_id_of,
    late_entry,
    open_outcome,
    stored_already,
)

__all__ = ["TABLE_ACTIONS", "DynamoJoinStore", "ensure_table"]

TABLE_ACTIONS = (
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:Scan",
    "dynamodb:UpdateItem",
)
"""What a listener does with its table, and nothing else (the IAM runtime policy grants these)."""

_ARRIVAL = "arr:"


def _n(moment: datetime) -> dict[str, str]:
    return {"N": f"{moment.timestamp():.6f}"}


def _time(value: dict[str, str] | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(float(Decimal(value["N"])), UTC)


def _conditional_failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


class DynamoJoinStore:
    """Joins and expectations in one DynamoDB table (a boto3 `dynamodb` client)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    # -- plumbing ---------------------------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, operation)(TableName=self.table, **kwargs)
        except ClientError as exc:
            if _conditional_failed(exc):
                raise
            code = exc.response.get("Error", {}).get("Code")
            if code == "ResourceNotFoundException":
                raise ConfigError(
                    f"DynamoDB table {self.table!r} does not exist: run `prefect-federation "
                    "provision`"
                ) from exc
            raise AwsThrottled(f"DynamoDB {operation} on {self.table!r} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise AwsThrottled(f"DynamoDB {operation} on {self.table!r} failed: {exc}") from exc

    def _update(self, item_id: str, **kwargs: Any) -> dict[str, Any] | None:
        """An UpdateItem; None when its condition failed."""
        try:
            response = self._call("update_item", Key={"pk": {"S": item_id}}, **kwargs)
        except ClientError as exc:
            if _conditional_failed(exc):
                return None
            raise
        return dict(response.get("Attributes") or {})

    def _get(self, item_id: str) -> dict[str, Any]:
        response = self._call("get_item", Key={"pk": {"S": item_id}}, ConsistentRead=True)
        return dict(response.get("Item") or {})

    def _scan(self, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            page = self._call("scan", ConsistentRead=True, **kwargs, **extra)
            items.extend(page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                return items

    def check(self) -> None:
        """Raise ConfigError when the table does not exist (the listener's preflight)."""
        self._call("describe_table")

    # -- joins ------------------------------------------------------------------------------------

    @staticmethod
    def _join(item: dict[str, Any]) -> JoinRecord:
        arrivals = {
            name.removeprefix(_ARRIVAL): value["S"]
            for name, value in item.items()
            if name.startswith(_ARRIVAL)
        }
        return JoinRecord(
            item_id=item["pk"]["S"],
            subscription=item["sub"]["S"],
            key=item["jkey"]["S"],
            arrivals=arrivals,
            first_at=_time(item["first_at"]) or datetime.now(UTC),
            expires_at=_time(item["expires_at"]) or datetime.now(UTC),
            status=item["st"]["S"],
            run_id=item.get("run_id", {}).get("S"),
            late=sorted(item.get("late", {}).get("SS", [])),
        )

    def record_arrival(
        self,
        item_id: str,
        subscription: str,
        key: str,
        event_type: str,
        envelope_json: str,
        now: datetime,
        expires_at: datetime,
    ) -> ArrivalResult:
        event_id = event_id_of(envelope_json)
        attributes = self._update(
            item_id,
            UpdateExpression=(
                "SET #arr = if_not_exists(#arr, :env), #sub = if_not_exists(#sub, :sub), "
                "jkey = if_not_exists(jkey, :key), first_at = if_not_exists(first_at, :now), "
                "expires_at = if_not_exists(expires_at, :exp), st = if_not_exists(st, :open)"
            ),
            ConditionExpression="attribute_not_exists(pk) OR (st = :open AND expires_at > :now)",
            ExpressionAttributeNames={"#arr": _ARRIVAL + event_type, "#sub": "sub"},
            ExpressionAttributeValues={
                ":env": {"S": envelope_json},
                ":sub": {"S": subscription},
                ":key": {"S": key},
                ":now": _n(now),
                ":exp": _n(expires_at),
                ":open": {"S": "open"},
            },
            ReturnValues="ALL_NEW",
        )
        if attributes is not None:
            return open_outcome(self._join(attributes), event_type, event_id)
        record = self._join(self._get(item_id))
        if stored_already(record, event_type, event_id):
            return ArrivalResult(outcome="duplicate", record=record)
        attributes = self._update(
            item_id,
            UpdateExpression="ADD late :late",
            ExpressionAttributeValues={":late": {"SS": [late_entry(event_type, event_id)]}},
            ReturnValues="ALL_NEW",
        )
        return ArrivalResult(
            outcome="late", record=self._join(attributes) if attributes else record
        )

    def mark_started(self, item_id: str, run_id: str) -> None:
        self._update(
            item_id,
            UpdateExpression="SET st = :started, run_id = :run",
            ConditionExpression="st = :open",
            ExpressionAttributeValues={
                ":started": {"S": "started"},
                ":run": {"S": run_id},
                ":open": {"S": "open"},
            },
        )

    def expiry_candidates(self, now: datetime) -> list[JoinRecord]:
        items = self._scan(
            FilterExpression="st = :open AND expires_at <= :now",
            ExpressionAttributeValues={":open": {"S": "open"}, ":now": _n(now)},
        )
        return [self._join(item) for item in items]

    def claim_expiry(self, item_id: str, now: datetime, types: list[str]) -> bool:
        names = {f"#a{i}": _ARRIVAL + t for i, t in enumerate(types)}
        incomplete = " OR ".join(f"attribute_not_exists({n})" for n in names)
        attributes = self._update(
            item_id,
            UpdateExpression="SET st = :expired, expired_at = :now",
            ConditionExpression=f"st = :open AND expires_at <= :now AND ({incomplete})",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                ":expired": {"S": "expired"},
                ":open": {"S": "open"},
                ":now": _n(now),
            },
        )
        return attributes is not None

    def release_expiry(self, item_id: str) -> None:
        self._update(
            item_id,
            UpdateExpression="SET st = :open REMOVE expired_at",
            ConditionExpression="st = :expired",
            ExpressionAttributeValues={":open": {"S": "open"}, ":expired": {"S": "expired"}},
        )

    # -- expectations -----------------------------------------------------------------------------

    @staticmethod
    def _sla_item(item: dict[str, Any]) -> SlaRecord:
        return SlaRecord(
            item_id=item["pk"]["S"],
            event=item["event"]["S"],
            day=item["day"]["S"],
            value=None if item.get("val", {}).get("S", "*") == "*" else item["val"]["S"],
            deadline=_time(item.get("deadline")),
            arrived_at=_time(item.get("arrived_at")),
            arrived_event=item.get("arrived_event", {}).get("S"),
            missed_at=_time(item.get("missed_at")),
            recovered_at=_time(item.get("recovered_at")),
        )

    @staticmethod
    def _instance_values(instance: ExpectationInstance) -> dict[str, Any]:
        values: dict[str, Any] = {
            ":event": {"S": instance.event},
            ":day": {"S": instance.day.isoformat()},
            ":deadline": _n(instance.deadline),
            ":val": {"S": instance.value if instance.value is not None else "*"},
        }
        return values

    _DESCRIBE = (
        "#event = if_not_exists(#event, :event), #day = if_not_exists(#day, :day), "
        "deadline = if_not_exists(deadline, :deadline), val = if_not_exists(val, :val)"
    )
    _NAMES = {"#event": "event", "#day": "day"}

    def record_sla_arrival(
        self, instance: ExpectationInstance, now: datetime, event_id: str
    ) -> SlaRecord:
        attributes = self._update(
            instance.item_id,
            UpdateExpression=(
                f"SET {self._DESCRIBE}, arrived_at = if_not_exists(arrived_at, :now), "
                "arrived_event = if_not_exists(arrived_event, :id)"
            ),
            ExpressionAttributeNames=self._NAMES,
            ExpressionAttributeValues={
                **self._instance_values(instance),
                ":now": _n(now),
                ":id": {"S": event_id},
            },
            ReturnValues="ALL_NEW",
        )
        return self._sla_item(attributes or {})

    def claim_sla(self, instance: ExpectationInstance, what: SlaClaim, now: datetime) -> bool:
        if what == "missed":
            condition = "attribute_not_exists(arrived_at) AND attribute_not_exists(missed_at)"
            field = "missed_at"
        else:
            condition = (
                "attribute_exists(missed_at) AND attribute_exists(arrived_at) AND "
                "attribute_not_exists(recovered_at)"
            )
            field = "recovered_at"
        attributes = self._update(
            instance.item_id,
            UpdateExpression=f"SET {self._DESCRIBE}, {field} = :now",
            ConditionExpression=condition,
            ExpressionAttributeNames=self._NAMES,
            ExpressionAttributeValues={**self._instance_values(instance), ":now": _n(now)},
        )
        return attributes is not None

    def release_sla(self, item_id: str, what: SlaClaim) -> None:
        self._update(item_id, UpdateExpression=f"REMOVE {what}_at")

    def joins(self) -> list[JoinRecord]:
        items = self._scan(
            FilterExpression="begins_with(pk, :join)",
            ExpressionAttributeValues={":join": {"S": "join#"}},
        )
        return sorted((self._join(i) for i in items), key=lambda r: r.item_id)

    def expectations(self) -> list[SlaRecord]:
        items = self._scan(
            FilterExpression="begins_with(pk, :sla)",
            ExpressionAttributeValues={":sla": {"S": "sla#"}},
        )
        return sorted((self._sla_item(i) for i in items), key=lambda r: r.item_id)


def ensure_table(client: Any, table: str) -> str:
    """Create the table (on-demand billing, key `pk`) unless it exists; `created`/`unchanged`."""
    try:
        client.describe_table(TableName=table)
        return "unchanged"
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
    client.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
    return "created"
