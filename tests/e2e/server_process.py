"""``podium serve`` as a real process on a free port of 127.0.0.1, for life-cycle tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

import httpx
from cli_support import Cli


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A ``podium serve`` over the home of ``cli``."""

    proc: subprocess.Popen[str]
    url: str

    @classmethod
    def start(cls, cli: Cli, **env: str) -> ServerProcess:
        port = free_port()
        command = [*cli.command, "serve", "--port", str(port), "--log-level", "warning"]
        proc = subprocess.Popen(
            command,
            env=cli.env | env,
            cwd=cli.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        server = cls(proc, f"http://127.0.0.1:{port}")
        server.wait_ready()
        return server

    def wait_ready(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                _, err = self.proc.communicate()
                raise RuntimeError(f"podium serve exited {self.proc.returncode}: {err}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("podium serve did not become ready")

    def terminate(self, timeout_s: float = 30) -> tuple[int, str]:
        """SIGTERM, then wait: (exit code, stderr)."""
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=timeout_s)
        return self.proc.returncode, err

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.communicate(timeout=30)
