"""What can go wrong with a snapshot, as the allocator reports it to the node (the node shows
the message to the user as a failed snapshot or restore): never a key, never file content."""

from __future__ import annotations


class SnapshotError(Exception):
    """A snapshot could not be written, read or deleted."""


class RepositoryUnavailable(SnapshotError):
    """The repository did not answer or refused the request (a directory not mounted, S3
    unreachable or denying access)."""


class BlobMissing(SnapshotError):
    """An object the snapshot needs is not in the repository."""


class SnapshotNotFound(SnapshotError):
    """No snapshot of that name or uuid (or no successful one, for the latest)."""


class SnapshotUnreadable(SnapshotError):
    """A manifest does not open with this key: another deployment's key, a destroyed or
    revoked data key, or a damaged manifest."""


class SnapshotCorrupt(SnapshotError):
    """An object opened but its content is not what the manifest says (a damaged blob)."""


class UnsafeStaging(SnapshotError):
    """The staged directory holds something the allocator refuses to follow (a symbolic link,
    a device, a name outside the directory)."""
