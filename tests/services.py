"""Real services for the test suite: Prometheus (with promtool backfill) and RabbitMQ.

Each service runs on 127.0.0.1 on free ports with its own scratch directory, so test
runs (and engineers) never collide. A missing binary is a test **failure** naming the
Debian package to install, never a skip: CI must not pass without the real parts.

Fixtures
--------
prometheus_factory
    ``start(scrape_configs=[...], backfill=[paths]) -> PrometheusServer``; every server
    started is stopped at the end of the test.
rabbitmq
    One real RabbitMQ 3.10 node per test session with ``rabbitmq_prometheus`` and
    per-object metrics on ``/metrics``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

__all__ = ["PrometheusServer", "RabbitMQServer", "free_port", "require_binary"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_binary(name: str, package: str) -> str:
    """Return the path of ``name`` or fail the test naming the Debian package."""
    # RabbitMQ's /usr/sbin wrappers su to the rabbitmq user; the real scripts live here.
    direct = Path("/usr/lib/rabbitmq/bin") / name
    path = str(direct) if direct.exists() else shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: this test needs the real service. "
            f"Install the Debian package: apt-get install -y {package} (make test does this as root)",
            pytrace=False,
        )
    return path


def _wait_http(
    url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"process exited with {proc.returncode} before {url} was ready:\n{tail}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout} s")


@dataclass
class PrometheusServer:
    """A real Prometheus on 127.0.0.1 with its own data directory.

    Attributes
    ----------
    url : str
        Base URL, e.g. ``http://127.0.0.1:41234``.
    data_dir : Path
        TSDB directory (backfill target).
    """

    workdir: Path
    scrape_configs: list[dict[str, Any]] = field(default_factory=list)
    scrape_interval: str = "1s"
    retention: str = "30d"
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    _log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "tsdb"

    @property
    def config_path(self) -> Path:
        return self.workdir / "prometheus.yml"

    def write_config(self) -> None:
        config = {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.scrape_interval},
            "scrape_configs": self.scrape_configs,
        }
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")

    def start(self) -> PrometheusServer:
        binary = require_binary("prometheus", "prometheus")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        self.port = self.port or free_port()
        self.write_config()
        log = self.workdir / "prometheus.log"
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.data_dir}",
                f"--storage.tsdb.retention.time={self.retention}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        _wait_http(f"{self.url}/-/ready", 60, self.proc, log)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def reload(self, scrape_configs: list[dict[str, Any]]) -> None:
        """Replace the scrape configs and reload without restarting."""
        self.scrape_configs = scrape_configs
        self.write_config()
        requests.post(f"{self.url}/-/reload", timeout=10).raise_for_status()

    def backfill(self, openmetrics_files: list[Path], max_block_duration: str = "2h") -> None:
        """Stop, create TSDB blocks from OpenMetrics files with promtool, start again.

        Split large inputs into one file per 2-hour block: promtool re-reads its whole
        input once per block (RUNNING-SERVICES.md §8).
        """
        promtool = require_binary("promtool", "prometheus")
        self.stop()
        for path in openmetrics_files:
            result = subprocess.run(
                [
                    promtool,
                    "tsdb",
                    "create-blocks-from",
                    "openmetrics",
                    f"--max-block-duration={max_block_duration}",
                    str(path),
                    str(self.data_dir),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(f"promtool backfill of {path} failed: {result.stderr[-2000:]}")
        self.start()

    def wait_for_series(
        self, query: str, timeout: float = 60.0, min_results: int = 1
    ) -> list[dict[str, Any]]:
        """Poll an instant query until it returns at least ``min_results`` series."""
        deadline = time.monotonic() + timeout
        last: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            answer = requests.get(f"{self.url}/api/v1/query", params={"query": query}, timeout=10).json()
            last = answer.get("data", {}).get("result", [])
            if len(last) >= min_results:
                return last
            time.sleep(0.5)
        raise TimeoutError(f"query {query!r} returned {len(last)} series after {timeout} s")


@pytest.fixture
def prometheus_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., PrometheusServer]]:
    """Start real Prometheus servers; all are stopped when the test ends."""
    started: list[PrometheusServer] = []

    def start(
        scrape_configs: list[dict[str, Any]] | None = None,
        *,
        scrape_interval: str = "1s",
        backfill: list[Path] | None = None,
    ) -> PrometheusServer:
        server = PrometheusServer(
            workdir=tmp_path_factory.mktemp("prometheus"),
            scrape_configs=scrape_configs or [],
            scrape_interval=scrape_interval,
        )
        started.append(server)
        if backfill:
            server.data_dir.mkdir(parents=True, exist_ok=True)
            server.start()
            server.backfill(backfill)
        else:
            server.start()
        return server

    yield start
    for server in started:
        server.stop()


@dataclass
class RabbitMQServer:
    """A real RabbitMQ node on 127.0.0.1 with ``rabbitmq_prometheus``.

    Attributes
    ----------
    amqp_port, prometheus_port : int
        AMQP 0-9-1 listener and the Prometheus plugin's port.
    """

    workdir: Path
    amqp_port: int = 0
    prometheus_port: int = 0
    dist_port: int = 0
    epmd_port: int = 0
    nodename: str = ""
    proc: subprocess.Popen[bytes] | None = None
    _log: Any = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}/metrics"

    @property
    def env(self) -> dict[str, str]:
        w = self.workdir
        return {
            **os.environ,
            "HOME": str(w / "home"),
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "RABBITMQ_CONF_ENV_FILE": str(w / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(w / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(w / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(w / "mnesia"),
            "RABBITMQ_LOG_BASE": str(w / "log"),
            "RABBITMQ_PID_FILE": str(w / "rabbit.pid"),
            "PATH": "/usr/lib/rabbitmq/bin:" + os.environ.get("PATH", ""),
        }

    def ctl(self, *args: str, timeout: float = 60) -> str:
        """Run ``rabbitmqctl`` against this node and return its stdout."""
        binary = require_binary("rabbitmqctl", "rabbitmq-server")
        result = subprocess.run(
            [binary, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr or result.stdout}")
        return result.stdout

    def start(self) -> RabbitMQServer:
        server = require_binary("rabbitmq-server", "rabbitmq-server")
        plugins = require_binary("rabbitmq-plugins", "rabbitmq-server")
        epmd = require_binary("epmd", "erlang-base (pulled in by rabbitmq-server)")
        w = self.workdir
        for sub in ("home", "mnesia", "log"):
            (w / sub).mkdir(parents=True, exist_ok=True)
        self.amqp_port = self.amqp_port or free_port()
        self.prometheus_port = self.prometheus_port or free_port()
        self.dist_port = self.dist_port or free_port()
        self.epmd_port = self.epmd_port or free_port()
        self.nodename = self.nodename or f"wbtest{os.getpid()}@localhost"
        (w / "rabbitmq-env.conf").write_text("", encoding="utf-8")
        (w / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n"
            "prometheus.tcp.ip = 127.0.0.1\n"
            f"prometheus.tcp.port = {self.prometheus_port}\n"
            "prometheus.return_per_object_metrics = true\n"
            "collect_statistics_interval = 1000\n"
            "loopback_users = none\n",
            encoding="utf-8",
        )
        subprocess.run(
            [epmd, "-port", str(self.epmd_port), "-address", "127.0.0.1", "-daemon"], env=self.env, check=True
        )
        subprocess.run(
            [plugins, "--offline", "enable", "rabbitmq_prometheus"],
            env=self.env,
            check=True,
            capture_output=True,
        )
        log = w / "server.out"
        self._log = log.open("ab")
        self.proc = subprocess.Popen([server], env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        self.ctl("wait", "--timeout", "120", str(w / "rabbit.pid"), timeout=130)
        _wait_http(self.metrics_url, 60, self.proc, log)
        return self

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.ctl("stop", timeout=60)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
        epmd = shutil.which("epmd")
        if epmd:
            subprocess.run(
                [epmd, "-port", str(self.epmd_port), "-kill"], env=self.env, capture_output=True, check=False
            )


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQServer]:
    """One real RabbitMQ node for the test session."""
    server = RabbitMQServer(workdir=tmp_path_factory.mktemp("rabbitmq"))
    server.start()
    yield server
    server.stop()
