"""``homeport gateway`` as a user starts it: a bad config is refused with one line, not a
traceback; a good one serves, with start-up's objects frozen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from homeport.testing.background import free_port
from homeport.testing.scripted_model import ScriptedModelOptions, ScriptedModelServer
from tests.support.heap import frozen_objects
from tests.support.processes import wait_ready


def _gateway(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from homeport.cli.main import main; main()", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_and_invalid_configs_fail_with_one_line(tmp_path: Path) -> None:
    missing = _gateway("--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    bad = tmp_path / "gateway.toml"
    bad.write_text(
        'mode = "sideways"\n[managed]\nbase_url = "http://127.0.0.1:1/v1"\n'
        '[homeport]\nbase_url = "http://127.0.0.1:2/v1"\n'
    )
    invalid = _gateway("--config", str(bad))
    assert invalid.returncode == 1
    assert "setting 'mode'" in invalid.stderr and "Traceback" not in invalid.stderr
    assert len(invalid.stderr.strip().splitlines()) == 1


def test_an_upstream_that_is_not_an_http_url_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[managed]\nbase_url = "api.openai.com/v1"\n[homeport]\nbase_url = "http://127.0.0.1:2/v1"\n'
    )
    refused = _gateway("--config", str(config))
    assert refused.returncode == 1
    assert "setting 'managed.base_url'" in refused.stderr and "Traceback" not in refused.stderr


def test_an_unusable_ca_file_is_refused_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[managed]\nbase_url = "https://api.openai.com/v1"\n'
        f"ca_file = '{tmp_path / 'private-ca.pem'}'\n"
        '[homeport]\nbase_url = "http://127.0.0.1:2/v1"\n'
    )
    refused = _gateway("--config", str(config))
    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "setting 'managed': ca_file" in refused.stderr
    assert "private-ca.pem: No such file or directory" in refused.stderr


def test_start_up_objects_are_frozen_before_it_serves(tmp_path: Path) -> None:
    """Full collections walk only what serving made (homeport.heap)."""
    port = free_port()
    config = tmp_path / "gateway.toml"
    log = tmp_path / "gateway.log"
    with ScriptedModelServer(ScriptedModelOptions()) as model:
        config.write_text(
            f'port = {port}\ndatabase_url = "sqlite:///{tmp_path}/gateway.db"\n'
            f'[managed]\nbase_url = "{model.base_url}"\n'
            f'[homeport]\nbase_url = "{model.base_url}"\n'
        )
        command = [sys.executable, "-c", "from homeport.cli.main import main; main()"]
        with log.open("wb") as out:
            gateway = subprocess.Popen(
                [*command, "gateway", "--config", str(config)], stdout=out, stderr=out
            )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(gateway, url + "/healthz", log)
            assert (frozen_objects(httpx.get(url + "/metrics").text) or 0) > 10_000
        finally:
            gateway.terminate()
            gateway.wait(30)
