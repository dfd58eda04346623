"""Start, stop and inspect MiniStack as a background process on loopback with persisted state."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import PipelineError

DEFAULT_PORT = 4566
REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
_DROPPED = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "PYTHONPATH", "PIPELINE_")
_KEPT = ("PIPELINE_CALL_LOG",)  # the Lambda workers inherit it: every handler's AWS calls are logged (pipeline.aws)


class LocalCloudError(PipelineError):
    """The local cloud could not be started or reached."""


def default_state_dir() -> Path:
    """`PIPELINE_STATE_DIR`, or `.pipeline/` in the current directory."""
    return Path(os.environ.get("PIPELINE_STATE_DIR") or ".pipeline").resolve()


def recorded_port(state_dir: Path) -> int | None:
    """The port a state dir was created with: MiniStack's persisted queue URLs embed it."""
    try:
        return int((state_dir / "port").read_text().strip())
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class LocalCloud:
    """One MiniStack server: its port and the folder holding its state, S3 objects, log and pid."""

    state_dir: Path
    port: int = DEFAULT_PORT

    @classmethod
    def from_env(cls) -> LocalCloud:
        """The state dir from the environment, on the port it was first started with (or the default)."""
        state = default_state_dir()
        return cls(state, int(os.environ.get("PIPELINE_LOCAL_PORT") or recorded_port(state) or DEFAULT_PORT))

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"ministack-{self.port}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"ministack-{self.port}.log"

    def client_environment(self) -> dict[str, str]:
        """Environment variables that point boto3, pyathena and the AWS CLI at this local cloud."""
        return {"AWS_ENDPOINT_URL": self.endpoint, **CREDENTIALS}

    def activate(self) -> None:
        """Point this process's AWS clients at the local cloud."""
        os.environ.update(self.client_environment())
        os.environ.pop("AWS_PROFILE", None)
        from pipeline import aws

        aws.reset()

    def running(self) -> bool:
        """True when the server process lives and answers (patiently: a busy server answers slowly)."""
        return self.pid() is not None and self.ready(timeout=30.0)

    def pid(self) -> int | None:
        """The server's pid if it is running."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def ready(self, timeout: float = 2.0) -> bool:
        """True when the server answers its readiness probe."""
        try:
            with urllib.request.urlopen(f"{self.endpoint}/_ministack/ready", timeout=timeout) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _server_environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in _KEPT or not k.startswith(_DROPPED)}
        env.update(CREDENTIALS)
        env.update(
            {
                "GATEWAY_PORT": str(self.port),
                "BIND_HOST": "127.0.0.1",
                "MINISTACK_REGION": REGION,
                "PERSIST_STATE": "1",
                "STATE_DIR": str(self.state_dir / "ministack"),
                "S3_PERSIST": "1",
                "S3_DATA_DIR": str(self.state_dir / "s3"),
                "IOT_MTLS_ENABLED": "0",
                "SFTP_ENABLED": "0",
                "LOG_LEVEL": os.environ.get("PIPELINE_LOCAL_LOG_LEVEL", "WARNING"),
                "LAMBDA_ACCOUNT_CONCURRENCY": "64",
                "ATHENA_ENGINE": "duckdb",
                "TMPDIR": str(self.state_dir / "tmp"),
            }
        )
        return env

    def start(self, timeout: float = 90.0) -> bool:
        """Start the server unless it runs already; return True if this call started it."""
        if self.running():
            return False
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "tmp").mkdir(exist_ok=True)
        bound = recorded_port(self.state_dir)
        if bound is not None and bound != self.port:
            raise LocalCloudError(
                f"state in {self.state_dir} was created on port {bound}; start it on that port "
                f"(PIPELINE_LOCAL_PORT={bound}) because the emulator's saved queue URLs include the port"
            )
        (self.state_dir / "port").write_text(str(self.port))
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise LocalCloudError(f"port {self.port} is in use by another program; set PIPELINE_LOCAL_PORT")
        log = self.log_file.open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.local.emulator"],  # MiniStack with our Athena null-format patch
            env=self._server_environment(),
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.state_dir,
        )
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LocalCloudError(f"the local cloud exited with {process.returncode}; see {self.log_file}")
            if self.ready():
                return True
            time.sleep(0.25)
        raise LocalCloudError(f"the local cloud did not become ready in {timeout:.0f}s; see {self.log_file}")

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the server gracefully (it saves its state on the way out); True if it was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                break
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.2)
        else:
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True
