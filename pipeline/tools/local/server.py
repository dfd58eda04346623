"""Start, stop and inspect the local cloud: MiniStack (through our launcher) in the background, on loopback."""

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.runtime.errors import PipelineError
from pipeline.tools.local.status import SAVING, STATUS, Phase, read_json

DEFAULT_PORT = 4566
REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
# Real credentials and endpoints of the user's environment never reach the local cloud: with the fixed keys
# above, boto3 would still send a real AWS_SESSION_TOKEN, and AWS_ENDPOINT_URL_<SERVICE> would send a service's
# calls (signed with the fixed keys) to AWS instead of the local endpoint.
REAL_AWS_SETTINGS = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_ENDPOINT_URL_",
)
_DROPPED = ("AWS_ENDPOINT_URL", *REAL_AWS_SETTINGS, "PYTHONPATH", "PIPELINE_")
# The Lambda workers inherit PIPELINE_CALL_LOG (every handler's AWS calls are logged, pipeline.runtime.aws); the
# launcher reads the checkpoint settings.
_KEPT = ("PIPELINE_CALL_LOG", "PIPELINE_CHECKPOINT")
LAUNCHER = "pipeline.tools.local.launcher"
EXIT_RUNNING, EXIT_REFUSED = 75, 78  # pipeline.tools.local.launcher's exit codes (not imported: it is the server's)
STALL_S = 1800.0  # a start that shows no progress for this long has hung
PORT_RELEASE_S = 60.0  # how long a killed server of this state dir may take to release its port
LINGER_S = 30.0  # after the final save, a process that does not exit is ended (nothing is left to lose)

Progress = Callable[[str, float], None]  # what is happening, seconds since it began


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


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (killed, not yet reaped by its parent) counts as gone; ours is reaped."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True  # no /proc: kill(0) is all we know


