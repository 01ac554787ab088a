"""AWS clients from blocks share one botocore data loader; the process gives freed heap back."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest
from prefect_aws import AwsCredentials

from prefect_federation import aws
from prefect_federation.memory import release_free_memory


def _credentials() -> AwsCredentials:
    return AwsCredentials(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )


def test_clients_of_new_sessions_share_one_loader_and_parse_a_model_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(aws, "_loader", None)
    first = aws.aws_client(_credentials(), "sns")
    second = aws.aws_client(_credentials(), "sns")  # a block loaded again: a new boto3 session

    assert aws._loader is not None
    assert first._loader is second._loader is aws._loader
    assert first.meta.service_model.service_name == "sns"
    assert second.meta.region_name == "us-east-1"


def test_the_environments_sessions_share_it_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws, "_loader", None)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    first = aws.aws_client(None, "sqs")
    second = aws.aws_client(_credentials(), "sqs")

    assert first._loader is second._loader


def test_warming_parses_the_models_before_a_client_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws, "_loader", None)
    aws.warm_service_models(["sns", "no-such-service"])  # an unknown one is skipped

    assert aws._loader is not None
    cached = aws._loader.load_service_model.__self__._cache  # botocore's instance_cache
    assert any("sns" in key for key in map(str, cached))
    assert aws.aws_client(_credentials(), "sns")._loader is aws._loader


def test_releasing_free_memory_works_where_glibc_is_and_repeats() -> None:
    expected = sys.platform.startswith("linux")
    assert release_free_memory() is expected
    assert release_free_memory() is expected


@pytest.mark.parametrize("publishes", [True, False])
def test_a_fork_server_whose_flows_publish_imports_what_publishing_needs(publishes: bool) -> None:
    """...before its children fork, so a run does not import prefect-aws and parse the SNS and
    S3 models itself (~0.7 s of a run here); flows that do not publish do not pay for it."""
    script = textwrap.dedent(
        f"""
        import json, sys
        if {publishes}:
            import prefect_federation.publishing
        from prefect_federation import aws, forkserver
        forkserver._warm_imports()
        print(json.dumps(["prefect_aws" in sys.modules, aws._loader is not None]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "PREFECT_API_URL": "http://127.0.0.1:9/api",
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        },
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == (
        "[true, true]" if publishes else "[false, false]"
    )


def test_a_session_with_its_own_model_path_keeps_its_own_loader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(aws, "_loader", None)
    shared = aws.aws_client(_credentials(), "sns")._loader
    monkeypatch.setenv("AWS_DATA_PATH", "/nonexistent/models")

    own = aws.aws_client(_credentials(), "sns")._loader

    assert own is not shared


def test_a_lazy_client_is_made_on_first_use_once_for_every_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[str] = []
    real = aws.aws_client

    def counting(credentials: AwsCredentials | None, service: str) -> object:
        made.append(service)
        return real(credentials, service)

    monkeypatch.setattr(aws, "aws_client", counting)
    lazy = aws.LazyAwsClient(_credentials(), "s3")
    assert not lazy.made  # nothing parsed yet
    assert made == []

    names: list[str] = []
    threads = [
        threading.Thread(target=lambda: names.append(lazy.meta.service_model.service_name))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert made == ["s3"]
    assert lazy.made
    assert names == ["s3"] * 8
    assert lazy.meta.region_name == "us-east-1"  # the block's region, read when it was made
    with pytest.raises(AttributeError):
        lazy._no_such_private_name  # noqa: B018  (private names are not the client's)
