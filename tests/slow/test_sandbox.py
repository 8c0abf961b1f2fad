"""The bubblewrap sandbox, proven with real bwrap and small Python snippets run inside it.

The snippets run the way the grader runs a stage: ``supervise.run_stage``, sandboxed, its
output capped into a log by ``sandbox.OutputCap``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from autograder import data
from autograder.grading.execution import sandbox, supervise
from autograder.grading.execution.sandbox import Limits, SandboxError

STATUS = sandbox.probe()
needs_bwrap = pytest.mark.skipif(not STATUS.available, reason=f"no sandbox here: {STATUS.reason}")
CHECKOUT = sandbox.package_dir().parent


@pytest.fixture
def box(tmp_path: Path):
    """Run Python code in a sandbox whose work folder is ``tmp_path/sub-a``; ``sub-b`` is a sibling."""
    workdir = tmp_path / "sub-a"
    workdir.mkdir()
    sibling = tmp_path / "sub-b"
    sibling.mkdir()
    (sibling / "answers.txt").write_text("another student's work")

    def run(code: str, *, limits: Limits | None = None, timeout: float = 60, readonly=(), env=None):
        log = tmp_path / f"log-{uuid.uuid4().hex}.txt"
        res = supervise.run_stage([sys.executable, "-c", textwrap.dedent(code)], workdir=workdir, log=log,
                                  readonly=list(readonly), env=dict(env or {}), limits=limits,
                                  timeout=timeout)
        return res, log.read_text(errors="replace")

    run.workdir, run.sibling = workdir, sibling
    return run


def _no_process_with(token: str) -> bool:
    import psutil

    for p in psutil.process_iter(["cmdline"]):
        if token in " ".join(p.info["cmdline"] or []):
            return False
    return True


# --- the command line itself (no bwrap needed) -----------------------------------------------


def test_refuses_a_readonly_folder_that_holds_the_workdir(tmp_path):
    """Would sharing the batch's output folder read-only show other submissions? It is refused."""
    (tmp_path / "sub-a").mkdir()
    with pytest.raises(SandboxError, match="contains the work folder"):
        sandbox.command(["true"], workdir=tmp_path / "sub-a", readonly=[tmp_path])


def test_refuses_to_show_the_kit_checkout(tmp_path):
    """Is the checkout (solutions/, assignments/) refused as a read-only path?"""
    with pytest.raises(SandboxError, match="kit checkout"):
        sandbox.command(["true"], workdir=tmp_path, readonly=[CHECKOUT])


def test_only_the_package_folder_of_the_checkout_is_bound(tmp_path):
    cmd = sandbox.command(["true"], workdir=tmp_path)
    bound = {cmd[i + 1] for i, a in enumerate(cmd) if a in ("--ro-bind", "--bind")}
    assert str(sandbox.package_dir()) in bound
    assert not {str(CHECKOUT), str(CHECKOUT / "solutions"), str(CHECKOUT / "tests")} & bound
    assert "--unshare-net" in cmd and "--die-with-parent" in cmd and "--clearenv" in cmd


def test_environment_is_an_allow_list(tmp_path):
    cmd = sandbox.command(["true"], workdir=tmp_path, env={"KERAS_HOME": "/k", "AWS_SECRET": "x",
                                                           "HOME": "/root", "PYTHONPATH": "/x"})
    env = {cmd[i + 1]: cmd[i + 2] for i, a in enumerate(cmd) if a == "--setenv"}
    assert env["KERAS_HOME"] == "/k" and env["HOME"] == sandbox.SANDBOX_HOME
    assert "AWS_SECRET" not in env and "PYTHONPATH" not in env


@pytest.mark.parametrize("field", ["memory", "processes", "file_size", "output", "tmpfs"])
def test_limits_are_validated(field):
    with pytest.raises(ValueError, match=field):
        Limits(**{field: 0})


# --- real bwrap ---------------------------------------------------------------------------------


@needs_bwrap
def test_no_network_but_a_private_loopback(box):
    """Is the host's listening socket unreachable, and every outside address too?"""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        res, out = box(f"""
            import socket
            for addr in [("127.0.0.1", {port}), ("1.1.1.1", 53), ("10.0.0.1", 80)]:
                try:
                    socket.create_connection(addr, timeout=3)
                    print("CONNECTED", addr)
                except OSError as exc:
                    print("blocked", addr, type(exc).__name__)
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()   # own loopback works
            c = socket.create_connection(s.getsockname()); print("loopback ok")
            print("localhost is", socket.gethostbyname("localhost"))  # otter's log server binds it
        """)
    finally:
        server.close()
    assert res.returncode == 0, out
    assert "CONNECTED" not in out and out.count("blocked") == 3 and "loopback ok" in out
    assert "localhost is 127.0.0.1" in out


