"""Process handling shared by the benchmark scripts (run as `python bench/<name>.py`, so this directory is on the
import path)."""

import subprocess


def stop(proc: subprocess.Popen) -> None:
    """Ask a child to stop, and kill it if it has not within ten seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
