"""The docs say plainly that the `type` message attribute is required, and every snippet
that publishes to SNS sets it (SNS drops a message without it in silence: filter policies match
on it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PUBLISHES = re.compile(
    r"sns publish\b|\.publish\(\s*TopicArn|SnsPublishOperator\(|publish_to_target\("
)
SETS_TYPE = re.compile(
    r"""(MessageAttributes|message_attributes|--message-attributes)\W[^)]*?["']type["']""", re.S
)


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"^\s*```[\w-]*\n(.*?)^\s*```", text, re.S | re.M)


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_doc_calls_the_type_attribute_optional(doc: Path) -> None:
    hedged = [
        p
        for p in _paragraphs(doc.read_text())
        if re.search(r"`type`\W+(message )?attribute", p)
        and re.search(r"if you can|optional(ly)?\b[^.]*`type`|`type`[^.]*optional", p)
    ]
    assert hedged == []


def test_the_readme_says_the_type_attribute_is_required() -> None:
    text = " ".join((ROOT / "README.md").read_text().split())
    assert "The `type` message attribute is required" in text


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_sns_publish_snippet_in_the_docs_sets_the_type_attribute(doc: Path) -> None:
    blocks = [b for b in _code_blocks(doc.read_text()) if PUBLISHES.search(b)]
    untyped = [b for b in blocks if not SETS_TYPE.search(b)]
    assert untyped == []


def test_the_snippet_check_tells_a_typed_publish_from_an_untyped_one() -> None:
    typed = 'sns.publish(TopicArn=arn, Message=body, MessageAttributes={"type": {...}})'
    assert PUBLISHES.search(typed)
    assert SETS_TYPE.search(typed)
    untyped = "sns.publish(TopicArn=arn, Message=body)"
    assert PUBLISHES.search(untyped)
    assert not SETS_TYPE.search(untyped)


class _RecordingSns:
    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []

    def publish(self, **kwargs: object) -> dict[str, str]:
        self.calls.append(kwargs)
        return {"MessageId": "m-1"}


@pytest.mark.parametrize("topic", ["federation-vendor", "federation-vendor.fifo"])
def test_sns_publisher_always_sends_the_type_and_source_attributes(topic: str) -> None:
    """What `prefect-federation publish` and `publish_event` send through (`SnsPublisher`)."""
    from prefect_federation.events import EventEnvelope
    from prefect_federation.publisher import SnsPublisher

    sns = _RecordingSns()
    envelope = EventEnvelope(type="vendor.file-delivered", source="vendor", data={})

    SnsPublisher(sns, f"arn:aws:sns:us-east-1:123456789012:{topic}").publish(envelope)  # type: ignore[arg-type]

    [call] = sns.calls
    attributes = call["MessageAttributes"]
    assert attributes["type"] == {"DataType": "String", "StringValue": "vendor.file-delivered"}  # type: ignore[index]
    assert attributes["source"] == {"DataType": "String", "StringValue": "vendor"}  # type: ignore[index]