@needs_bwrap
def test_only_the_workdir_is_writable(box):
    res, out = box("""
        import os
        for path in ["/work/main/x", "/work/main/.venv/x", "/work/main/autograder/x", "/root/x",
                     "/etc/x", "/usr/x", os.path.expanduser("~/../x")]:
            try:
                open(path, "w").write("x")
                print("WROTE", path)
            except OSError as exc:
                print("refused", path, exc.strerror)
        open("result.txt", "w").write("mine")
    """)
    assert res.returncode == 0, out
    assert "WROTE" not in out and out.count("refused") == 7
    assert (box.workdir / "result.txt").read_text() == "mine"
    assert not Path("/work/main/x").exists() and not Path("/root/x").exists()


@needs_bwrap
def test_siblings_solutions_and_tests_are_not_visible(box):
    res, out = box(f"""
        import os
        for path in [{str(box.sibling / 'answers.txt')!r}, {str(box.sibling)!r},
                     {str(CHECKOUT / 'solutions')!r}, {str(CHECKOUT / 'assignments')!r},
                     {str(CHECKOUT / 'tests')!r}, "/root/.ssh", "/etc/shadow"]:
            print("SEEN" if os.path.exists(path) else "hidden", path)
        print(sorted(os.listdir({str(CHECKOUT)!r})))
    """)
    assert res.returncode == 0, out
    assert "SEEN" not in out and out.count("hidden") == 7
    assert "['.venv', 'autograder']" in out or "['autograder']" in out


@needs_bwrap
def test_tmp_and_home_are_private(box):
    host_file = Path(f"/tmp/fmnist-kit-host-{uuid.uuid4().hex}")
    host_file.write_text("host secret")
    try:
        res, out = box(f"""
            import os
            print("SEEN" if os.path.exists({str(host_file)!r}) else "hidden")
            open("/tmp/inside-{host_file.name}", "w").write("x")
            print(os.environ["HOME"], os.listdir(os.environ["HOME"]), sorted(os.environ))
        """, env={"SECRET_TOKEN": "x", "KERAS_HOME": "/nowhere"})
    finally:
        host_file.unlink()
    assert res.returncode == 0, out
    assert "hidden" in out and "SECRET_TOKEN" not in out
    assert f"{sandbox.SANDBOX_HOME} []" in out
    assert not Path(f"/tmp/inside-{host_file.name}").exists()


@needs_bwrap
def test_process_limit_stops_forking(box):
    """Does forking fail at Limits.processes (root is exempt from RLIMIT_NPROC: not here)?"""
    res, out = box("""
        import os, time
        n = 0
        try:
            while n < 1000:
                if os.fork() == 0:
                    time.sleep(30); os._exit(0)
                n += 1
        except OSError as exc:
            print("fork refused after", n, type(exc).__name__, flush=True)
        os._exit(0)
    """, limits=Limits(processes=40), timeout=30)
    assert "fork refused after" in out, out
    assert int(out.split("after")[1].split()[0]) < 40


@needs_bwrap
def test_fork_bomb_is_contained_and_killed_at_the_timeout(box):
    token = f"bomb-{uuid.uuid4().hex}"
    res, out = box(f"""
        import os, time
        # {token}
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)
    """, limits=Limits(processes=64), timeout=4)
    assert res.killed == "timeout"
    deadline = time.monotonic() + 5  # the pid namespace is torn down asynchronously
    while not _no_process_with(token) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _no_process_with(token)
    assert subprocess.run(["true"]).returncode == 0  # the host can still fork


@needs_bwrap
def test_allocating_20_gb_fails(box):
    res, out = box("""
        import numpy as np
        for make in (lambda: bytearray(20 << 30), lambda: np.ones(20 << 30, dtype=np.uint8)):
            try:
                make(); print("ALLOCATED")
            except MemoryError:
                print("MemoryError")
    """)
    assert res.returncode == 0, out
    assert out.count("MemoryError") == 2 and "ALLOCATED" not in out


