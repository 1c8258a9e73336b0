"""Laying out a deployment's directory (ADR 16), and upgrading an older release's layout.

Releases before ADR 16 kept the node's files in plaintext directories: ``<id>/node.db`` (the
node's SQLCipher store and its -wal/-shm), ``<id>/tls/`` and ``<id>/node.sock``, the whole
directory owned by the deployment's uid. On the first start after the upgrade the allocator
moves them into the new layout in two steps, each safe to interrupt and repeat:

1. `set_aside_legacy` (before the volume exists): ``tls/`` moves to ``run/tls/``, the old
   socket is deleted, everything else is renamed into ``upgrade/`` (same file system: atomic
   renames, nothing copied).
2. `move_into_volume` (once the volume is mounted): each entry of ``upgrade/`` is copied into
   the plaintext view under a temporary name, renamed to its own name, synced, and only then
   deleted from ``upgrade/``; ``upgrade/`` goes last.

The old files were written to disk in plaintext directories; deleting them does not scrub
the blocks they used (the store itself was SQLCipher-encrypted).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from citadel.kit.deployment_dirs import NODE_SOCKET, DeploymentDirs

_PARTIAL = ".upgrade-partial-"


def legacy_entries(dirs: DeploymentDirs, names: Iterable[str]) -> list[str]:
    """Which of the names found directly under the deployment directory are an older
    release's files (anything that is not part of the current layout)."""
    return sorted(n for n in names if n not in dirs.own_entries)


def lay_out(dirs: DeploymentDirs, uid: int) -> list[str]:
    """The deployment directory (root's, 0700), its ``run/`` and ``run/tls/`` (the uid's,
    0700) and the mount point; an older release's files set aside on the way (their names)."""
    dirs.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chown(dirs.root, 0, 0)
    dirs.root.chmod(0o700)
    _own_directory(dirs.run, uid)
    found = set_aside_legacy(dirs)
    _own_directory(dirs.tls, uid)
    dirs.data.mkdir(exist_ok=True, mode=0o700)
    return found


def set_aside_legacy(dirs: DeploymentDirs) -> list[str]:
    """Step 1 of the upgrade; returns the names it moved (empty on a current layout)."""
    found = legacy_entries(dirs, os.listdir(dirs.root))
    for name in found:
        source = dirs.root / name
        if name == NODE_SOCKET:
            source.unlink()
        elif name == "tls" and not dirs.tls.exists():
            source.rename(dirs.tls)
        else:
            dirs.upgrade.mkdir(exist_ok=True, mode=0o700)
            source.rename(dirs.upgrade / name)
    return found


def move_into_volume(dirs: DeploymentDirs, uid: int) -> list[str]:
    """Step 2 of the upgrade: ``upgrade/`` into the mounted plaintext view; the names moved."""
    if not dirs.upgrade.exists():
        return []
    for leftover in dirs.data.glob(_PARTIAL + "*"):
        _remove(leftover)
    moved = sorted(os.listdir(dirs.upgrade))
    for name in moved:
        source, target = dirs.upgrade / name, dirs.data / name
        if not target.exists():
            partial = dirs.data / (_PARTIAL + name)
            if source.is_dir() and not source.is_symlink():
                shutil.copytree(source, partial, symlinks=True)
            else:
                shutil.copy2(source, partial, follow_symlinks=False)
            _chown_tree(partial, uid)
            partial.rename(target)
    os.sync()  # the copies are on disk before the originals go
    for name in moved:
        _remove(dirs.upgrade / name)
    dirs.upgrade.rmdir()
    return moved


def _own_directory(path: Path, uid: int) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chown(path, uid, uid)
    path.chmod(0o700)


def _chown_tree(path: Path, uid: int) -> None:
    os.chown(path, uid, uid, follow_symlinks=False)
    if path.is_dir() and not path.is_symlink():
        for inner in path.rglob("*"):
            os.chown(inner, uid, uid, follow_symlinks=False)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
