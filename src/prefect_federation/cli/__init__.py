"""`prefect-federation`: the Typer app. Thin: each command parses its options and calls the library.

One module per command group; what they share (consoles, `fail`, settings, options) is in
`_common.py`:

| module | commands |
|---|---|
| `publish.py` | `publish` (and `--wait`, through `chain.py`) |
| `declarations.py` | `check`, `provision` |
| `contracts.py` | `contracts export`, and `check`'s contract checks (`--against`) |
| `listen.py` | `listen` (the wiring is `listener.service.run_listener`) |
| `demo.py` | `demo` |
| `dlq.py` | `dlq list|show|redrive|purge` |
| `status.py` | `status` |
| `chain.py` | `trace`, `alerts` |
| `explain.py` | `explain` |
| `pause.py` | `pause`, `resume` |
| `iam.py` | `iam-policy` |
| `replay.py` | `replay` |

Importing the app imports neither Prefect, prefect-aws nor SQLAlchemy (each costs seconds of
`publish`'s start-up): the commands import them inside their functions.
Exit codes: 0 done; 1 something asked for was not done (a chain failed, a domain is unhealthy);
2 usage or configuration error.
"""

from __future__ import annotations

import typer

from prefect_federation.cli.chain import alerts, trace
from prefect_federation.cli.contracts import contracts_app
from prefect_federation.cli.declarations import check, provision
from prefect_federation.cli.demo import demo
from prefect_federation.cli.dlq import dlq_app
from prefect_federation.cli.explain import explain
from prefect_federation.cli.iam import iam_policy
from prefect_federation.cli.listen import listen
from prefect_federation.cli.pause import pause, resume
from prefect_federation.cli.publish import publish
from prefect_federation.cli.replay import replay
from prefect_federation.cli.status import status
from prefect_federation.prefect_logs import hide_drain_progress

__all__ = ["app", "main"]

hide_drain_progress()  # Prefect's exit-time "Still processing items" note is not our output
app = typer.Typer(
    name="prefect-federation",
    help="Independent Prefect domains that talk only through events on SNS/SQS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(publish)
app.command()(check)
app.command()(provision)
app.command("iam-policy")(iam_policy)
app.add_typer(dlq_app, name="dlq")
app.add_typer(contracts_app, name="contracts")
app.command()(status)
app.command()(trace)
app.command()(explain)
app.command()(alerts)
app.command()(replay)
app.command()(pause)
app.command()(resume)
app.command()(listen)
app.command()(demo)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
