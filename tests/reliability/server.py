"""Start the app in processes of its own (gunicorn with `nexus_site/gunicorn_conf.py`, as `make run` does:
two gthread workers unless `WEB_CONCURRENCY` says otherwise) on a free port of 127.0.0.1, against a
database URL of the test's choosing, and stop it by its process id."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `manage.py <args>` with `env`; raises on a non-zero exit only when asked by the caller."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def app_env(database_url: str, redis_url: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, DJANGO_SETTINGS_MODULE="nexus_site.settings")
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    # The load, not the API's limit, is under test (the writers share one token).
    env.update(API_THROTTLE_USER="", API_THROTTLE_ANON="")
    return env


class Server:
    """`with Server(env) as base:` serves on `base` (http://127.0.0.1:<port>) until the block ends."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log_path = env, log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        self.log = self.log_path.open("wb")
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        bind = f"127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [gunicorn, "-c", "nexus_site/gunicorn_conf.py", "--bind", bind, "nexus_site.wsgi"],
            cwd=ROOT,
            env={"WEB_CONCURRENCY": "2", **self.env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                    return base
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"the server did not start: {self.log_path.read_text()[-2000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class RedisServer:
    """A private `redis-server` on a free port of 127.0.0.1 (no persistence), started and stopped by
    the test itself: never the machine's Redis. `start()` again after `stop()` reuses the port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


class Worker:
    """A Celery worker in a session of its own, on `env`; with its beat (`-B`, schedule file in `folder`)
    unless `beat` is False. `kill()` sends SIGKILL to the whole session (the worker and its pool's
    processes: a worker container or machine lost mid-task).

    `pool`: "solo" (the default: one process, the task runs in the worker's own event loop) or
    "prefork" (one pool process, as `docker-compose.yml`'s worker runs, with two). A test of the
    acknowledgement needs "prefork": under "solo" an early acknowledgement is only sent by the event
    loop (`hub.call_soon`) once the task has returned, so a task killed mid-way is never acknowledged
    and comes back whether `acks_late` is set or not."""

    def __init__(
        self,
        env: dict[str, str],
        folder: Path,
        *,
        beat: bool = True,
        name: str = "worker",
        pool: str = "solo",
    ) -> None:
        self.env, self.folder, self.beat, self.name, self.pool = env, folder, beat, name, pool
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Worker:
        self.log = (self.folder / f"{self.name}.log").open("wb")
        from nexus_site.celery import worker_command

        beat = ["-B", "--schedule", str(self.folder / "beat-schedule")] if self.beat else []
        command = worker_command(pool=self.pool, log_level="INFO", options=(*beat, "-n", f"{self.name}@%h"))
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        assert self.process is not None
        # SIGKILL to the worker and its pool processes: no chance to acknowledge or give the task back.
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
