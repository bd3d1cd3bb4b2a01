"""TLS for homeport's own clients of an https upstream (the gateway's sides, the evacuation's).

Verified against the system's roots plus an optional private CA (``ca_file``, PEM), presenting a
client certificate when one is set (``client_cert_file``, its key in ``client_key_file`` or in
the same file). The files are read when the settings load: one that cannot be used is a config
error naming the setting, not a failed request later. There is no switch to skip verification.

Renewed files are taken without a restart (short-lived client certificates, a rotated CA): a
:class:`ClientTls` reads its files when a new connection is made, at most once every
``CHECK_SECONDS``, and loads them again when any one's content changed (a digest of each: a
rewrite in place that keeps the size and lands in the same modification-time tick is still
seen, and a file put back unchanged reloads nothing). New files
that cannot be used (half-written, a key that is not the certificate's) leave the previous
context in force: warned about once per change, and tried again at every check until they load.
Open connections keep their session; new connections take the context in force.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

import httpx2

log = logging.getLogger("homeport.tls")

CHECK_SECONDS = 1.0
"""How often, at most, the files are looked at (read when a :class:`ClientTls` is made)."""

Reload = Literal["loaded", "rejected"]
_Stamp = tuple[bytes | None, ...]


class TlsFiles(NamedTuple):
    """A side's TLS settings: the private CA, the client certificate and its key (all PEM)."""

    ca_file: Path | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None

    def stamp(self) -> _Stamp:
        """What tells a changed file: a digest of its content (None: gone or unreadable). The
        files are a few kilobytes of PEM, read at most once a check interval."""
        stamps: list[bytes | None] = []
        for path in self:
            try:
                found = hashlib.blake2b(path.read_bytes()).digest() if path is not None else None
            except OSError:
                found = None
            stamps.append(found)
        return tuple(stamps)


class ClientTls:
    """The TLS context for an https upstream's new connections, following its files.

    ``on_reload`` hears of each change taken ("loaded") or refused ("rejected"), once per change
    (a metric). Safe to share between threads.
    """

    def __init__(
        self, files: TlsFiles = TlsFiles(), on_reload: Callable[[Reload], None] | None = None
    ) -> None:
        """Raises ValueError naming the setting whose file cannot be used."""
        self.files = files
        self.on_reload = on_reload
        self._stamp = files.stamp()  # taken before reading: a change meanwhile is seen next time
        self._context = _load(files)
        self._refused: _Stamp | None = None
        self._check_seconds = CHECK_SECONDS
        self._due = time.monotonic() + self._check_seconds
        self._lock = threading.Lock()

    def current(self) -> ssl.SSLContext:
        """The context for a new connection (the files re-read first if they changed)."""
        if time.monotonic() >= self._due:
            with self._lock:
                if time.monotonic() >= self._due:
                    self._follow()
                    self._due = time.monotonic() + self._check_seconds
        return self._context

    def httpx_transport(self) -> httpx2.BaseTransport:
        """A transport for the SDK clients (httpx2) whose new connections take :meth:`current`."""
        return _FollowingTransport(self)

    def _follow(self) -> None:
        stamp = self.files.stamp()
        if stamp == self._stamp:
            return
        try:
            context = _load(self.files)
        except ValueError as exc:
            if stamp != self._refused:
                self._refused = stamp
                log.warning("TLS files changed but cannot be used; keeping the previous: %s", exc)
                self._report("rejected")
            return
        self._context, self._stamp, self._refused = context, stamp, None
        log.info("TLS files changed: new connections use them")
        self._report("loaded")

    def _report(self, outcome: Reload) -> None:
        if self.on_reload is not None:
            self.on_reload(outcome)


class _FollowingTransport(httpx2.BaseTransport):
    """One connection pool per context in force. A pool left behind by a change keeps its
    open connections (a response still being read) until the transport closes."""

    def __init__(self, tls: ClientTls) -> None:
        self._tls = tls
        self._context = tls.current()
        self._transport = httpx2.HTTPTransport(verify=self._context)
        self._retired: list[httpx2.HTTPTransport] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        context = self._tls.current()
        with self._lock:
            if context is not self._context:
                self._retired.append(self._transport)
                self._context = context
                self._transport = httpx2.HTTPTransport(verify=context)
            transport = self._transport
        return transport.handle_request(request)

    def close(self) -> None:
        for transport in (*self._retired, self._transport):
            transport.close()


def client_tls(
    base_url: str,
    ca_file: Path | None = None,
    client_cert_file: Path | None = None,
    client_key_file: Path | None = None,
    on_reload: Callable[[Reload], None] | None = None,
) -> ClientTls | None:
    """The TLS of an https ``base_url`` (None for http); raises ValueError naming the setting
    whose file cannot be used, or set for an http URL."""
    files = TlsFiles(ca_file, client_cert_file, client_key_file)
    if urlsplit(base_url).scheme != "https":
        named = [name for name, value in files._asdict().items() if value is not None]
        if named:
            raise ValueError(f"{', '.join(named)}: only for an https:// base_url")
        return None
    return ClientTls(files, on_reload)


def _load(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca_file, client_cert_file, client_key_file = files
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
