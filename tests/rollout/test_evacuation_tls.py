"""The evacuation reaches an https side behind a private CA through ``managed_ca_file``."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import openai
import pytest
import trustme

import homeport.tls
from homeport.config import ConfigError, load_settings
from homeport.rollout.evacuate import Evacuator
from homeport.rollout.plan import Evacuation
from homeport.store.db import Database
from homeport.store.migrate import upgrade


class _Models(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"object": "list", "data": []}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def https_side(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An https server on 127.0.0.1 whose certificate comes from a throwaway CA: its base URL
    and the CA's PEM file."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    yield f"https://127.0.0.1:{server.server_address[1]}/v1", pem
    server.shutdown()
    server.server_close()


def _managed(
    settings: Evacuation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> openai.OpenAI:
    monkeypatch.setenv("HOMEPORT_MANAGED_API_KEY", "sk-managed")
    monkeypatch.setenv("HOMEPORT_GATEWAY_KEY", "hp-admin")
    db = Database(f"sqlite:///{tmp_path / 'state.db'}")
    evacuator = Evacuator.from_settings(db, "default", settings)
    db.dispose()
    return evacuator.chains.managed


def test_the_managed_sides_private_ca_is_trusted(
    https_side: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, pem = https_side
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    sides = {"managed_base_url": url, "homeport_base_url": "http://127.0.0.1:9/v1"}
    trusting = _managed(Evacuation(**sides, managed_ca_file=pem), tmp_path, monkeypatch)
    assert list(trusting.models.list()) == []
    refusing = _managed(Evacuation(**sides), tmp_path, monkeypatch).with_options(max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        refusing.models.list()


def test_unusable_tls_files_are_one_line_config_errors(tmp_path: Path) -> None:
    config = tmp_path / "homeport.toml"
    config.write_text(
        "[rollout.evacuation]\n"
        'managed_base_url = "https://api.example/v1"\n'
        f"managed_ca_file = '{tmp_path / 'missing.pem'}'\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert str(caught.value) == (
        f"setting 'rollout.evacuation': managed_ca_file {tmp_path / 'missing.pem'}: "
        "No such file or directory"
    )
    config.write_text(
        "[rollout.evacuation]\n"
        'homeport_base_url = "http://127.0.0.1:8080/v1"\n'
        f"homeport_ca_file = '{tmp_path / 'missing.pem'}'\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert str(caught.value).endswith("homeport_ca_file: only for an https:// base_url")


def test_a_renewed_ca_file_is_taken_by_a_running_evacuation(
    https_side: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, pem = https_side
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setattr(homeport.tls, "CHECK_SECONDS", 0.0)  # look at the files every time
    ca_file = tmp_path / "managed-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))  # not the CA the side's certificate is from
    settings = Evacuation(
        managed_base_url=url,
        homeport_base_url="http://127.0.0.1:9/v1",
        managed_ca_file=ca_file,
        settle_seconds=0,
    )
    monkeypatch.setenv("HOMEPORT_MANAGED_API_KEY", "sk-managed")
    monkeypatch.setenv("HOMEPORT_GATEWAY_KEY", "hp-admin")
    db = Database(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(db.engine)
    evacuator = Evacuator.from_settings(db, "default", settings)
    managed = evacuator.chains.managed.with_options(max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        managed.models.list()
    (tmp_path / "renewed.pem").write_bytes(pem.read_bytes())
    (tmp_path / "renewed.pem").replace(ca_file)  # renewed as cert-manager does: moved into place
    assert list(managed.models.list()) == []
    ca_file.write_text("-----BEGIN CERTIFICATE-----\n")  # a broken renewal: the previous stays
    assert list(managed.models.list()) == []
    # Counted for the audit log, where the evacuation's result goes (a command has no registry).
    result = evacuator.run()
    db.dispose()
    assert result.tls_reloads == {"managed": {"loaded": 1, "rejected": 1}}
    assert result.to_dict()["tls_reloads"] == {"managed": {"loaded": 1, "rejected": 1}}
