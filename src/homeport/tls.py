"""TLS for homeport's own clients of an https upstream (the gateway's sides, the evacuation's).

Verified against the system's roots plus an optional private CA (``ca_file``, PEM), presenting a
client certificate when one is set (``client_cert_file``, its key in ``client_key_file`` or in
the same file). The files are read when the settings load: one that cannot be used is a config
error naming the setting, not a failed request later. There is no switch to skip verification.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from urllib.parse import urlsplit


def client_tls(
    base_url: str,
    ca_file: Path | None = None,
    client_cert_file: Path | None = None,
    client_key_file: Path | None = None,
) -> ssl.SSLContext | None:
    """The context for an https ``base_url`` (None for http); raises ValueError naming the
    setting whose file cannot be used, or set for an http URL."""
    given = {
        "ca_file": ca_file,
        "client_cert_file": client_cert_file,
        "client_key_file": client_key_file,
    }
    if urlsplit(base_url).scheme != "https":
        named = [name for name, value in given.items() if value is not None]
        if named:
            raise ValueError(f"{', '.join(named)}: only for an https:// base_url")
        return None
    context = ssl.create_default_context()
    if ca_file is not None:
        _check_readable("ca_file", ca_file)
        try:
            context.load_verify_locations(cafile=ca_file)
        except ssl.SSLError:
            raise ValueError(f"ca_file {ca_file}: no PEM certificate in it") from None
    if client_cert_file is not None:
        _load_client_certificate(context, client_cert_file, client_key_file)
    elif client_key_file is not None:
        raise ValueError("client_key_file: set client_cert_file too")
    return context


def _check_readable(name: str, path: Path) -> None:
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ValueError(f"{name} {path}: {exc.strerror or exc}") from None


def _load_client_certificate(context: ssl.SSLContext, cert: Path, key: Path | None) -> None:
    _check_readable("client_cert_file", cert)
    if key is not None:
        _check_readable("client_key_file", key)

    def encrypted() -> str:  # OpenSSL would otherwise ask for a passphrase on the terminal
        name, path = ("client_key_file", key) if key else ("client_cert_file", cert)
        raise ValueError(f"{name} {path}: the key is encrypted: store it decrypted")

    try:
        context.load_cert_chain(cert, key, password=encrypted)
    except ssl.SSLError as exc:
        files = f"client_cert_file {cert}" + (f", client_key_file {key}" if key else "")
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ValueError(f"{files}: the key is not the certificate's") from None
        raise ValueError(f"{files}: not a PEM certificate and its private key") from None
