"""Local long-running processes of the platform: define, start, stop, status and logs.

On this machine there is no systemd, so the local inventory runs the platform's daemons (the
S3-compatible server, the ingest adapter, the ETL timer, the Shiny app) through this small
supervisor instead. Each service is a JSON spec under ``<state>/services/<name>.json``
(written by Ansible), has a pidfile under ``<state>/run/`` and one log file under
``<state>/logs/``. ``start`` is idempotent: a running service whose spec did not change is
left alone, so running the playbook again neither duplicates nor restarts processes.

A started service is a detached supervisor process (its own session and process group) that
runs the command and restarts it with a backoff when it exits; ``stop`` signals the whole
group. Secrets never go into a spec: ``env_files`` names files whose content becomes an
environment variable when the process starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = Path.home() / ".local" / "state" / "clickstream"


class ServiceError(RuntimeError):
    """A service could not be defined, started or stopped; the message says why."""


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    return Path(explicit or os.environ.get("CLICKSTREAM_STATE_DIR") or DEFAULT_STATE_DIR)


@dataclasses.dataclass(frozen=True)
class Spec:
    name: str
    command: list[str]
    cwd: str | None = None
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    env_files: dict[str, str] = dataclasses.field(default_factory=dict)
    ready_tcp: str | None = None
    ready_http: str | None = None
    ready_timeout: float = 60.0
    description: str = ""

    @classmethod
    def from_dict(cls, data: dict) -> Spec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ServiceError(f"unknown spec keys: {', '.join(unknown)}")
        if not data.get("name") or not isinstance(data.get("command"), list) or not data["command"]:
            raise ServiceError("a spec needs a name and a non-empty command list")
        if not all(isinstance(arg, str) for arg in data["command"]):
            raise ServiceError("every command argument must be a string")
        return cls(**data)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Status:
    name: str
    state: str  # running | stopped | dead (pidfile left by a process that is gone)
    pid: int | None
    started_at: str | None
    log: str
    spec_current: bool | None  # does the running process use the spec on disk?

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class Services:
    """The services defined under one state directory."""

    def __init__(self, root: str | os.PathLike[str] | None = None):
        self.root = state_dir(root)
        self.spec_dir = self.root / "services"
        self.run_dir = self.root / "run"
        self.log_dir = self.root / "logs"

    # paths -----------------------------------------------------------------------------
    def spec_path(self, name: str) -> Path:
        _check_name(name)
        return self.spec_dir / f"{name}.json"

    def pid_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _ensure_dirs(self) -> None:
        for path in (self.root, self.spec_dir, self.run_dir, self.log_dir):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)

    # specs -----------------------------------------------------------------------------
    def define(self, spec: Spec) -> bool:
        """Write the spec; True when it changed."""
        self._ensure_dirs()
        path = self.spec_path(spec.name)
        text = json.dumps(dataclasses.asdict(spec), indent=2, sort_keys=True) + "\n"
        if path.exists() and path.read_text() == text:
            return False
        _write_private(path, text)
        return True

    def load(self, name: str) -> Spec:
        path = self.spec_path(name)
        if not path.exists():
            raise ServiceError(f"no service named {name!r} (no {path})")
        try:
            return Spec.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise ServiceError(f"{path} is not valid JSON: {exc}") from exc

    def names(self) -> list[str]:
        if not self.spec_dir.exists():
            return []
        return sorted(p.stem for p in self.spec_dir.glob("*.json"))

    # state -----------------------------------------------------------------------------
    def _pidfile(self, name: str) -> dict | None:
        path = self.pid_path(name)
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def status(self, name: str) -> Status:
        record = self._pidfile(name)
        log = str(self.log_path(name))
        if record is None:
            return Status(name, "stopped", None, None, log, None)
        pid = int(record["pid"])
        if not _alive(pid, record.get("proc_start")):
            return Status(name, "dead", pid, record.get("started_at"), log, None)
        current = None
        with contextlib.suppress(ServiceError):
            current = record.get("spec_sha256") == self.load(name).digest()
        return Status(name, "running", pid, record.get("started_at"), log, current)

    def start(self, name: str) -> dict:
        """Start the service unless it already runs with the same spec; restart it when the spec changed."""
        spec = self.load(name)
        current = self.status(name)
        if current.state == "running" and current.spec_current:
            self._wait_ready(spec, current.pid)
            return {"name": name, "changed": False, "action": "none", "pid": current.pid}
        action = "started"
        if current.state == "running":
            self.stop(name)
            action = "restarted"
        self._ensure_dirs()
        missing = [path for path in spec.env_files.values() if not Path(path).is_file()]
        if missing:
            raise ServiceError(f"{name}: env files missing: {', '.join(missing)}")
        log = self.log_path(name)
        with open(log, "ab", buffering=0) as out:
            os.chmod(log, 0o600)
            env = dict(os.environ, PYTHONPATH=_pythonpath())
            supervisor = subprocess.Popen(
                [sys.executable, "-m", "toolkit.local.services", "--state-dir", str(self.root),
                 "supervise", name],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                env=env, start_new_session=True, close_fds=True,
            )
        record = {
            "pid": supervisor.pid,
            "proc_start": _proc_start(supervisor.pid),
            "started_at": _now(),
            "spec_sha256": spec.digest(),
        }
        _write_private(self.pid_path(name), json.dumps(record) + "\n")
        self._wait_ready(spec, supervisor.pid)
        return {"name": name, "changed": True, "action": action, "pid": supervisor.pid}

    def _wait_ready(self, spec: Spec, pid: int | None) -> None:
        if not (spec.ready_tcp or spec.ready_http):
            return
        deadline = time.monotonic() + spec.ready_timeout
        while True:
            if _ready(spec):
                return
            if pid is not None and not _alive(pid, None):
                raise ServiceError(f"{spec.name} exited while starting; last log lines:\n"
                                   + self.tail(spec.name, 20))
            if time.monotonic() > deadline:
                raise ServiceError(f"{spec.name} not ready after {spec.ready_timeout:.0f}s "
                                   f"({spec.ready_tcp or spec.ready_http}); last log lines:\n"
                                   + self.tail(spec.name, 20))
            time.sleep(0.2)

    def stop(self, name: str, timeout: float = 15.0) -> dict:
        current = self.status(name)
        if current.state != "running":
            self.pid_path(name).unlink(missing_ok=True)
            return {"name": name, "changed": False, "action": "none", "pid": None}
        pid = current.pid
        assert pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_alive(pid):
            time.sleep(0.1)
        if _group_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self.pid_path(name).unlink(missing_ok=True)
        return {"name": name, "changed": True, "action": "stopped", "pid": pid}

    def tail(self, name: str, lines: int = 50) -> str:
        path = self.log_path(name)
        if not path.exists():
            return ""
        with open(path, errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))

    # the supervisor ----------------------------------------------------------------------
    def supervise(self, name: str, sleep: Callable[[float], None] = time.sleep) -> int:
        """Run the service's command, restarting it with a backoff until SIGTERM."""
        spec = self.load(name)
        stopping = False
        child: subprocess.Popen | None = None

        def on_term(signum, frame):
            nonlocal stopping
            stopping = True
            if child is not None and child.poll() is None:
                child.terminate()

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        backoff = 1.0
        while not stopping:
            env = dict(os.environ)
            env.pop("PYTHONPATH", None)
            env.update(spec.env)
            for var, path in spec.env_files.items():
                env[var] = Path(path).read_text().strip()
            _log(f"supervisor: starting {name}: {' '.join(spec.command)}")
            started = time.monotonic()
            child = subprocess.Popen(spec.command, cwd=spec.cwd or REPO, env=env,
                                     stdin=subprocess.DEVNULL)
            code = child.wait()
            if stopping:
                break
            ran = time.monotonic() - started
            backoff = 1.0 if ran > 60 else min(backoff * 2, 30.0)
            _log(f"supervisor: {name} exited with {code} after {ran:.1f}s; restarting in {backoff:.0f}s")
            sleep(backoff)
        _log(f"supervisor: {name} stopped")
        return 0


