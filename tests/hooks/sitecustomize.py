"""Test-only fault injection, imported at start-up by every Python process whose PYTHONPATH begins
with this folder (engine workers and Slurm jobs inherit it): with
``$PNLIB_TEST_PAUSE_IN_WRITE="<file name>:<seconds>[:<nth>]"``, the nth atomic write of that file
pauses after its bytes are written to the temporary file and before they are renamed into place,
and says so on stdout, so that a test can kill the process at a known point. pnlib itself holds
no test hook; ``tests/write_pause.py`` builds the environment."""

import os

_SPEC = os.environ.get("PNLIB_TEST_PAUSE_IN_WRITE")
if _SPEC:
    import time

    _name, _seconds, _nth = (_SPEC.split(":") + ["1"])[:3]
    _real_fsync, _count = os.fsync, [0]

    def _pausing_fsync(fd):
        _real_fsync(fd)
        try:
            base = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            return
        if base.startswith(f".{_name}."):  # pnlib.base.store's temporary for that file
            _count[0] += 1
            if _count[0] == int(_nth):
                print(f"PAUSED-IN-WRITE {base} pid {os.getpid()}", flush=True)
                time.sleep(float(_seconds))

    os.fsync = _pausing_fsync
