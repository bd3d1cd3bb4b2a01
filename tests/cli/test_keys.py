"""``homeport keys create|list|revoke`` against SQLite and PostgreSQL."""

from __future__ import annotations

import json

import openai
import pytest

from tests.cli.conftest import Invoke, RunCommand
from tests.support.servers import HomeportFactory


def test_create_list_revoke(invoke: Invoke) -> None:
    created = json.loads(invoke("keys", "create", "--name", "ci", "--admin", "--json").stdout)
    assert created["id"].startswith("key_")
    assert created["secret"].startswith("hp-")
    assert created["admin"] is True and created["project"] == "default"

    listed = json.loads(invoke("keys", "list", "--json").stdout)
    mine = next(k for k in listed if k["id"] == created["id"])
    assert mine["name"] == "ci" and mine["admin"] is True and mine["revoked_at"] is None
    assert created["secret"] not in json.dumps(listed)
    assert mine["redacted"] == f"{created['secret'][:6]}...{created['secret'][-4:]}"

    assert invoke("keys", "revoke", created["id"]).stdout.strip() == f"revoked {created['id']}"
    listed = json.loads(invoke("keys", "list", "--json").stdout)
    assert next(k for k in listed if k["id"] == created["id"])["revoked_at"] is not None


def test_plain_create_prints_only_the_secret(invoke: Invoke) -> None:
    output = invoke("keys", "create", "--project", "team-a").stdout.strip()
    assert output.startswith("hp-") and "\n" not in output
    listed = json.loads(invoke("keys", "list", "--json").stdout)
    assert [k["project"] for k in listed] == ["team-a"]


def test_table_output_lists_keys(invoke: Invoke) -> None:
    invoke("keys", "create", "--name", "reporting")
    assert "reporting" in invoke("keys", "list").stdout


def test_revoking_unknown_key_is_one_line_error(homeport_command: RunCommand) -> None:
    result = homeport_command("keys", "revoke", "key_missing")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: No API key with id 'key_missing': see 'homeport keys list'."
    )
    assert "Traceback" not in result.stderr


def test_created_key_works_and_revoked_key_is_refused(
    invoke: Invoke, homeport_server: HomeportFactory, blank_database_url: str
) -> None:
    secret = json.loads(invoke("keys", "create", "--json").stdout)
    server = homeport_server(database_url=blank_database_url)
    with openai.OpenAI(base_url=server.base_url, api_key=secret["secret"], max_retries=0) as sdk:
        assert sdk.beta.assistants.list().data == []
    invoke("keys", "revoke", secret["id"])
    fresh = homeport_server(database_url=blank_database_url)  # no cached key
    with (
        openai.OpenAI(base_url=fresh.base_url, api_key=secret["secret"], max_retries=0) as sdk,
        pytest.raises(openai.AuthenticationError),
    ):
        sdk.beta.assistants.list()