@needs_bwrap
def test_a_5_gb_file_stops_at_the_size_limit(box):
    res, out = box("""
        chunk = b"x" * (16 << 20)
        try:
            with open("big.bin", "wb") as f:
                for _ in range(5 * 64):  # 5 GiB
                    f.write(chunk)
            print("WROTE 5 GB")
        except OSError as exc:
            print("stopped:", exc.strerror)
    """, limits=Limits(file_size=64 << 20))
    assert "stopped: File too large" in out, out
    assert (box.workdir / "big.bin").stat().st_size <= 64 << 20


@needs_bwrap
def test_huge_output_is_capped(box):
    res, out = box("""
        import os
        line = b"y" * 1023 + b"\\n"
        for _ in range(200 * 1024):  # 200 MB
            os.write(1, line)
        print("done")
    """, limits=Limits(output=1 << 20), timeout=60)
    assert res.returncode == 0 and res.output_truncated
    assert len(out) < (1 << 20) + 100 and out.endswith(f"[output cut at {1 << 20} bytes]\n")


@needs_bwrap
def test_tensorflow_and_fashion_mnist_work_inside(box):
    keras_home = data.provide_keras_cache()
    res, out = box("""
        import autograder, tensorflow, keras
        (x, y), (xt, yt) = keras.datasets.fashion_mnist.load_data()
        print("shapes", x.shape, xt.shape)
    """, readonly=[keras_home], env={"KERAS_HOME": str(keras_home), "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=120)
    assert res.returncode == 0, out
    assert "shapes (60000, 28, 28) (10000, 28, 28)" in out


@needs_bwrap
def test_a_jupyter_kernel_starts_inside(box):
    """The worker runs a kernel over zmq on loopback: does that work without a network?"""
    res, out = box("""
        from jupyter_client.manager import start_new_kernel
        km, kc = start_new_kernel(kernel_name="fmnist-kit", startup_timeout=60)
        try:
            def hook(msg):
                print("kernel:", msg["content"].get("text", "").strip())
            reply = kc.execute_interactive("print(1 + 1)", timeout=30, output_hook=hook)
            print("status", reply["content"]["status"])
        finally:
            kc.stop_channels(); km.shutdown_kernel(now=True)
    """, timeout=120)
    assert res.returncode == 0, out
    assert "kernel: 2" in out and "status ok" in out


USER_MODE_SNIPPET = """
import os, socket
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
except OSError:
    print("net blocked")
print("root visible" if os.path.exists("/root/.pyenv") else "root hidden")
n = 0
try:
    while n < 500:
        n += 1
        if os.fork() == 0:
            os.pause()
except OSError:
    print("forks", n, flush=True)
os._exit(0)
"""


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv") or not Path("/usr/bin/python3").exists(),
                    reason="needs root (to switch to an unprivileged user) and a system python3")
def test_user_mode_works_for_an_unprivileged_grader():
    """Run by a normal account (here: nobody, with the system python), does the sandbox work too?"""
    base = Path(tempfile.mkdtemp(prefix="fmnist-kit-usermode-", dir="/tmp"))
    try:
        base.chmod(0o755)
        work = base / "w"
        work.mkdir()
        os.chown(work, 65534, 65534)
        script = textwrap.dedent(f"""
            import sys; sys.path.insert(0, {str(CHECKOUT)!r})
            from pathlib import Path
            from autograder.grading.execution import sandbox
            from autograder.grading.execution import supervise
            print(sandbox.probe())
            import subprocess
            cmd = sandbox.command([sys.executable, "-c", {USER_MODE_SNIPPET!r}], workdir=Path({str(work)!r}),
                                  limits=sandbox.Limits(processes=30))
            with sandbox.OutputCap(Path({str(work / 'log')!r}), 1 << 20) as out:
                p = subprocess.Popen(cmd, stdout=out.fd, stderr=subprocess.STDOUT)
                out.started()
                rc = p.wait(timeout=30)
            print(rc, open({str(work / 'log')!r}).read())
        """)
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                               "/usr/bin/python3", "-c", script], capture_output=True, text=True,
                              timeout=60, cwd="/", env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})
    finally:
        shutil.rmtree(base)
    out = proc.stdout + proc.stderr
    assert "available=True" in out and "mode='user'" in out, out
    assert "net blocked" in out and "root hidden" in out, out
    assert "forks" in out and int(out.split("forks")[1].split()[0]) <= 30, out
