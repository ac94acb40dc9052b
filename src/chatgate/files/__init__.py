"""A per-user file space with no MCP in it: safe names, no-follow paths, atomic writes, quotas.

Layout: `encoding` (user id -> directory name) and `paths` (validating what the model sends) are
pure; `walk` opens paths (one no-follow, fd-relative component at a time) and `lock` the lock file;
`space` holds the operations and `search` the bounded search; `limits` the bounds.

Errors (`errors`), all carrying a message safe to show the model (relative paths only)::

    FileSpaceError
    ├── PathRefused        the path itself is not acceptable (absolute, `..`, NUL, too long, reserved)
    ├── PathNotFound
    ├── AlreadyExists
    ├── WrongKind          a folder where a file was expected, or the other way round
    ├── NotEmpty
    ├── UnsafeEntry        a symlink, hard-linked file or special file on the path
    ├── LimitExceeded      file size cap or quota (bytes, entries); nothing was written
    │   ├── FileTooLarge   over the per-file cap
    │   └── QuotaExceeded  over the user's quota
    └── StorageUnavailable the disk is full or the space cannot be opened
"""

from chatgate.files.errors import (
    AlreadyExists,
    FileSpaceError,
    FileTooLarge,
    LimitExceeded,
    NotEmpty,
    PathNotFound,
    PathRefused,
    QuotaExceeded,
    StorageUnavailable,
    UnsafeEntry,
    WrongKind,
)
from chatgate.files.limits import FileLimits
from chatgate.files.space import FileSpace

__all__ = [
    "AlreadyExists",
    "FileLimits",
    "FileSpace",
    "FileSpaceError",
    "FileTooLarge",
    "LimitExceeded",
    "NotEmpty",
    "PathNotFound",
    "PathRefused",
    "QuotaExceeded",
    "StorageUnavailable",
    "UnsafeEntry",
    "WrongKind",
]
