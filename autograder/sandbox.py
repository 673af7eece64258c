"""Run a grading kernel in a bubblewrap sandbox: ``python -m autograder.sandbox MEMORY_MB -f FILE``.

The grading kernelspec starts this launcher instead of the kernel itself, in the fresh scratch
folder that :class:`autograder.preprocessors.JudgedExecute` made for this one kernel. It starts
:mod:`autograder.kernel` inside ``bwrap`` with

* a file-system view of the Python installation (read-only), ``aelib`` and ``autograder``
  (read-only), the data cache (read-only), the judge's requests and answer pipes (``../inbox``,
  read-only), the kernel's own connection folder (sealed read-only by the grader once the kernel
  is up), and its working folder, ``/tmp`` and ``/dev/shm`` as memory of ``TMPFS_MB`` each: the
  kernel writes nothing on the host's disk. No submission, no ``solutions/``, no gradebook, no
  other student, no home folder;
* new network, process, IPC and host-name namespaces: no network, and every process the kernel
  starts is killed when it ends;
* the kernel's own limits (:mod:`autograder.kernel`): memory, number of processes, and an
  unprivileged user id.

The connection file must lie in a folder of its own (``KernelManager.connection_file``) and the
kernel must talk over ZeroMQ's ``ipc`` transport (no TCP across a new network namespace); the
grader sets both. :func:`unavailable` says why a machine cannot sandbox, if it cannot.
"""

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

BWRAP = "bwrap"
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/passwd", "/etc/group",
                "/etc/nsswitch.conf", "/etc/localtime", "/etc/fonts")
MERGED_USR = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
TMPFS_MB = 256  # /tmp and /dev/shm are memory that the kernel's address-space cap does not count


def unavailable() -> str | None:
    """Why kernels cannot be sandboxed on this machine, or None when they can."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})"
    if shutil.which(BWRAP) is None:
        return "bubblewrap (bwrap) is not installed"
    probe = subprocess.run([BWRAP, *_namespaces(), "--ro-bind", "/", "/", "true"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"bwrap cannot create namespaces here: {probe.stderr.strip()[:200]}"
    return None


def _namespaces() -> list[str]:
    return ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"]


def _readable_paths() -> list[Path]:
    """What the kernel needs to read: Python, its packages, aelib, autograder, the data cache."""
    import aelib
    from aelib.data import ENV_VAR

    paths = {Path(sys.base_prefix), Path(sys.prefix), Path(aelib.__file__).parent, Path(__file__).parent}
    data_cache = os.environ.get(ENV_VAR, "").strip()
    paths.add(Path(data_cache).expanduser() if data_cache else Path.home() / ".cache" / "aelib")
    return sorted(p.resolve() for p in paths if p.exists())


def _dirs_to_create(paths: list[Path]) -> list[Path]:
    """The folders above ``paths`` that the sandbox must create (traversable), parents first.

    ``/usr`` is bound whole and ``/tmp`` is a fresh tmpfs: folders inside /usr exist already,
    folders inside /tmp are created in the tmpfs.
    """
    above = {parent for path in paths for parent in path.parents}
    keep = [p for p in above if p not in (Path("/"), Path("/usr"), Path("/tmp")) and Path("/usr") not in p.parents]
    return sorted(keep, key=lambda p: len(p.parts))


def command(connection_file: Path, workdir: Path, kernel_args: list[str]) -> list[str]:
    """The ``bwrap`` command line that runs ``python -m autograder.kernel KERNEL_ARGS`` sandboxed."""
    connection_dir = connection_file.resolve().parent
    inbox = workdir.resolve().parent / "inbox"
    readable = _readable_paths() + ([inbox] if inbox.is_dir() else [])
    writable = [connection_dir]
    argv = [BWRAP, *_namespaces(), "--new-session", "--ro-bind", "/usr", "/usr"]
    for name in MERGED_USR:
        top = Path("/") / name
        if top.is_symlink():
            argv += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            argv += ["--ro-bind", str(top), str(top)]
    size = str(TMPFS_MB * 1024 * 1024)
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", size, "--tmpfs", "/tmp",
             "--perms", "1777", "--size", size, "--tmpfs", "/dev/shm"]
    if os.environ.get("AELIB_DEVICE", "cpu").startswith("cuda"):  # grading on a GPU: its device files
        argv += [arg for node in sorted(glob.glob("/dev/nvidia*")) for arg in ("--dev-bind", node, node)]
    argv += ["--perms", "0755", "--dir", "/etc"]  # bwrap would make it 0700: closed to the kernel's user
    for path in SYSTEM_FILES:
        if os.path.exists(path):
            argv += ["--ro-bind", path, path]
    for folder in _dirs_to_create(readable + writable + [workdir.resolve()]):
        argv += ["--perms", "0755", "--dir", str(folder)]
    for path in readable:
        argv += ["--ro-bind", str(path), str(path)]
    for path in writable:
        argv += ["--bind", str(path), str(path)]
    argv += ["--perms", "0777", "--size", size, "--tmpfs", str(workdir.resolve())]
    argv += ["--chdir", str(workdir.resolve()), "--unsetenv", "JPY_PARENT_PID",
             "--setenv", "HOME", "/tmp", "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib",
             "--setenv", "XDG_CACHE_HOME", "/tmp/cache",
             "--setenv", "AELIB_SANDBOXED", "1"]
    return argv + [sys.executable, "-m", "autograder.kernel", *kernel_args]


def main() -> None:
    kernel_args = sys.argv[1:]
    connection_file = Path(kernel_args[kernel_args.index("-f") + 1])
    # the kernel drops to an unprivileged user: it must still read its connection file and
    # create its sockets, both in this private folder
    os.chmod(connection_file.parent, 0o777)
    os.chmod(connection_file, 0o644)
    argv = command(connection_file, Path.cwd(), kernel_args)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()
