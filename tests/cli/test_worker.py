"""``homeport worker`` as a user starts it: a bad ``--metrics-port`` is one line, exit 1."""

from __future__ import annotations

import socket

from tests.cli.conftest import RunCommand


def test_a_metrics_port_in_use_is_refused_in_one_line(homeport_command: RunCommand) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = homeport_command("worker", "--metrics-port", str(port))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert errors == [f"error: cannot serve metrics on 127.0.0.1:{port}: Address already in use"]


def test_a_metrics_port_out_of_range_is_refused(homeport_command: RunCommand) -> None:
    result = homeport_command("worker", "--metrics-port", "70000")
    assert result.returncode == 2
    assert "--metrics-port" in result.stderr
