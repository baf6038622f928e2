"""A private redis-server on 127.0.0.1 (free port, no persistence) for tests and benchmarks."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


class LocalRedis:
    """``with LocalRedis(folder) as url:`` Debian's redis-server, started and stopped."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.process: subprocess.Popen | None = None
        self.url = ""

    @staticmethod
    def binary() -> str | None:
        return shutil.which("redis-server")

    def start(self) -> str:
        binary = self.binary()
        if binary is None:
            raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{port}/0"
        import redis

        client = redis.Redis.from_url(self.url)
        for _ in range(200):
            try:
                client.ping()
                return self.url
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
