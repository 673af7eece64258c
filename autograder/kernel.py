"""Start an IPython kernel under limits: ``python -m autograder.kernel MEMORY_MB -f FILE``.

Used by the grading kernelspec, directly or inside the sandbox (:mod:`autograder.sandbox`).

* memory: the address-space limit (RLIMIT_AS), so a student's memory bomb raises ``MemoryError``
  inside the kernel instead of taking the machine down;
* processes: at most ``MAX_PROCESSES`` processes and threads for the kernel's user (RLIMIT_NPROC),
  so a fork bomb stops early;
* files: none larger than ``MAX_FILE_MB`` (RLIMIT_FSIZE);
* inside the sandbox, a kernel started as root drops to the unprivileged user id
  ``$AELIB_SANDBOX_UID`` (one per grading worker, so one student's fork bomb cannot use up
  another's processes; root ignores the process limit).

Where the operating system lacks a limit, the kernel starts without it.
"""

import os
import sys

MAX_PROCESSES = 512
MAX_FILE_MB = 256
NOBODY = 65534


def set_limit(name: str, value: int) -> None:
    """Set the resource limit ``RLIMIT_<name>`` to ``value``, where the system has it."""
    try:
        import resource

        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (value, value))
    except (ImportError, AttributeError, ValueError, OSError):
        pass


def drop_privileges(uid: int) -> None:
    """Become the unprivileged user (and group) ``uid`` if this process runs as root."""
    if hasattr(os, "getuid") and os.getuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def main() -> None:
    memory_mb = int(sys.argv[1])
    set_limit("AS", memory_mb * 1024 * 1024)
    set_limit("NPROC", MAX_PROCESSES)
    set_limit("FSIZE", MAX_FILE_MB * 1024 * 1024)
    if os.environ.get("AELIB_SANDBOXED") == "1":
        drop_privileges(int(os.environ.get("AELIB_SANDBOX_UID", NOBODY)))
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
