"""An explanation as text: a rich Tree like `trace`'s, one sentence per subscription."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING

from prefect_federation.explain.models import DomainVerdict, EventExplanation, SubscriptionVerdict

if TYPE_CHECKING:
    from rich.tree import Tree

__all__ = ["render_explanation", "summary"]

STATUS_STYLE = {"ran": "green", "run-created": "yellow", "filtered": "dim"}


def summary(explanation: EventExplanation) -> str:
    """`3 matching subscription(s): 1 ran, 1 filtered out, 1 did not` (this event and every
    one below it)."""
    counts = {"ran": 0, "filtered": 0, "not": 0}

    def count(node: EventExplanation) -> None:
        for domain in node.domains:
            for sub in domain.subscriptions:
                if sub.outcome is None:
                    continue
                key = "filtered" if sub.outcome.status == "filtered" else "ran"
                counts[key if sub.outcome.ok else "not"] += 1
        for child in node.published:
            count(child)

    count(explanation)
    total = sum(counts.values())
    filtered = f", {counts['filtered']} filtered out" if counts["filtered"] else ""
    return (
        f"{total} matching subscription(s): {counts['ran']} ran{filtered}, {counts['not']} did not"
    )


def _event_label(node: EventExplanation) -> str:
    from rich.markup import escape

    if not node.found:
        return (
            f"[red]event {node.event_id} not found[/red]: not in the archive, and no run of it "
            "on any known server"
        )
    when = f" at {node.time.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z" if node.time else ""
    source = escape(node.source or "?")
    text = f"[bold]{escape(node.type or '?')}[/bold] {node.event_id} from {source}{when}"
    published = node.publication
    if published.archive_key:
        text += f"\n[dim]published: archived as {escape(published.archive_key)}[/dim]"
    else:
        text += "\n[yellow]not in the archive[/yellow] (known from its runs' labels; data unknown)"
    if published.run_id:
        link = f" {escape(published.run_url)}" if published.run_url else ""
        text += f"\n[dim]by run {published.run_id}{link}[/dim]"
    return text


def _subscription_label(sub: SubscriptionVerdict) -> str:
    from rich.markup import escape

    if not sub.matches:
        return f"[dim]{escape(sub.label)}: not for it: {escape(sub.reason or '')}[/dim]"
    assert sub.outcome is not None
    style = STATUS_STYLE.get(sub.outcome.status, "red")
    received = ""
    if sub.received is not None:
        received = " (received)" if sub.received else " (no received-event record)"
    return f"{escape(sub.label)}: [{style}]{escape(sub.outcome.sentence)}[/{style}]{received}"


def _domain_label(domain: DomainVerdict) -> str:
    from rich.markup import escape

    if not domain.delivered:
        return f"[dim]{escape(domain.domain)}: not delivered: {escape(domain.reason or '')}[/dim]"
    return f"[cyan]{escape(domain.domain)}[/cyan]"


def render_explanation(explanation: EventExplanation) -> Tree:
    """The event, every subscribing domain and subscription, then the events its runs published."""
    from rich.markup import escape
    from rich.tree import Tree

    tree = Tree(f"[bold]explain {explanation.event_id}[/bold]  {escape(summary(explanation))}")

    def add(parent: Tree, node: EventExplanation) -> None:
        branch = parent.add(_event_label(node))
        elsewhere = [d.domain for d in node.domains if not d.reads_topic]
        for domain in node.domains:
            if not domain.reads_topic:
                continue
            if not domain.delivered:
                branch.add(_domain_label(domain))
                continue
            domain_branch = branch.add(_domain_label(domain))
            for sub in domain.subscriptions:
                domain_branch.add(_subscription_label(sub))
        if elsewhere:
            topic = escape(node.source or "?")
            branch.add(
                f"[dim]not subscribed to {topic}'s topic: {escape(', '.join(elsewhere))}[/dim]"
            )
        for child in node.published:
            add(branch, child)
        for problem in node.problems:
            branch.add(f"[red]not read:[/red] {escape(problem)}")

    add(tree, explanation)
    return tree
