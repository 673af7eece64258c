"""Start an IPython kernel under a memory cap: ``python -m autograder.kernel MEMORY_MB -f FILE``.

Used by the grading kernelspec. The cap is the address-space limit (RLIMIT_AS), so a student's
memory bomb raises ``MemoryError`` inside the kernel instead of taking the machine down. Where the
operating system does not support the limit, the kernel starts without it.
"""

import sys


def cap_memory(memory_mb: int) -> None:
    """Limit this process (and what it starts) to ``memory_mb`` MiB of address space."""
    try:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass


def main() -> None:
    memory_mb = int(sys.argv[1])
    cap_memory(memory_mb)
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
