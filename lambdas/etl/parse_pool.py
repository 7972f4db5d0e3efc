"""Worker processes that parse raw objects into COPY text, beside the loading process.

``ParsePool`` is the loading side: it shares a batch's raw objects out as jobs and gathers the
answers. ``serve_parse_jobs`` is the worker side: it runs ``normalize.parse_items`` on each job.
Parsing is Python; in workers it leaves the loading process free to feed PostgreSQL.
"""

from __future__ import annotations

import contextlib
import queue
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from .normalize import CopyObject, Item, parse_items
from .page_paths import DEFAULT_RULE, PagePathRule


class ParseWorkerError(RuntimeError):
    """A parse worker process failed or died; the batch it was parsing is not loaded."""


class ParsePool:
    """Worker processes that turn raw objects into COPY text (``serve_parse_jobs``).

    Plain subprocesses talking over a socket pair: a Lambda has no /dev/shm, so
    multiprocessing's Pool and Queue (POSIX semaphores) fail there; and unlike multiprocessing's
    spawn, a worker never re-imports the caller's __main__ (a script without a main guard would
    run again in every worker). Each worker is driven by one thread that sends a job and waits
    for its answer, so a worker never blocks on a full pipe while this process blocks sending
    it more.
    """

    JOB_BYTES = 1 << 20  # raw bytes per job: ~1,500 events, small enough to share a batch out evenly

    def __init__(self, workers: int):
        import os
        import socket
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        self._workers: list[tuple[Any, Any]] = []
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        try:
            for _ in range(workers):
                ours, theirs = socket.socketpair()
                with theirs:
                    # The command is fixed; only this interpreter's path and an fd number vary.
                    process = subprocess.Popen(  # noqa: S603
                        [sys.executable, "-c", "import sys; from etl.parse_pool import serve_parse_jobs;"
                                               " serve_parse_jobs(int(sys.argv[1]))", str(theirs.fileno())],
                        pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
                connection = Connection(ours.detach())
                self._workers.append((process, connection))
                self._idle.put((process, connection))
        except BaseException:
            self.close()
            raise
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="etl-parse")

    def parse(self, late_limit: timedelta, run_id: int, items: list[Item], page_path_rule: PagePathRule = DEFAULT_RULE,
              store_currency: str | None = None) -> tuple[list[CopyObject], float]:
        jobs: list[list[Item]] = [[]]
        size = 0
        for item in items:
            if size >= self.JOB_BYTES:
                jobs.append([])
                size = 0
            body = item[2]
            if isinstance(body, Exception):
                item = (item[0], item[1], str(body))  # what the worker needs, whatever the exception holds
            jobs[-1].append(item)
            size += len(body) if isinstance(body, bytes) else 0
        out: list[CopyObject] = []
        cpu = 0.0
        for parsed, seconds in self._threads.map(
                self._call, [(late_limit, run_id, job, None, page_path_rule, store_currency) for job in jobs]):
            out.extend(parsed)
            cpu += seconds
        return out, cpu

    def _call(self, job: tuple) -> tuple[list[CopyObject], float]:
        process, connection = self._idle.get()
        try:
            connection.send(job)
            answer = connection.recv()
        except (EOFError, OSError) as exc:
            with contextlib.suppress(Exception):
                process.wait(1)
            raise ParseWorkerError(f"parse worker {process.pid} exited (code {process.returncode})") from exc
        finally:
            self._idle.put((process, connection))
        if isinstance(answer, str):
            raise ParseWorkerError(f"parse worker {process.pid} failed: {answer}")
        return answer

    def close(self) -> None:
        import subprocess

        if hasattr(self, "_threads"):
            self._threads.shutdown(wait=True)
        for _, connection in self._workers:
            with contextlib.suppress(OSError):
                connection.send(None)
            connection.close()
        for process, _ in self._workers:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._workers = []


def serve_parse_jobs(fd: int) -> None:
    """A parse worker (``ParsePool``): jobs (``parse_items``' arguments) in on the socket
    ``fd``, ``parse_items``' answer (or an error message) out, until None or EOF."""
    import traceback
    from multiprocessing.connection import Connection

    connection = Connection(fd)
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            answer: Any = parse_items(*job)
        except Exception as exc:  # the message goes back; the run fails there with it
            answer = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
        connection.send(answer)