def _command(pid: int) -> bytes:
    """The command line of ``pid`` (empty where /proc cannot tell)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _ago(epoch: float | None) -> str:
    if not epoch:
        return "never"
    seconds = max(0.0, time.time() - float(epoch))
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


@dataclass(frozen=True)
class StopReport:
    """How a stop went, in one line for the user."""

    was_running: bool
    saved: bool = False
    forced: bool = False
    message: str = ""

    def __bool__(self) -> bool:
        return self.was_running


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

    def status(self) -> dict[str, Any]:
        """What the server last said it was doing (`pipeline.tools.local.status`); {} if it never ran."""
        return read_json(self.state_dir / STATUS)

    def saving(self) -> dict[str, Any]:
        """Progress of the save being written (or how the last one ended)."""
        return read_json(self.state_dir / SAVING)

    def client_environment(self) -> dict[str, str]:
        """Environment variables that point boto3, pyathena and the AWS CLI at this local cloud."""
        return {"AWS_ENDPOINT_URL": self.endpoint, **CREDENTIALS}

    def activate(self) -> None:
        """Point this process's AWS clients at the local cloud, with none of the user's real credentials."""
        for name in list(os.environ):
            if name.startswith(REAL_AWS_SETTINGS):
                del os.environ[name]
        os.environ.update(self.client_environment())
        from pipeline.runtime import aws

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
        if not _alive(pid):
            return None
        command = _command(pid)
        if LAUNCHER.encode() in command:
            return pid if self._locked() else None  # no lock held: the pid was reused by another process
        return pid if not command or b"ministack" in command else None  # a server of an earlier version

    def _locked(self) -> bool:
        """Whether a process holds the state dir's lock (a server, or its checkpoint writer)."""
        from pipeline.tools.local.lock import StateLock

        if not (self.state_dir / "lock").exists():
            return False
        probe = StateLock(self.state_dir / "lock")
        if probe.acquire(wait=0, record=False):
            probe.release()
            return False
        return True

    def ready(self, timeout: float = 2.0) -> bool:
        """True when the server answers its readiness probe."""
        try:
            with urllib.request.urlopen(f"{self.endpoint}/_ministack/ready", timeout=timeout) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _server_environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k.startswith(_KEPT) or not k.startswith(_DROPPED)}
        env.update(CREDENTIALS)
        env.update(
            {
                "GATEWAY_PORT": str(self.port),
                "BIND_HOST": "127.0.0.1",
                "MINISTACK_REGION": REGION,
                "PERSIST_STATE": "1",
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

    # ------------------------------------------------------------------ start
    def start(self, progress: Progress | None = None) -> bool:
        """Start the server unless it runs already; return True if this call started it.

        Waits as long as the server shows progress (loading a large saved state takes a while), calling
        ``progress`` with what it is doing.
        """
        if self.running():
            return False
        self._check_writable()
        bound = recorded_port(self.state_dir)
        if bound is not None and bound != self.port:
            raise LocalCloudError(
                f"state in {self.state_dir} was created on port {bound}; start it on that port "
                f"(PIPELINE_LOCAL_PORT={bound}) because the emulator's saved queue URLs include the port"
            )
        if self.pid() is not None:  # alive but not answering: starting up, or busy saving
            return False
        (self.state_dir / "port").write_text(str(self.port))
        # A server of this state dir killed a moment ago (kill -9, out of memory) keeps its listening socket until
        # the kernel has torn down its memory, seconds for a large state: wait for that before blaming another
        # program. Without a recorded server the port is taken by someone else at once.
        deadline = time.monotonic() + (PORT_RELEASE_S if self.pid_file.exists() else 0)
        while self._port_taken():
            if time.monotonic() >= deadline:
                raise LocalCloudError(f"port {self.port} is in use by another program; set PIPELINE_LOCAL_PORT")
            time.sleep(0.5)
        launched = time.time()
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", LAUNCHER, "--state-dir", str(self.state_dir), "--pid-file", str(self.pid_file)],
                env=self._server_environment(),
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.state_dir,
            )
        return self._wait_ready(process, launched, progress)

    def _port_taken(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def _check_writable(self) -> None:
        """A clear error, before anything starts, when the state dir cannot be written."""
        probe = self.state_dir / f".write-probe-{os.getpid()}"
        try:
            (self.state_dir / "tmp").mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise LocalCloudError(
                f"cannot write in {self.state_dir} ({exc.strerror or exc}): the local cloud keeps its state there; "
                "make it writable or set PIPELINE_STATE_DIR to a writable folder"
            ) from exc

    def _wait_ready(self, process: subprocess.Popen[bytes], launched: float, progress: Progress | None) -> bool:
        last_seen, last_change = None, time.monotonic()
        while True:
            code = process.poll()
            if code is not None:
                if code == EXIT_RUNNING:
                    return False
                status = self.status()
                if code == EXIT_REFUSED and status.get("error"):
                    raise LocalCloudError(status["error"])
                raise LocalCloudError(f"the local cloud exited with {code}; see {self.log_file}")
            if self.ready():
                if self.pid() == process.pid:
                    return True
                process.terminate()  # another start won the state dir's lock: ours is only waiting for it
                process.wait()
                return False
            status = self.status()
            if float(status.get("updated") or 0) < launched:  # written by an earlier run
                status = {}
            step = (status.get("progress") or {}).get("step") or str(status.get("phase") or "starting")
            seen = (step, status.get("updated"))
            if seen != last_seen:
                last_seen, last_change = seen, time.monotonic()
            if progress:
                since = (status.get("progress") or {}).get("since") or launched
                progress(step.replace("preparing", "checking the saved state"), time.time() - since)
            if time.monotonic() - last_change > STALL_S:
                raise LocalCloudError(f"no progress for {STALL_S:.0f}s ({step}); see {self.log_file}")
            time.sleep(0.25)

    # ------------------------------------------------------------------ stop
    def stop(self, *, force: bool = False, progress: Progress | None = None) -> StopReport:
        """Stop the server; it saves what changed since its last checkpoint, however long that takes.

        Never kills a server that is still writing state, unless ``force``: then it is killed at once and the
        report says what is lost (the changes after the last checkpoint).
        """
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return StopReport(False, message="local cloud was not running")
        if force:
            return self._kill(pid)
        earlier_version = LAUNCHER.encode() not in _command(pid)
        asked = time.time()
        os.kill(pid, signal.SIGTERM)
        stopped_at: float | None = None
        while _alive(pid):
            status = self.status()
            if status.get("phase") == Phase.STOPPED:
                stopped_at = stopped_at or time.monotonic()
                if time.monotonic() - stopped_at > LINGER_S:  # saved; something keeps the process alive
                    with contextlib.suppress(OSError):
                        os.killpg(pid, signal.SIGKILL)
            elif progress:
                progress(*self._stop_step(status, asked))
            time.sleep(0.2)
        with contextlib.suppress(OSError):  # Lambda workers left behind in the server's process group
            os.killpg(pid, signal.SIGTERM)
        self.pid_file.unlink(missing_ok=True)
        if earlier_version:  # started by a version before checkpoints: it saved in its own way
            return StopReport(True, saved=True, message="local cloud stopped (it was started by an earlier version)")
        return self._stopped(self.status(), asked)

    def _stop_step(self, status: dict[str, Any], asked: float) -> tuple[str, float]:
        if status.get("phase") != Phase.SAVING:
            return "finishing requests in flight", time.time() - asked
        since = float(status.get("saving_since") or asked)
        saving = self.saving()
        if saving.get("state") == "writing":
            step = f"saving state: {saving['service']} ({saving['index']} of {saving['count']} services)"
            return step, time.time() - since
        return "saving state", time.time() - since

    def _stopped(self, status: dict[str, Any], asked: float) -> StopReport:
        final = status.get("final") or {}
        checkpoint = status.get("checkpoint") or {}
        when = f"generation {checkpoint.get('generation')} ({_ago(checkpoint.get('finished'))})"
        if status.get("updated", 0) < asked or status.get("phase") != Phase.STOPPED:
            return StopReport(
                True, message=f"local cloud stopped WITHOUT saving (see {self.log_file}); it will load {when}"
            )
        if final.get("saved"):
            size = f"{final.get('bytes', 0) / 1e6:,.0f} MB"
            return StopReport(
                True,
                saved=True,
                message=f"local cloud stopped; state saved as generation {final.get('generation')} ({size}) "
                f"in {final.get('seconds', 0):.1f}s",
            )
        if final.get("error"):
            message = f"local cloud stopped but could NOT save its state: {final['error']}; it will load {when}"
            return StopReport(True, message=message)
        return StopReport(True, saved=True, message=f"local cloud stopped; nothing changed since {when}")

    def _saved_generation(self) -> int | None:
        from pipeline.tools.local.generations import GenerationStore

        current = GenerationStore(self.state_dir / "ministack").current()
        return current.number if current else None

    def _kill(self, pid: int) -> StopReport:
        status = self.status()
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        checkpoint = status.get("checkpoint") or {}
        pending = int(status.get("pending_changes") or 0)
        lost = (
            f"{pending} change(s) made after the last checkpoint are lost"
            if pending
            else "no change was made after the last checkpoint, so nothing is lost"
        )
        on_disk = self._saved_generation()
        if on_disk is not None and on_disk != checkpoint.get("generation"):  # a checkpoint ended as it was killed
            checkpoint = {"generation": on_disk, "finished": time.time()}
            lost = "a checkpoint was just saved; changes made while it was being written are lost"
        return StopReport(
            True,
            forced=True,
            message=f"local cloud killed (--force); {lost}; it will load generation "
            f"{checkpoint.get('generation')} ({_ago(checkpoint.get('finished'))})",
        )
