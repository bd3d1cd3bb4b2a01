"""The deploy artifacts parse and only call commands and options that homeport has."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.main import get_command
from typer.testing import CliRunner

from homeport.cli.main import app

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _commands() -> set[str]:
    root = get_command(app)
    names: set[str] = set()
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        names.add(name)
        for sub in getattr(command, "commands", {}):
            names.add(f"{name} {sub}")
    return names


def test_kubernetes_and_compose_call_real_commands() -> None:
    known = _commands()
    args: list[list[str]] = []
    for doc in yaml.safe_load_all((DEPLOY / "kubernetes" / "homeport.yaml").read_text()):
        template = doc["spec"].get("template")
        if template:
            args += [container["args"] for container in template["spec"]["containers"]]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    args += [svc["command"] for svc in compose["services"].values() if "command" in svc]
    assert args
    for arg in args:
        assert " ".join(arg[:2]) in known or arg[0] in known, arg
        parsed = CliRunner().invoke(app, [*arg, "--help"])  # an unknown option fails first
        assert parsed.exit_code == 0, (arg, parsed.output)


def test_dockerfile_entrypoint_is_the_cli() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["homeport"]' in text
    assert "/healthz" in text
