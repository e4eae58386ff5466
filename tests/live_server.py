"""A real ``planfeed serve`` process on a free loopback port, for browser and restart tests.

Use the ``start_server`` fixture (tests/conftest.py) rather than this class directly: the
fixture stops every server it started, even when the test fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from support import TEST_SECRET

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def free_port() -> int:
    """A port nobody listens on right now (the server may still lose a race for it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """One ``planfeed serve`` subprocess; its output goes to ``log_path`` for failure reports."""

    def __init__(
        self,
        database_url: str,
        data_dir: Path,
        *,
        worker: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.data_dir = data_dir
        self.worker = worker
        self.extra_env = env or {}
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        """Start and wait until /readyz answers 200; retries once if the port was taken."""
        for _attempt in range(3):
            self.port = free_port()
            self._spawn()
            if self._wait_ready():
                return self
            if "address already in use" not in self.log().lower():
                break
        self.stop()
        raise AssertionError(f"planfeed serve did not become ready:\n{self.log()}")

    def _spawn(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PLANFEED_DATABASE_URL": self.database_url,
            "PLANFEED_SECRET_KEY": TEST_SECRET,
            "PLANFEED_DATA_DIR": str(self.data_dir),
            "PLANFEED_RUN_WORKER": "true" if self.worker else "false",
            "PLANFEED_LOG_LEVEL": "warning",
            **self.extra_env,
        }
        command = [
            sys.executable,
            "-m",
            "planfeed.cli.main",
            "serve",
            "--no-migrate",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def _wait_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        return False

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int | None:
        """Send ``sig`` and wait for the exit; SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=STOP_TIMEOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
