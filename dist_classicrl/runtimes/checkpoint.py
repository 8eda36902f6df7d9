"""Checkpoints: one ``.npz`` file, no pickle, that a run continues from exactly.

Layout
    Every array of the training state is one member of the ``.npz``, named
    ``<part>.<name>`` (``algorithm.q``, ``env.codes``, ``loop.running_return``, ...).
    The member ``manifest`` holds UTF-8 JSON: ``format_version``, what the checkpoint
    belongs to (``env``, ``n_states``, ``n_actions``, ``algorithm``, ``rule``, the
    ``config_hash`` of the job's config), the scalar state (counters, Python RNG states,
    the learning curve so far) and a ``sha256`` over every array (name, dtype, shape and
    bytes, in name order) and the rest of the manifest.
Writing
    To a temporary name beside the file, flushed to disk, then renamed: a kill or a full
    disk leaves the previous checkpoint or none, never a truncated one.
Reading
    A file that is missing, truncated, not a checkpoint, of another format version, whose
    arrays do not match the manifest's hash (damaged or tampered), or that belongs to
    another env, table shape, variant, rule or config is refused with one line naming
    the file and what is wrong (`ConfigError`).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dist_classicrl.errors import ConfigError

FORMAT_VERSION = 1
FILE_NAME = "checkpoint.npz"
MANIFEST = "manifest"
#: Manifest keys a checkpoint must share with the job that resumes from it.
IDENTITY = ("env", "n_states", "n_actions", "algorithm", "rule", "config_hash")


class WriteError(OSError):
    """A checkpoint could not be written (its message is one line)."""


@dataclass
class CheckpointPlan:
    """Where and how often a run writes checkpoints (``every`` steps; 0: only at the end
    and when it stops), and the manifest entries that identify the job."""

    path: Path
    every: int
    manifest: dict[str, Any]


@dataclass
class Checkpoint:
    """A training state: arrays by ``<part>.<name>``, and the JSON manifest."""

    arrays: dict[str, np.ndarray]
    manifest: dict[str, Any]

    def part(self, prefix: str) -> dict[str, Any]:
        """The state of one part: its arrays, and its scalars from the manifest."""
        state: dict[str, Any] = dict(self.manifest.get("state", {}).get(prefix, {}))
        for name, array in self.arrays.items():
            head, _, key = name.partition(".")
            if head == prefix:
                state[key] = array
        return state


def split_state(parts: dict[str, dict[str, Any]]) -> tuple[dict[str, np.ndarray], dict]:
    """``{part: {name: array or JSON value}}`` -> (arrays by ``part.name``, scalars by
    part)."""
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for prefix, state in parts.items():
        for name, value in state.items():
            if isinstance(value, np.ndarray):
                arrays[f"{prefix}.{name}"] = value
            else:
                scalars.setdefault(prefix, {})[name] = value
    return arrays, scalars


def content_hash(arrays: dict[str, np.ndarray], manifest: dict[str, Any]) -> str:
    """sha256 of every array (name, dtype, shape, bytes) and of the rest of the manifest
    (canonical JSON): no value a resumed run reads escapes the check."""
    digest = hashlib.sha256()
    rest = {k: v for k, v in manifest.items() if k != "sha256"}
    digest.update(json.dumps(rest, sort_keys=True).encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def config_hash(config: dict[str, Any]) -> str:
    """A short hash of a job's config (the keys that decide what it learns)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save(path: Path, parts: dict[str, dict[str, Any]], manifest: dict[str, Any]) -> None:
    """Write `parts` (module docstring) with `manifest` atomically to `path`."""
    arrays, scalars = split_state(parts)
    full = {**manifest, "format_version": FORMAT_VERSION, "state": scalars}
    full["sha256"] = content_hash(arrays, full)
    encoded = np.frombuffer(json.dumps(full).encode(), dtype=np.uint8)
    temporary = path.with_name(f".{path.stem}.part.npz")
    # Any: numpy's stub would match a **mapping against savez's `allow_pickle: bool` too;
    # array names are "part.name" (with a dot), so none collides with MANIFEST
    members: dict[str, Any] = {**arrays, MANIFEST: encoded}
    try:
        with open(temporary, "wb") as f:
            np.savez(f, **members)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except OSError as exc:  # a full disk or a quota: the previous checkpoint stays
        raise WriteError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        temporary.unlink(missing_ok=True)


def locate(path: str | Path) -> Path:
    """The checkpoint file of `path`: the file itself, or a job directory's."""
    path = Path(path)
    return path / FILE_NAME if path.is_dir() else path


def _not_as_saved(member: zipfile.ZipInfo) -> bool:
    """A member compressed or encrypted (bit 0 of the zip flags), which `save` never writes."""
    return member.compress_type != zipfile.ZIP_STORED or bool(member.flag_bits & 0x1)


def load(path: str | Path, expected: dict[str, Any], what: str = "resume") -> Checkpoint:
    """Read and check the checkpoint at `path` (a file or a job directory) against the
    `expected` identity of the job (`IDENTITY` keys); raises `ConfigError`."""
    file = locate(path)
    where = f"{what}={path}"
    if not file.exists():
        raise ConfigError(f"{where}: no checkpoint at {file} (run with checkpoint.every=N)")
    try:
        with np.load(file, allow_pickle=False) as data:
            # `save` writes every member stored and unencrypted (np.savez): a member that
            # says otherwise is damage, refused before zipfile picks a decompressor for it
            # (whose errors, or "encrypted, password required", would not say so)
            if any(_not_as_saved(member) for member in data.zip.infolist()):
                raise ConfigError(f"{where}: not a readable checkpoint (damaged zip directory)")
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ConfigError(f"{where}: not a readable checkpoint ({type(exc).__name__})") from None
    if MANIFEST not in arrays:
        raise ConfigError(f"{where}: not a checkpoint (no manifest)")
    try:
        manifest = json.loads(arrays.pop(MANIFEST).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigError(f"{where}: the manifest is damaged") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ConfigError(
            f"{where}: format version {manifest.get('format_version')!r}, this version "
            f"reads {FORMAT_VERSION}"
        )
    if content_hash(arrays, manifest) != manifest.get("sha256"):
        raise ConfigError(f"{where}: its contents do not match the manifest's sha256 (damaged)")
    for key in IDENTITY:
        if key in expected and manifest.get(key) != expected[key]:
            raise ConfigError(
                f"{where}: the checkpoint is for {key}={manifest.get(key)!r}, "
                f"this job has {key}={expected[key]!r}"
            )
    return Checkpoint(arrays, manifest)
