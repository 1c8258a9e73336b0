"""Encrypted volumes: a deployment's data directory as a gocryptfs file system (ADR 16).

A volume is a ciphertext directory (``gocryptfs.conf`` holding the volume's master key wrapped
under the password, then one encrypted file per plaintext file: AES-256-GCM per 4 KiB block,
file names encrypted with EME) and a mount point where its plaintext view appears for the
deployment's node. The password is the deployment's 32-byte data key as 64 hex characters.

How a volume is mounted (the privilege split of libfuse's ``mount.fuse3 -o drop_privileges``):
root opens ``/dev/fuse`` and mounts it at the mount point itself (``mount(2)`` with
``allow_other,default_permissions``, ``nosuid,nodev,noexec``), then starts gocryptfs as the
deployment's own uid with no capabilities, no new privileges and no core dumps, serving that
descriptor (mount point ``/dev/fd/N``). So gocryptfs never runs as root: every file it
creates belongs to the deployment's uid, and gocryptfs 2.3's root mode (``-allow_other`` as
root switches credentials per request, which since golang.org/x/sys v0.1.0 changes them for
all threads at once and fails concurrent creates with EPERM) is never used.

Invariants:

- The key reaches gocryptfs only on its standard input, a pipe (gocryptfs reads a password
  from stdin when it is not a terminal): never on a command line, in the environment, in a
  file or in a log line. Errors name exit statuses and paths, never the key.
- ``-scryptn 10`` (the minimum): the password is 256 random bits, so scrypt's work factor,
  meant for guessable passwords, adds nothing but mount time and 64 MiB of memory per mount.
- The ciphertext directory belongs to the deployment's uid, 0700; its parents are root's,
  0700, and only the mount point is bound into the sandbox, so the node never sees it.
  gocryptfs gets it as ``/dev/fd/N`` (an ``O_PATH`` descriptor root opened), so the owner
  needs no way through root's directories.
- ``-kernel_cache`` keeps read pages in the page cache across opens, which is safe because
  nothing but this mount ever writes the ciphertext (no shared storage); re-reads of cached
  files become about 5 times faster (ADR 16 has the figures). ``-noprealloc`` skips a
  preallocation per write (a cost on some file systems, no safety value for us).
- A wrong key is refused by gocryptfs before anything is written (exit status 12):
  `WrongVolumeKey`, the kernel mount is taken down again, and the volume is unchanged.

Decisions are pure functions (`password_of`, `init_command`, `mount_command`,
`kernel_mount_options`, `mount_points`); the rest mounts, runs gocryptfs and unmounts.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO

GOCRYPTFS = "gocryptfs"
FSTYPE = "fuse.gocryptfs"
KEY_BYTES = 32
SCRYPT_LOGN = 10
EXIT_WRONG_PASSWORD = 12  # gocryptfs's exitcodes.PasswordIncorrect
GOCRYPTFS_OPTIONS = ("-kernel_cache", "-noprealloc")
KERNEL_OPTIONS = ("allow_other", "default_permissions")
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8
_MNT_DETACH = 2
MOUNT_FLAGS = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
CONFIG_FILE = "gocryptfs.conf"
MOUNTINFO = Path("/proc/self/mountinfo")
COMMAND_TIMEOUT_S = 30.0
_HEX = b"0123456789abcdef"
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


class VolumeError(RuntimeError):
    """A volume could not be created, opened or closed (the message never holds the key)."""


class VolumeUnavailable(VolumeError):
    """This host cannot mount volumes: gocryptfs, setpriv or /dev/fuse missing, not root."""


class WrongVolumeKey(VolumeError):
    """The key does not open the volume (gocryptfs exit status 12); nothing was changed."""


class VolumeCommandFailed(VolumeError):
    """gocryptfs, mount(2) or umount(2) failed with an unexpected status."""

    def __init__(self, what: str, status: int, output: str = "") -> None:
        tail = output.strip().splitlines()[-1:] if output else []
        super().__init__(f"{what} failed with status {status}" + (f": {tail[0]}" if tail else ""))
        self.status = status


class Unmounted(StrEnum):
    """How `unmount` ended."""

    NOT_MOUNTED = "not_mounted"
    CLEANLY = "cleanly"
    LAZILY = "lazily"  # busy: detached now, gocryptfs ends when the last user lets go


@dataclass(frozen=True)
class Volume:
    """A ciphertext directory, where its plaintext view is mounted and who owns that view."""

    cipher_dir: Path
    mountpoint: Path
    owner_uid: int
    owner_gid: int


# -- pure decisions --------------------------------------------------------------------------


def password_of(key: bytes | bytearray) -> bytearray:
    """The gocryptfs password of a data key: its 64 lowercase hex characters (wipeable)."""
    if len(key) != KEY_BYTES:
        raise ValueError("a volume key is 32 bytes")
    out = bytearray(2 * KEY_BYTES)
    for i, b in enumerate(key):
        out[2 * i] = _HEX[b >> 4]
        out[2 * i + 1] = _HEX[b & 0x0F]
    return out


def as_owner(volume: Volume) -> list[str]:
    """The prefix that runs a program as the volume's owner: no capabilities, no new
    privileges, no core dumps (a core of gocryptfs would hold the volume's master key)."""
    return [
        "prlimit",
        "--core=0:0",
        "--",
        "setpriv",
        f"--reuid={volume.owner_uid}",
        f"--regid={volume.owner_gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


def init_command(volume: Volume, cipher_fd: int) -> list[str]:
    """``gocryptfs -init`` of the empty ciphertext directory open as `cipher_fd`; the
    password comes on stdin."""
    return [
        *as_owner(volume),
        GOCRYPTFS,
        "-init",
        "-q",
        "-scryptn",
        str(SCRYPT_LOGN),
        f"/dev/fd/{cipher_fd}",
    ]


def mount_command(volume: Volume, cipher_fd: int, fuse_fd: int) -> list[str]:
    """gocryptfs serving the FUSE connection `fuse_fd` from the ciphertext directory open as
    `cipher_fd`; the password comes on stdin."""
    return [
        *as_owner(volume),
        GOCRYPTFS,
        "-q",
        "-nosyslog",
        *GOCRYPTFS_OPTIONS,
        f"/dev/fd/{cipher_fd}",
        f"/dev/fd/{fuse_fd}",
    ]


def kernel_mount_options(volume: Volume, fuse_fd: int) -> str:
    """The ``mount(2)`` data of the FUSE mount: the connection, the owner, who may enter."""
    return ",".join(
        [
            f"fd={fuse_fd}",
            "rootmode=40000",
            f"user_id={volume.owner_uid}",
            f"group_id={volume.owner_gid}",
            *KERNEL_OPTIONS,
        ]
    )


def mount_points(mountinfo: str, fstype: str | None = None) -> set[Path]:
    """The mount points listed in a ``/proc/<pid>/mountinfo`` text, of `fstype` if given."""
    points = set()
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if len(fields) < 10 or "-" not in fields[6:]:
            continue
        separator = fields.index("-", 6)
        if fstype is not None and fields[separator + 1] != fstype:
            continue
        points.add(Path(_OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), fields[4])))
    return points


