"""Running untrusted code (a student's notebook) under bubblewrap, without Docker.

``command()`` wraps an argv in a ``bwrap`` command line: no network (only a private loopback,
enough for the Jupyter kernel's zmq sockets), a read-only view of the system and of the Python
environment, the kit's own package folder read-only (never the checkout around it: no
``solutions/``, ``assignments/``, ``tests/``), a private ``/tmp``, ``/dev/shm`` and ``HOME`` on
size-capped tmpfs, the work folder as the only writable place, a new pid namespace (killing
``bwrap`` kills the whole tree), a cleared environment, and resource limits set *inside* the
sandbox with ``prlimit``.

Two modes, chosen by who runs the grader:

* **user** (a normal account): ``bwrap --unshare-user`` maps the user to itself.
* **root**: a user namespace created by root maps to kernel uid 0, and the kernel does not
  apply ``RLIMIT_NPROC`` to uid 0 (a fork bomb would not be stopped). So ``bwrap`` runs as root
  without a user namespace, gives the work folder to ``Limits.uid`` (``nobody``), drops to that
  uid with ``setpriv`` (no capabilities, no_new_privs) and then enters a nested unprivileged
  ``bwrap --unshare-user``.

In both modes the process limit is set inside a fresh user namespace, where (Linux >= 5.14)
``RLIMIT_NPROC`` counts only the tasks of that namespace: concurrent sandboxes and the
grader's own processes do not eat into each other's budget. ``--disable-userns`` stops the
student's code from creating further user namespaces.

Memory: ``RLIMIT_AS`` is not used, TensorFlow reserves gigabytes of address space it never
touches (3.3 GB peak address space for 1.2 GB resident in a short training run). The cap is
``RLIMIT_DATA`` (private writable memory, which is what an allocation uses), per process;
the caller's tree-wide RSS poll (``supervise``) covers several processes together.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from autograder.errors import GradingError

GiB, MiB = 1 << 30, 1 << 20

#: HOME inside the sandbox: a private tmpfs, so ~/.jupyter, ~/.keras, ~/.cache are not the host's.
SANDBOX_HOME = "/home/sandbox"
#: Environment variables passed into the sandbox when the caller sets them; all others are dropped.
ALLOWED_ENV = frozenset({
    "LANG", "LC_ALL", "TZ", "KERAS_HOME", "MPLBACKEND", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS",
    "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONIOENCODING",
    "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "JUPYTER_PLATFORM_DIRS", "FASHION_MNIST_DIR",
    "FMNIST_KIT_WORKDIR", "FMNIST_KIT_PARAMS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
})
#: Top-level system folders shown read-only (or recreated as the same symlink).
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
#: What of /etc the sandbox sees: the dynamic loader, name lookup of localhost and users, time
#: zone, fonts (matplotlib), MIME types. Not the rest (no ssh keys, no host configuration).
ETC_FILES = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "hosts",
    "host.conf", "localtime", "timezone", "fonts", "mime.types", "alternatives", "os-release",
)


class SandboxError(GradingError):
    """The sandbox cannot be set up (bubblewrap missing, namespaces disabled, a bad path)."""


@dataclass(frozen=True)
class SandboxStatus:
    available: bool
    reason: str
    mode: str = ""  # "root" or "user": see the module docstring


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox; every process in it gets them (wall clock: the caller's)."""

    #: RLIMIT_DATA per process (bytes): an allocation beyond it fails with MemoryError.
    memory: int = 4 * GiB
    #: RLIMIT_NPROC: tasks (processes *and threads*) in the sandbox. An idle TensorFlow kernel
    #: plus the worker use about 60; a fork bomb stops here.
    processes: int = 512
    #: RLIMIT_FSIZE (bytes): no file written in the sandbox, the log included, grows beyond it.
    file_size: int = 512 * MiB
    #: Bytes of stdout+stderr kept by ``OutputCap`` (the rest is read and dropped).
    output: int = 16 * MiB
    #: Size of each private tmpfs (/tmp, /dev/shm, HOME): they live in RAM.
    tmpfs: int = 512 * MiB
    #: RLIMIT_NOFILE.
    open_files: int = 4096
    #: The uid (and gid) the code runs as when the grader is root.
    uid: int = 65534

    def __post_init__(self) -> None:
        for name in ("memory", "processes", "file_size", "output", "tmpfs", "open_files"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive integer, not {value!r}")
        if self.uid <= 0:
            raise ValueError(f"Limits.uid must not be root, not {self.uid!r}")


def _mode() -> str:
    return "root" if os.geteuid() == 0 else "user"


# ---------------------------------------------------------------------------------------------
# The command line


def python_paths() -> list[Path]:
    """Folders the current interpreter needs: the venv, the base installation it links to."""
    found = [Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent.parent]
    return _outermost(p.resolve() for p in found)


def package_dir() -> Path:
    """The kit's package folder (with an editable install, a folder of the checkout)."""
    import autograder

    return Path(autograder.__file__).resolve().parent


def command(
    argv: Sequence[str],
    *,
    workdir: Path,
    readonly: Iterable[Path] = (),
    env: dict[str, str] | None = None,
    limits: Limits | None = None,
) -> list[str]:
    """The ``bwrap`` command line that runs ``argv`` sandboxed, with ``workdir`` writable.

    ``readonly``: extra folders to show read-only (the Keras cache, the data set); the Python
    environment and the kit's package are always shown. ``env`` is filtered through
    ``ALLOWED_ENV``; PATH and HOME are the sandbox's own. Paths keep their host names inside, so
    absolute paths in ``argv`` work unchanged. In root mode ``workdir`` is given to
    ``limits.uid`` (chown) when the sandbox starts.
    """
    limits = limits or Limits()
    if not argv:
        raise SandboxError("nothing to run in the sandbox (empty argv)")
    workdir = Path(workdir).resolve()
    if not workdir.is_dir() or workdir == Path("/"):
        raise SandboxError(f"the sandbox's work folder {workdir} is not a folder",
                           hint="create it before building the command")
    mode = _mode()
    env = env or {}
    mounts = _mounts(workdir, [Path(p) for p in readonly], env.get("KERAS_HOME"))

    cmd = ["bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
           "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if mode == "user":
        cmd += ["--unshare-user", "--disable-userns"]
    for name in SYSTEM_DIRS:
        host = Path("/") / name
        if host.is_symlink():
            cmd += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            cmd += ["--ro-bind", str(host), str(host)]
    cmd += ["--perms", "0755", "--dir", "/etc", "--perms", "0755", "--dir", "/home"]  # else 0700
    for name in ETC_FILES:
        cmd += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    cmd += ["--proc", "/proc", "--dev", "/dev"]
    for path, perms in (("/tmp", "1777"), ("/dev/shm", "1777"), (SANDBOX_HOME, "0777")):
        cmd += ["--perms", perms, "--size", str(limits.tmpfs), "--tmpfs", path]
    made = {Path("/"), Path("/etc"), Path("/home"), Path("/tmp"), Path("/dev"), Path(SANDBOX_HOME)}
    for kind, path in mounts:
        for parent in reversed(path.parents):
            if parent not in made and not _covered(parent):  # bwrap would make it 0700
                cmd += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        if kind == "tmpfs":  # KERAS_HOME: only keras.json is ever written there
            cmd += ["--perms", "0777", "--size", str(min(limits.tmpfs, 16 * MiB)), "--tmpfs", str(path)]
        else:
            cmd += ["--bind" if kind == "rw" else "--ro-bind", str(path), str(path)]
        made.add(path)
    cmd += ["--chdir", str(workdir), "--clearenv"]
    for key, value in sorted(_sandbox_env(env).items()):
        cmd += ["--setenv", key, value]

    inner = ["prlimit", f"--nproc={limits.processes}:{limits.processes}",
             f"--data={limits.memory}:{limits.memory}",
             f"--fsize={limits.file_size}:{limits.file_size}",
             f"--nofile={limits.open_files}:{limits.open_files}", "--core=0:0", "--", *argv]
    if mode == "user":
        return [*cmd, "--", *inner]
    u = limits.uid
    script = (f'chown -R -h {u}:{u} -- "$1" && shift && exec setpriv --reuid={u} --regid={u} '
              '--clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"')
    nested = ["bwrap", "--unshare-user", "--disable-userns", "--die-with-parent", "--dev-bind", "/", "/",
              "--chdir", str(workdir), "--"]
    return [*cmd, "--", "/bin/sh", "-c", script, "sandbox-init", str(workdir), *nested, *inner]


def _sandbox_env(env: dict[str, str]) -> dict[str, str]:
    out = {k: v for k, v in env.items() if k in ALLOWED_ENV}
    out.setdefault("LANG", "C.UTF-8")
    venv_bin = Path(sys.prefix) / "bin"
    out.update(PATH=f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", HOME=SANDBOX_HOME,
               USER="sandbox", LOGNAME="sandbox")
    return out


def _mounts(workdir: Path, readonly: list[Path], keras_home: str | None) -> list[tuple[str, Path]]:
    """("ro" | "rw" | "tmpfs", path) in mount order; refuses a path that would show too much.

    ``KERAS_HOME`` becomes a private tmpfs with its ``datasets/`` shown read-only on top: Keras
    falls back to ``/tmp/.keras`` (and then tries to download) when ``KERAS_HOME`` is not
    writable, so a plain read-only bind of the cache does not work.
    """
    pkg = package_dir()
    env = python_paths()
    ro = list(env)
    if not any(pkg.is_relative_to(p) for p in env):  # editable install: the package alone
        ro.append(pkg)
    for extra in readonly:
        if not extra.is_absolute():
            raise SandboxError(f"read-only path {extra} must be absolute")
        extra = extra.resolve()
        if not extra.exists():
            raise SandboxError(f"read-only path {extra} does not exist")
        if workdir.is_relative_to(extra):
            raise SandboxError(
                f"read-only path {extra} contains the work folder {workdir}",
                hint="it would show the sandbox its sibling folders (other submissions); "
                     "keep shared inputs outside the batch's output folder")
        ro.append(extra)
    checkout = pkg.parent
    for p in ro:
        if p != pkg and checkout.is_relative_to(p) and not pkg.is_relative_to(Path(sys.prefix)):
            raise SandboxError(
                f"read-only path {p} contains the kit checkout {checkout}",
                hint="the sandbox would see solutions/ and assignments/; put the virtual "
                     "environment in its own folder (e.g. the checkout's .venv)")
    keras: list[tuple[str, Path]] = []
    if keras_home:
        home = Path(keras_home)
        if not home.is_absolute():
            raise SandboxError(f"KERAS_HOME {keras_home} must be an absolute path")
        home = home.resolve()
        if workdir.is_relative_to(home) or home.is_relative_to(workdir):
            raise SandboxError(f"KERAS_HOME {home} and the work folder {workdir} overlap")
        ro = [p for p in ro if not p.is_relative_to(home)]
        keras.append(("tmpfs", home))
        if (home / "datasets").is_dir():
            keras.append(("ro", home / "datasets"))
    ro = [p for p in _outermost(ro) if not _covered(p)]
    return [*(("ro", p) for p in ro), *keras, ("rw", workdir)]


def _covered(path: Path) -> bool:
    """Already visible through a system folder bound as a whole (e.g. /usr/share/datasets)."""
    parts = path.parts
    return len(parts) > 1 and parts[1] in SYSTEM_DIRS


def _outermost(paths: Iterable[Path]) -> list[Path]:
    """Drop paths inside another one of the list; keep the order of first appearance."""
    paths = list(dict.fromkeys(paths))
    return [p for p in paths if not any(p != q and p.is_relative_to(q) for q in paths)]


# ---------------------------------------------------------------------------------------------
# Is the sandbox usable here?

_PROBED: dict[int, SandboxStatus] = {}


def probe(*, refresh: bool = False) -> SandboxStatus:
    """Can ``command()`` run here? Runs ``true`` in a full sandbox once per process (cached)."""
    key = os.geteuid() if hasattr(os, "geteuid") else -1
    if refresh or key not in _PROBED:
        _PROBED[key] = _probe()
    return _PROBED[key]


def _probe() -> SandboxStatus:
    if not sys.platform.startswith("linux"):
        return SandboxStatus(False, f"the sandbox needs Linux (bubblewrap); this is {sys.platform}: "
                                    "grade on a Linux machine")
    missing = [tool for tool in ("bwrap", "prlimit", "setpriv") if shutil.which(tool) is None]
    if missing:
        return SandboxStatus(False, f"{', '.join(missing)} not found: install them "
                                    "(sudo apt-get install bubblewrap util-linux)")
    mode = _mode()
    with tempfile.TemporaryDirectory(prefix="fmnist-kit-probe-") as tmp:
        try:
            cmd = command(["/bin/true"], workdir=Path(tmp), limits=Limits())
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired, SandboxError) as exc:
            return SandboxStatus(False, f"bubblewrap could not start: {exc}", mode)
    if proc.returncode == 0:
        return SandboxStatus(True, f"bubblewrap works ({mode} mode)", mode)
    err = proc.stderr.strip().splitlines()
    why = err[-1] if err else f"exit status {proc.returncode}"
    hint = ("enable unprivileged user namespaces: `sudo sysctl -w kernel.unprivileged_userns_clone=1` "
            "(older Debian/Ubuntu), `sudo sysctl -w user.max_user_namespaces=15000`, or on Ubuntu "
            ">= 23.10 allow them for bwrap (AppArmor: `sudo sysctl -w "
            "kernel.apparmor_restrict_unprivileged_userns=0`); or run the grader as root")
    if mode == "root":
        hint = ("as root bubblewrap needs CAP_SYS_ADMIN (in a container: run it with "
                "--privileged or --cap-add SYS_ADMIN) and unprivileged user namespaces for uid "
                f"{Limits().uid}")
    return SandboxStatus(False, f"bubblewrap cannot create its namespaces here ({why}): {hint}", mode)


# ---------------------------------------------------------------------------------------------
# Bounded output (the stages' logs: ``supervise.run_stage``)


class OutputCap:
    """Drain a child's output through a pipe into ``path``, keeping at most ``max_bytes``.

    The rest is read and dropped, so a child printing without end is neither blocked nor killed,
    and the log never grows beyond the cap. Use: ``with OutputCap(log, n) as out:
    Popen(..., stdout=out.fd, stderr=STDOUT); out.started(); ...``; ``truncated`` tells.
    """

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path, self.max_bytes = Path(path), max_bytes
        self.truncated = False
        self.fd = -1
        self._read_fd = -1
        self._thread: threading.Thread | None = None

    def __enter__(self) -> OutputCap:
        self._read_fd, self.fd = os.pipe()
        self._thread = threading.Thread(target=self._drain, name=f"output-cap {self.path}", daemon=True)
        self._thread.start()
        return self

    def started(self) -> None:
        """Close the grader's copy of the write end (after Popen): EOF comes when the child exits."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __exit__(self, *exc: object) -> None:
        self.started()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _drain(self) -> None:
        kept = 0
        try:
            with open(self.path, "wb") as log:
                while chunk := os.read(self._read_fd, 1 << 16):
                    room = self.max_bytes - kept
                    if room > 0:
                        log.write(chunk[:room])
                        kept += min(room, len(chunk))
                    if len(chunk) > room:
                        self.truncated = True
                if self.truncated:
                    log.write(f"\n[output cut at {self.max_bytes} bytes]\n".encode())
        finally:
            os.close(self._read_fd)


def require(unsafe: bool) -> bool:
    """True when grading runs sandboxed; refuse when the sandbox cannot run, unless told to."""
    from autograder.errors import GradingError

    if unsafe:
        print("WARNING: --unsafe-no-sandbox: student code runs with your rights, network and files",
              file=sys.stderr)
        return False
    status = probe()
    if not status.available:
        raise GradingError(
            f"the grading sandbox (bubblewrap) cannot run here: {status.reason}",
            hint="fix that, or grade without isolation by adding --unsafe-no-sandbox "
                 "(only for notebooks you trust)")
    return True
