"""Encrypted volumes with the real gocryptfs and FUSE: create, mount, write, unmount, remount;
a wrong key refused; no plaintext in the ciphertext; unmounting under a busy process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from citadel.runtime import volume
from citadel.runtime.volume import Unmounted, Volume, WrongVolumeKey
from tests.runtime.conftest import gocryptfs_serving, sandbox_uid

MARKER = b"plaintext-marker-7d41c2"


@pytest.fixture
def vol(volumes_here: None, short_dir: Path) -> Iterator[Volume]:
    uid = sandbox_uid()
    v = Volume(short_dir / "volume", short_dir / "data", uid, uid)
    yield v
    volume.unmount(v.mountpoint)


def a_key() -> bytes:
    return os.urandom(32)


def wait_until(check: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {check}")
        time.sleep(0.05)


def every_byte_under(path: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in sorted(path.rglob("*")) if p.is_file()]


def test_a_volume_written_and_remounted_with_the_same_key_reads_back(vol: Volume) -> None:
    key = a_key()
    assert volume.open_volume(vol, key) is True
    assert volume.is_mounted(vol.mountpoint)
    (vol.mountpoint / "books").mkdir()
    (vol.mountpoint / "books" / "one.txt").write_bytes(MARKER)
    assert volume.unmount(vol.mountpoint) is Unmounted.CLEANLY
    assert not volume.is_mounted(vol.mountpoint)
    assert list(vol.mountpoint.iterdir()) == []
    assert volume.open_volume(vol, key) is True
    assert (vol.mountpoint / "books" / "one.txt").read_bytes() == MARKER


def test_opening_a_mounted_volume_again_leaves_it_as_it_is(vol: Volume) -> None:
    key = a_key()
    volume.open_volume(vol, key)
    pids = gocryptfs_serving(vol.cipher_dir)
    assert volume.open_volume(vol, key) is False
    assert gocryptfs_serving(vol.cipher_dir) == pids


def test_the_ciphertext_holds_neither_contents_nor_names_in_plaintext(vol: Volume) -> None:
    volume.open_volume(vol, a_key())
    (vol.mountpoint / "secret-name.txt").write_bytes(MARKER * 100)
    volume.unmount(vol.mountpoint)
    files = every_byte_under(vol.cipher_dir)
    assert len(files) >= 2  # the configuration and the encrypted file
    for path, data in files:
        assert MARKER not in data, path
        assert "secret-name" not in str(path)
    st = vol.cipher_dir.stat()
    assert (st.st_uid, st.st_mode & 0o777) == (vol.owner_uid, 0o700)
    config = (vol.cipher_dir / "gocryptfs.conf").stat()
    assert (config.st_uid, config.st_mode & 0o777) == (vol.owner_uid, 0o400)


def test_a_wrong_key_is_refused_and_changes_nothing(vol: Volume) -> None:
    key = a_key()
    volume.open_volume(vol, key)
    (vol.mountpoint / "doc").write_bytes(MARKER)
    volume.unmount(vol.mountpoint)
    before = every_byte_under(vol.cipher_dir)
    with pytest.raises(WrongVolumeKey):
        volume.open_volume(vol, a_key())
    assert not volume.is_mounted(vol.mountpoint)
    assert every_byte_under(vol.cipher_dir) == before
    assert volume.open_volume(vol, key) is True
    assert (vol.mountpoint / "doc").read_bytes() == MARKER


def test_the_deployment_uid_owns_and_writes_the_plaintext_view(vol: Volume) -> None:
    vol.mountpoint.parent.chmod(0o711)  # a process outside a sandbox must reach the mount
    volume.open_volume(vol, a_key())
    st = vol.mountpoint.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (vol.owner_uid, vol.owner_gid, 0o700)
    as_uid = ["setpriv", f"--reuid={vol.owner_uid}", f"--regid={vol.owner_gid}", "--clear-groups"]
    script = "import sys; p = sys.argv[1] + '/n'; open(p, 'w').write('x'); print(open(p).read())"
    done = subprocess.run(
        [*as_uid, sys.executable, "-c", script, str(vol.mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "x"), done.stderr
    assert (vol.mountpoint / "n").stat().st_uid == vol.owner_uid


def test_another_uid_cannot_read_the_plaintext_view(vol: Volume) -> None:
    volume.open_volume(vol, a_key())
    (vol.mountpoint / "doc").write_bytes(MARKER)
    vol.mountpoint.parent.chmod(0o711)
    other = vol.owner_uid + 1
    done = subprocess.run(
        ["setpriv", f"--reuid={other}", f"--regid={other}", "--clear-groups", "cat", "doc"],
        cwd=vol.mountpoint,
        capture_output=True,
        check=False,
    )
    assert done.returncode != 0
    assert MARKER not in done.stdout


def test_gocryptfs_runs_unprivileged_and_the_key_is_in_no_argument_or_environment(
    vol: Volume,
) -> None:
    key = a_key()
    volume.open_volume(vol, key)
    [pid] = gocryptfs_serving(vol.cipher_dir)
    hex_key = key.hex().encode()
    assert hex_key not in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert hex_key not in Path(f"/proc/{pid}/environ").read_bytes()
    status = Path(f"/proc/{pid}/status").read_text()
    assert f"Uid:\t{vol.owner_uid}\t{vol.owner_uid}\t{vol.owner_uid}\t" in status
    assert "CapEff:\t0000000000000000" in status


def test_concurrent_creates_by_the_owner_all_succeed(vol: Volume) -> None:
    """Many threads creating files at once (what a search engine does on refresh)."""
    vol.mountpoint.parent.chmod(0o711)
    volume.open_volume(vol, a_key())
    script = (
        "import os, sys, threading\n"
        "errors = []\n"
        "def work(t):\n"
        "    d = f'{sys.argv[1]}/t{t}'\n"
        "    try:\n"
        "        os.makedirs(d)\n"
        "        for i in range(100):\n"
        "            open(f'{d}/{i}.tmp', 'w').write('x')\n"
        "            os.replace(f'{d}/{i}.tmp', f'{d}/{i}')\n"
        "    except OSError as exc:\n"
        "        errors.append(repr(exc))\n"
        "threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "print(errors)\n"
    )
    as_uid = ["setpriv", f"--reuid={vol.owner_uid}", f"--regid={vol.owner_gid}", "--clear-groups"]
    done = subprocess.run(
        [*as_uid, sys.executable, "-c", script, str(vol.mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr
    assert len(list(vol.mountpoint.rglob("*"))) == 8 * 101


def test_unmounting_while_a_process_uses_the_volume_detaches_it(vol: Volume) -> None:
    """A busy mount is detached lazily: no new process can reach the plaintext, and gocryptfs
    (with the key) ends as soon as the last user lets go."""
    volume.open_volume(vol, a_key())
    (vol.mountpoint / "held").write_bytes(MARKER)
    hold = "import sys, time; f = open(sys.argv[1]); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(vol.mountpoint / "held")])
    try:
        wait_until(lambda: any(Path(f"/proc/{holder.pid}/fd").iterdir()))
        time.sleep(0.3)
        assert volume.unmount(vol.mountpoint) is Unmounted.LAZILY
        assert not volume.is_mounted(vol.mountpoint)
        assert not (vol.mountpoint / "held").exists()
        assert gocryptfs_serving(vol.cipher_dir) != []
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    wait_until(lambda: not gocryptfs_serving(vol.cipher_dir))


def test_a_volume_whose_gocryptfs_died_is_mounted_again(vol: Volume) -> None:
    key = a_key()
    volume.open_volume(vol, key)
    (vol.mountpoint / "doc").write_bytes(MARKER)
    for pid in gocryptfs_serving(vol.cipher_dir):
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not gocryptfs_serving(vol.cipher_dir))
    with pytest.raises(OSError, match=r"not connected|connection abort"):
        (vol.mountpoint / "doc").read_bytes()
    assert volume.open_volume(vol, key) is True
    assert (vol.mountpoint / "doc").read_bytes() == MARKER


# -- pure parts ------------------------------------------------------------------------------


def test_the_password_is_the_keys_hex() -> None:
    key = bytes(range(32))
    assert bytes(volume.password_of(key)) == key.hex().encode()


def test_a_key_of_another_length_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        volume.password_of(b"short")


def test_mount_points_are_read_from_mountinfo_with_escapes() -> None:
    mountinfo = (
        "22 1 0:21 / / rw,relatime - ext4 /dev/sda1 rw\n"
        "45 27 0:40 / /srv/a\\040b/data rw,nosuid,nodev,noexec - fuse.gocryptfs /srv/c rw,"
        "user_id=0,group_id=0,default_permissions,allow_other\n"
        "46 27 0:41 / /tmp/other rw shared:5 - tmpfs tmpfs rw\n"
    )
    assert volume.mount_points(mountinfo, volume.FSTYPE) == {Path("/srv/a b/data")}
    assert len(volume.mount_points(mountinfo)) == 3


def test_gocryptfs_runs_as_the_owner_and_no_argument_carries_a_key() -> None:
    v = Volume(Path("/c"), Path("/p"), 1234, 1235)
    argv = volume.mount_command(v, 6, 7)
    assert argv[-2:] == ["/dev/fd/6", "/dev/fd/7"]
    assert "--reuid=1234" in argv
    assert "--regid=1235" in argv
    assert "--no-new-privs" in argv
    assert "--core=0:0" in argv
    assert not {"-passfile", "-extpass", "-masterkey", "-allow_other"} & set(argv)
    assert "-kernel_cache" in argv
    assert volume.kernel_mount_options(v, 7) == (
        "fd=7,rootmode=40000,user_id=1234,group_id=1235,allow_other,default_permissions"
    )