# -- I/O -----------------------------------------------------------------------------------


def available() -> str | None:
    """None when this host can mount volumes, else why not."""
    for tool in (GOCRYPTFS, "setpriv", "prlimit"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not Path("/dev/fuse").exists():
        return "/dev/fuse is missing"
    if os.geteuid() != 0:
        return "mounting volumes for other uids needs root"
    return None


def mounted_volumes() -> set[Path]:
    """The mount points of every gocryptfs volume mounted in this mount namespace."""
    return mount_points(MOUNTINFO.read_text(), FSTYPE)


def is_mounted(mountpoint: Path) -> bool:
    """Whether a gocryptfs volume is mounted at `mountpoint` (read from mountinfo)."""
    return mountpoint in mounted_volumes()


def is_initialized(volume: Volume) -> bool:
    """Whether the ciphertext directory holds a gocryptfs configuration."""
    return (volume.cipher_dir / CONFIG_FILE).exists()


def create(volume: Volume, key: bytes | bytearray) -> None:
    """Initialize an empty ciphertext directory for `key`."""
    _own_cipher_dir(volume)
    with _open_path(volume.cipher_dir) as cipher_fd:
        status, output = _run_with_password(
            init_command(volume, cipher_fd), key, None, pass_fds=(cipher_fd,)
        )
    if status != 0:
        raise VolumeCommandFailed("gocryptfs -init", status, output)


def mount(volume: Volume, key: bytes | bytearray, *, log_file: Path | None = None) -> None:
    """Mount the plaintext view of `volume` (gocryptfs stays in the background, serving it).

    Raises `WrongVolumeKey` when `key` is not the volume's; `VolumeCommandFailed` otherwise.
    """
    volume.mountpoint.mkdir(parents=True, exist_ok=True, mode=0o700)
    fuse_fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    cipher = _open_path(volume.cipher_dir)
    try:
        _libc_call(
            "mount",
            os.fsencode(volume.cipher_dir),
            os.fsencode(volume.mountpoint),
            FSTYPE.encode(),
            MOUNT_FLAGS,
            kernel_mount_options(volume, fuse_fd).encode(),
        )
        try:
            status, output = _run_with_password(
                mount_command(volume, cipher.fd, fuse_fd),
                key,
                log_file,
                pass_fds=(cipher.fd, fuse_fd),
            )
        except BaseException:
            _libc_call("umount2", os.fsencode(volume.mountpoint), _MNT_DETACH)
            raise
        if status != 0:
            _libc_call("umount2", os.fsencode(volume.mountpoint), _MNT_DETACH)
    finally:
        os.close(fuse_fd)
        cipher.close()
    if status == EXIT_WRONG_PASSWORD:
        raise WrongVolumeKey(f"the key does not open the volume in {volume.cipher_dir}")
    if status != 0:
        raise VolumeCommandFailed("gocryptfs", status, output)


def open_volume(volume: Volume, key: bytes | bytearray, *, log_file: Path | None = None) -> bool:
    """Create `volume` if new and mount it unless it is already; True if it was mounted now.

    A mount whose gocryptfs died (``ENOTCONN``) is detached and mounted again.
    """
    if is_mounted(volume.mountpoint):
        if _answers(volume.mountpoint):
            return False
        unmount(volume.mountpoint)
    if not is_initialized(volume):
        create(volume, key)
    _own_cipher_dir(volume)
    mount(volume, key, log_file=log_file)
    return True


def unmount(mountpoint: Path) -> Unmounted:
    """Unmount; when the mount is busy (a process still has files open), detach it lazily."""
    if not is_mounted(mountpoint):
        return Unmounted.NOT_MOUNTED
    try:
        _libc_call("umount2", os.fsencode(mountpoint), 0)
    except VolumeCommandFailed as exc:
        if exc.status != errno.EBUSY:
            raise
        _libc_call("umount2", os.fsencode(mountpoint), _MNT_DETACH)
        return Unmounted.LAZILY
    return Unmounted.CLEANLY


class _open_path:
    """An ``O_PATH`` descriptor of a directory, for ``/dev/fd/N``: gocryptfs, running as the
    owner, reaches the ciphertext directory through it without traversing root's parents."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> int:
        return self.fd

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _libc_call(name: str, *args: object) -> None:
    """mount(2) or umount2(2); `VolumeCommandFailed` with the errno as status."""
    function = getattr(ctypes.CDLL(None, use_errno=True), name)
    if function(*args) != 0:
        err = ctypes.get_errno()
        raise VolumeCommandFailed(name, err, os.strerror(err))


def _own_cipher_dir(volume: Volume) -> None:
    """The ciphertext directory belongs to the owner (gocryptfs runs as the owner), 0700."""
    volume.cipher_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chown(volume.cipher_dir, volume.owner_uid, volume.owner_gid)
    volume.cipher_dir.chmod(0o700)


def _answers(mountpoint: Path) -> bool:
    try:
        os.stat(mountpoint)
    except OSError as exc:
        if exc.errno in (errno.ENOTCONN, errno.EIO, errno.ECONNABORTED):
            return False
        raise
    return True


def _run_with_password(
    argv: list[str], key: bytes | bytearray, log_file: Path | None, pass_fds: tuple[int, ...] = ()
) -> tuple[int, str]:
    """Run `argv` with the key's password on stdin; (exit status, its output).

    The output goes to a file, not a pipe: a mounting gocryptfs leaves a daemon behind that
    keeps its standard streams, and a pipe would never reach end of file. The password bytes
    are overwritten once written (best effort: Python may hold other copies of the key).
    """
    password = password_of(key)
    with _output_file(log_file) as out:
        start = out.tell()
        try:
            process = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=out, stderr=out, pass_fds=pass_fds
            )
            assert process.stdin is not None
            try:
                process.stdin.write(password)
                process.stdin.close()
            except BrokenPipeError:
                pass  # it ended before reading (a bad path): its status says why
            status = process.wait(timeout=COMMAND_TIMEOUT_S)
        finally:
            password[:] = bytes(len(password))
        out.seek(start)
        output = out.read().decode(errors="replace")
    return status, output


def _output_file(log_file: Path | None) -> IO[bytes]:
    if log_file is None:
        return tempfile.TemporaryFile()
    log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return open(log_file, "a+b")
