"""A throw-away PostgreSQL 15 cluster of our own, which we may restart at will.

The shared server on 127.0.0.1:5432 serves everybody's tests, so a benchmark that restarts
PostgreSQL must not touch it. This one is `initdb`'d into a temporary directory, listens on
127.0.0.1 at a port the OS picked, keeps its unix socket in that directory, and is stopped
and deleted when the block ends, whatever happened inside it.

`restart()` is `pg_ctl restart -m fast`: what `pg_ctlcluster 15 main restart` does for a
Debian cluster (its default mode is fast too): open sessions are cut, running transactions
roll back, and the server accepts connections again once it is up.

PostgreSQL refuses to run as root; as root the binaries run as the `postgres` user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devstack.stack import free_port

BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVER_USER = "postgres"
TIMEOUT = 60.0


@dataclass(frozen=True)
class Cluster:
    directory: Path
    port: int

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def pg_ctl(self, *args: str) -> None:
        _run(str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", *args)

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory}"
        self.pg_ctl("-o", options, "start")

    def restart(self) -> None:
        self.pg_ctl("-m", "fast", "restart")

    def stop(self) -> None:
        try:
            self.pg_ctl("-m", "fast", "stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            # Its files are about to be deleted: no need to shut down cleanly.
            self.pg_ctl("-m", "immediate", "stop")


def _as_server_user() -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []


def _run(*command: str) -> None:
    done = subprocess.run(  # noqa: S603 - PostgreSQL's own tools, fixed arguments
        [*_as_server_user(), *command],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")


@contextlib.contextmanager
def own_cluster() -> Iterator[Cluster]:
    """A fresh, running cluster (trust auth, superuser `postgres`), deleted afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="soak-pg-"))
    try:
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(directory, user.pw_uid, user.pw_gid)
        cluster = Cluster(directory, free_port())
        _run(
            str(BIN / "initdb"),
            "-D",
            str(cluster.data),
            "-A",
            "trust",
            "-U",
            SERVER_USER,
            "-E",
            "UTF8",
            "--no-sync",  # a throw-away cluster: its files need not survive a power cut
        )
        cluster.start()
        try:
            yield cluster
        finally:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                cluster.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
