"""The public API: one import path per name, `__all__` kept equal to what the package exports."""

from __future__ import annotations

import subprocess
import sys

import pytest

import prefect_federation


def test_all_lists_exactly_the_lazily_exported_names() -> None:
    assert sorted(prefect_federation.__all__) == sorted(prefect_federation._EXPORTS)


def test_every_public_name_resolves() -> None:
    for name in prefect_federation.__all__:
        assert getattr(prefect_federation, name) is not None, name


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        prefect_federation.NoSuchThing  # noqa: B018


def test_the_cli_and_declarations_import_without_prefect() -> None:
    code = (
        "import sys, prefect_federation.cli, prefect_federation.declarations, "
        "prefect_federation.connect; print('prefect' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
