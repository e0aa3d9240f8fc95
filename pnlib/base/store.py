"""Run folders that describe themselves, written atomically so a kill never leaves a torn file.

``results/<experiment>/runs/<run-id>/`` holds ``config.json`` (with the git commit), tidy metrics
(CSV/JSON) and tensors (``*.pt``, gitignored). A finished step is marked by its metrics file;
re-running skips it. Resuming under a different config is refused, never mixed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from pnlib.base import seeds

_UMASK = os.umask(0)
os.umask(_UMASK)


def project_root() -> Path:
    """The repository root (where pyproject.toml is), so notebooks find results/ and data/."""
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / "pyproject.toml").exists() and (d / "pnlib").is_dir():
            return d
    return Path(__file__).resolve().parent.parent


def shown(path: str | Path) -> str:
    """A path as reports print it: relative to the repository when it lies inside it, so an
    executed report does not carry the absolute paths of the machine that ran it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(project_root()))
    except ValueError:
        return str(path)


def git_commit(where: str | Path | None = None) -> str:
    """The commit of the code, ``+dirty`` when tracked code differs from it. What a run writes
    itself (``reports/``, ``results/``) does not count: ``make run`` rewrites them as it goes."""
    where = where or Path(__file__).parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ":/",
                ":(exclude,top)reports",
                ":(exclude,top)results",
            ],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return (
            out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
            if out.returncode == 0
            else "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # the writer's host and pid in the name: a later start removes only the temporaries of dead writers
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.{HOST}.{os.getpid()}.", suffix=".tmp", dir=path.parent
        )
    except OSError as e:
        raise PermissionError(
            f"cannot write results to {path.parent}: {e.strerror}. "
            f"Choose a writable results folder (parameter results_dir) or fix its "
            f"permissions."
        ) from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


HOST = socket.gethostname().replace(".", "-")
STALE_FOREIGN_S = 24 * 3600  # another host's temporary this old has no live writer


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temps(folder: str | Path) -> int:
    """Delete the temporary files that killed writers left behind (the real files are intact).
    A temporary of a live writer, here or on another host of a shared folder, is left alone."""
    removed = 0
    for p in Path(folder).rglob(".*.tmp") if Path(folder).exists() else []:
        parts = p.name.split(".")  # "", name..., host, pid, random + "tmp"
        try:
            host, pid = parts[-4], int(parts[-3])
        except (IndexError, ValueError):
            host, pid = None, None  # an older name without writer: treat as another host's
        mine = host == HOST
        try:
            old = time.time() - p.stat().st_mtime > STALE_FOREIGN_S
        except FileNotFoundError:
            continue
        if (mine and not _alive(pid)) or (not mine and old):
            p.unlink(missing_ok=True)
            removed += 1
    return removed


def append_line(path, line: str) -> None:
    """Append one line (a single write with O_APPEND: whole lines from several processes on a local
    filesystem; NFS does not promise that, so on a cluster this log is a record, not a proof)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666 & ~_UMASK)
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode())
    finally:
        os.close(fd)


def write_json(path, obj) -> None:
    # keys keep their order, so a record read back equals the record written (resume = fresh run)
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=str) + "\n").encode())


def read_json(path):
    return json.loads(Path(path).read_text())


def write_csv(path, df: pd.DataFrame) -> None:
    atomic_write_bytes(path, df.to_csv(index=False).encode())


def save_tensors(path, obj) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_tensors(path, device="cpu"):
    """Tensors and plain containers only (``weights_only``): a results folder, shared on a cluster
    or downloaded from someone else, can never run code on load."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"{path}: refused to load: it holds more than tensors and plain containers, so loading "
            f"it could run code ({first}). Results are never written like that: delete the file "
            f"(pnlib recomputes it) and check where the folder came from."
        ) from None


def iso_time(t: float) -> str:
    """A local timestamp with milliseconds, as the run records write it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"


def state_hash(state: dict) -> str:
    """The bytes of a state dict (sorted by name), hashed: the identity of a start point."""
    h = hashlib.sha1()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


# The results schema: part of every cache key (trajectories, runs, θ₀ files, tables), so that what
# code of another schema wrote is never found, so never misread. Raise it when what a key names
# changes meaning; there is no code that reads an older schema.
SCHEMA = 2


def config_hash(config: dict) -> str:
    """The key of a cached result: a hash of ``config`` and the results schema."""
    keyed = {"schema": SCHEMA, **config}
    return hashlib.sha1(json.dumps(keyed, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _flatten(d: dict, prefix="") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(_flatten(v, key + ".") if isinstance(v, dict) else {key: v})
    return out


RESULTS_ENV = "PNLIB_RESULTS"  # another results folder (tests use a temporary one)


def results_root() -> Path:
    """``results/`` in the repository, or ``$PNLIB_RESULTS``."""
    return Path(os.environ.get(RESULTS_ENV) or project_root() / "results")


def cached_table(path: str | Path, config: dict, compute) -> pd.DataFrame:
    """Read ``path`` if it was written under the same ``config``; otherwise ``compute()`` it and
    write the CSV, then its ``.json`` sidecar (config and commit) as the mark that it is done."""
    path = Path(path)
    if is_cached(path, config):
        return pd.read_csv(path)
    df = compute()
    write_csv(path, df)
    write_json(
        path.with_suffix(".json"),
        {"config": _table_key(config), "git_commit": git_commit(), "torch": torch.__version__},
    )
    return df


def _table_key(config: dict) -> dict:
    # new draws or a new schema, a new table
    return json.loads(json.dumps({**config, "seed_scheme": seeds.SCHEME, "schema": SCHEMA}, default=str))


def is_cached(path: str | Path, config: dict) -> bool:
    """Whether ``cached_table(path, config, ...)`` would read the table instead of computing it."""
    path, meta = Path(path), Path(path).with_suffix(".json")
    return path.exists() and meta.exists() and read_json(meta)["config"] == _table_key(config)


class RunDir:
    """One run's folder. Opening it with a config that differs from the stored one is refused."""

    def __init__(self, path: str | Path, config: dict):
        self.path = Path(path)
        self.config = json.loads(json.dumps(config, default=str))  # plain JSON values only
        stored = self.path / "config.json"
        if stored.exists():
            old = _flatten(read_json(stored)["config"])
            new = _flatten(self.config)
            diff = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
            if diff:
                detail = "; ".join(f"{k}: stored {old.get(k)!r} vs now {new.get(k)!r}" for k in diff)
                raise ValueError(
                    f"run folder {self.path} holds a run with a different config ({detail}). "
                    f"Refusing to mix results: delete the folder or use another results_dir."
                )
        else:
            write_json(
                stored,
                {
                    "config": self.config,
                    "git_commit": git_commit(),
                    "torch": torch.__version__,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                },
            )

    def file(self, *parts: str) -> Path:
        return self.path.joinpath(*parts)

    def done(self, *parts: str) -> bool:
        return self.file(*parts).exists()