def run_every(interval: float, command: Sequence[str], *, iterations: int | None = None,
              sleep: Callable[[float], None] = time.sleep) -> int:
    """Run ``command`` every ``interval`` seconds (a local stand-in for an EventBridge schedule).

    A failing run is logged and the loop goes on, as the scheduled Lambda would be retried at
    the next tick. Returns the exit code of the last run.
    """
    if interval <= 0:
        raise ServiceError("the interval must be positive")
    stopping = False

    def on_term(signum, frame):
        nonlocal stopping
        stopping = True

    with contextlib.suppress(ValueError):  # not in the main thread (tests): no signal handlers
        signal.signal(signal.SIGTERM, on_term)
    last = 0
    done = 0
    while not stopping:
        started = time.monotonic()
        _log(f"timer: run started: {' '.join(command)}")
        last = subprocess.run(list(command), check=False).returncode
        _log(f"timer: run finished with exit code {last} in {time.monotonic() - started:.1f}s")
        done += 1
        if iterations is not None and done >= iterations:
            break
        remaining = interval - (time.monotonic() - started)
        while remaining > 0 and not stopping:
            step = min(remaining, 1.0)
            sleep(step)
            remaining -= step
    return last


# helpers ---------------------------------------------------------------------------------
def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ServiceError(f"invalid service name {name!r}: use letters, digits, '-' and '_'")


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot: tells a live pid from a reused one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, proc_start: str | None) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return False
    return proc_start is None or fields[19] == proc_start


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie group leader still counts for killpg; look for a live member.
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def _ready(spec: Spec) -> bool:
    if spec.ready_tcp:
        host, _, port = spec.ready_tcp.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                pass
        except OSError:
            return False
    if spec.ready_http:
        try:
            with urllib.request.urlopen(spec.ready_http, timeout=2) as response:  # noqa: S310 (loopback URL from the spec)
                return 200 <= response.status < 400
        except (urllib.error.URLError, OSError, ValueError):
            return False
    return True


def _pythonpath() -> str:
    return os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _log(message: str) -> None:
    print(f"{_now()} {message}", flush=True)


def _main(argv: Sequence[str] | None = None) -> int:
    # Entry point of the detached supervisor process (`python -m toolkit.local.services`).
    import argparse

    parser = argparse.ArgumentParser(prog="toolkit.local.services")
    parser.add_argument("--state-dir")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("supervise").add_argument("name")
    args = parser.parse_args(argv)
    return Services(args.state_dir).supervise(args.name)


if __name__ == "__main__":
    sys.exit(_main())
