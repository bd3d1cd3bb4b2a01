"""``ClientTls`` follows its files: a renewed CA or certificate is taken, one that cannot be used
is refused once per change while the previous context stays in force."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import trustme

import homeport.tls
from homeport.tls import ClientTls, Reload, TlsFiles


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TlsFiles:
    """A CA file and a client certificate with its key, looked at on every ``current()``."""
    monkeypatch.setattr(homeport.tls, "CHECK_SECONDS", 0.0)
    ca = trustme.CA()
    leaf = ca.issue_cert("gateway.example")
    found = TlsFiles(tmp_path / "ca.pem", tmp_path / "client.pem", tmp_path / "client.key")
    ca.cert_pem.write_to_path(str(found.ca_file))
    leaf.cert_chain_pems[0].write_to_path(str(found.client_cert_file))
    leaf.private_key_pem.write_to_path(str(found.client_key_file))
    return found


def put(path: Path | None, pem: bytes) -> None:
    """Renew a file as cert-manager and the kubelet do: written whole, moved into place."""
    assert path is not None
    (path.parent / "renewed.tmp").write_bytes(pem)
    (path.parent / "renewed.tmp").replace(path)


def test_unchanged_files_keep_the_context(files: TlsFiles) -> None:
    tls = ClientTls(files)
    assert tls.current() is tls.current()


def test_a_renewed_ca_file_is_taken(files: TlsFiles) -> None:
    heard: list[Reload] = []
    tls = ClientTls(files, heard.append)
    before = tls.current()
    put(files.ca_file, trustme.CA().cert_pem.bytes())
    after = tls.current()
    assert after is not before
    assert len(after.get_ca_certs()) == len(before.get_ca_certs())  # replaced, not added
    assert after.get_ca_certs() != before.get_ca_certs()
    assert heard == ["loaded"]


def test_a_rewrite_in_place_with_the_same_size_and_time_is_taken(files: TlsFiles) -> None:
    """A file rewritten in place, same size, within the same modification-time tick: its
    inode, size and time say nothing changed; its content does."""
    heard: list[Reload] = []
    tls = ClientTls(files, heard.append)
    before = tls.current()
    assert files.ca_file is not None
    old = files.ca_file.stat()
    renewed = trustme.CA().cert_pem.bytes()
    assert len(renewed) == old.st_size
    files.ca_file.write_bytes(renewed)
    os.utime(files.ca_file, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert files.ca_file.stat().st_ino == old.st_ino
    after = tls.current()
    assert after is not before
    assert after.get_ca_certs() != before.get_ca_certs()
    assert heard == ["loaded"]


def test_files_put_back_unchanged_reload_nothing(files: TlsFiles) -> None:
    heard: list[Reload] = []
    tls = ClientTls(files, heard.append)
    before = tls.current()
    assert files.ca_file is not None
    put(files.ca_file, files.ca_file.read_bytes())  # a new inode and time, the same content
    assert tls.current() is before
    assert heard == []


def test_files_that_cannot_be_used_leave_the_previous_context_until_they_can(
    files: TlsFiles, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[Reload] = []
    tls = ClientTls(files, heard.append)
    before = tls.current()
    assert files.client_cert_file is not None and files.client_key_file is not None
    renewed = trustme.CA().issue_cert("gateway.example")
    whole = renewed.cert_chain_pems[0].bytes()
    files.client_cert_file.write_bytes(whole[: len(whole) // 2])  # half-written, in place
    with caplog.at_level(logging.WARNING, logger="homeport.tls"):
        assert tls.current() is before
        assert tls.current() is before
    assert heard == ["rejected"]  # warned and counted once for the change
    assert "not a PEM certificate" in caplog.text
    put(files.client_cert_file, whole)  # whole, but the key is still the old one's
    assert tls.current() is before
    assert heard == ["rejected", "rejected"]
    assert "the key is not the certificate's" in caplog.text
    put(files.client_key_file, renewed.private_key_pem.bytes())
    assert tls.current() is not before
    assert heard == ["rejected", "rejected", "loaded"]


def test_a_missing_file_is_refused_like_a_broken_one(files: TlsFiles) -> None:
    heard: list[Reload] = []
    tls = ClientTls(files, heard.append)
    before = tls.current()
    assert files.ca_file is not None
    files.ca_file.unlink()  # between removing the old and writing the new
    assert tls.current() is before
    assert heard == ["rejected"]


def test_files_are_looked_at_only_once_per_check_interval(
    files: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(homeport.tls, "CHECK_SECONDS", 3600.0)
    tls = ClientTls(files)
    before = tls.current()
    put(files.ca_file, trustme.CA().cert_pem.bytes())
    assert tls.current() is before  # not due yet
