"""How mlpspec's processes end: quickly, yet with everything a process promises at exit."""

from __future__ import annotations

import subprocess
import sys


def test_a_process_ends_with_its_code_its_output_flushed_and_its_atexit_handlers_run(tmp_path):
    mark = tmp_path / "atexit-ran"
    code = (
        "import atexit, pathlib, sys\n"
        "from mlpspec.core.shutdown import exit_process\n"
        f"atexit.register(pathlib.Path({str(mark)!r}).write_text, 'yes')\n"
        "sys.stdout.write('unflushed output')\n"
        "exit_process(3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3
    assert done.stdout == "unflushed output"
    assert mark.read_text() == "yes"


def test_the_objects_alive_at_the_end_are_out_of_the_collectors_reach():
    """What spares the shutdown's garbage collections (0.25-0.3 s a command here)."""
    code = (
        "import gc, atexit\n"
        "from mlpspec.core.shutdown import exit_process\n"
        "atexit.register(lambda: print(gc.get_freeze_count() > 0))\n"
        "exit_process(0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout.strip()) == (0, "True")
