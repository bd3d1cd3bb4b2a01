"""A side's TLS files are checked when the gateway's config loads: one line naming the setting."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from homeport.config import ConfigError
from homeport.gateway.config import load_gateway_config


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def files(ca: trustme.CA, tmp_path: Path) -> dict[str, Path]:
    """PEM files: the CA, a client certificate, its key, both in one, and a stranger's key."""
    leaf = ca.issue_cert("gateway.example")
    paths = {
        name: tmp_path / f"{name}.pem"
        for name in ("ca", "cert", "key", "both", "other_key", "encrypted_key", "text")
    }
    ca.cert_pem.write_to_path(str(paths["ca"]))
    leaf.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    leaf.private_key_pem.write_to_path(str(paths["key"]))
    leaf.private_key_and_cert_chain_pem.write_to_path(str(paths["both"]))
    trustme.CA().issue_cert("x").private_key_pem.write_to_path(str(paths["other_key"]))
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    paths["encrypted_key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    paths["text"].write_text("not a certificate\n")
    return paths


def load(tmp_path: Path, managed: str) -> ssl.SSLContext | None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'[managed]\n{managed}\n[homeport]\nbase_url = "http://127.0.0.1:8080/v1"\n')
    tls = load_gateway_config(config).managed.tls()
    return tls.current() if tls else None


HTTPS = 'base_url = "https://api.example/v1"'


def test_ca_file_and_client_certificate_load(tmp_path: Path, files: dict[str, Path]) -> None:
    context = load(
        tmp_path,
        f"{HTTPS}\nca_file = '{files['ca']}'\n"
        f"client_cert_file = '{files['cert']}'\nclient_key_file = '{files['key']}'",
    )
    assert context is not None
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert any(c["subject"] == c["issuer"] for c in context.get_ca_certs())
    assert load(tmp_path, f"{HTTPS}\nclient_cert_file = '{files['both']}'") is not None
    assert load(tmp_path, 'base_url = "http://127.0.0.1:1/v1"') is None


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ("ca_file = '{missing}'", "ca_file {missing}: No such file or directory"),
        ("ca_file = '{tmp}'", "ca_file {tmp}: Is a directory"),
        ("ca_file = '{text}'", "ca_file {text}: no PEM certificate in it"),
        ("ca_file = '{key}'", "ca_file {key}: no PEM certificate in it"),
        ("client_key_file = '{key}'", "client_key_file: set client_cert_file too"),
        (
            "client_cert_file = '{cert}'\nclient_key_file = '{missing}'",
            "client_key_file {missing}: No such file or directory",
        ),
        (
            "client_cert_file = '{cert}'",
            "client_cert_file {cert}: not a PEM certificate and its private key",
        ),
        (
            "client_cert_file = '{text}'\nclient_key_file = '{key}'",
            "client_cert_file {text}, client_key_file {key}: not a PEM certificate and its",
        ),
        (
            "client_cert_file = '{cert}'\nclient_key_file = '{other_key}'",
            "client_key_file {other_key}: the key is not the certificate's",
        ),
        (
            "client_cert_file = '{cert}'\nclient_key_file = '{encrypted_key}'",
            "client_key_file {encrypted_key}: the key is encrypted: store it decrypted",
        ),
    ],
)
def test_unusable_tls_files_are_one_line_config_errors(
    tmp_path: Path, files: dict[str, Path], settings: str, reason: str
) -> None:
    names = {**files, "missing": tmp_path / "missing.pem", "tmp": tmp_path}
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, f"{HTTPS}\n{settings.format(**names)}")
    message = str(refused.value)
    assert "gateway.toml: setting 'managed': " in message
    assert reason.format(**names) in message
    assert "\n" not in message and "Value error" not in message


def test_tls_files_on_a_plain_http_side_are_refused(tmp_path: Path, files: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="ca_file, client_cert_file: only for an https:// base"):
        load(
            tmp_path,
            f"base_url = \"http://127.0.0.1:1/v1\"\nca_file = '{files['ca']}'\n"
            f"client_cert_file = '{files['both']}'",
        )
