"""Reads of MLflow's auth database, kept until that database changes (`up --permissions`).

MLflow's auth app asks its store the same questions several times per request and again on the
next one: for experiments/search as a non-admin, get_user three times (sender_is_admin twice,
the grants' retention gate) and list_grants once, each a new SQLAlchemy session with three
PRAGMAs against SQLite. That was most of what --permissions cost over the plain stack.

An answer is kept only while the database file is unchanged, and that is checked before every
use: SQLite's header holds a change counter (offset 24) that every committed write in rollback
journal mode increments (https://www.sqlite.org/fileformat.html#file_change_counter); with the
file's inode, size and mtime it is read (the first 100 bytes) before each lookup.
So a user removed or a grant revoked, by any process (another worker, `user remove`, MLflow's
REST routes), counts from the next lookup on: nothing is decided on an older table. The key is
read before the query, so an answer is never filed under a newer state than the one it saw.

Caching is left off (MLflow's methods run as they are) when the store is not one SQLite file,
when the file is in WAL mode (the counter is not kept there), when the header cannot be read, or
when the store lacks a method by that name (another MLflow): see install().
"""

import copy
import os
import threading

# Read-only methods of mlflow.server.auth.sqlalchemy_store.SqlAlchemyStore whose answers depend
# only on their arguments and the database's content.
CACHED_METHODS = ("get_user", "list_grants")
_MAX_ENTRIES = 4096
_HEADER = 100

_lock = threading.Lock()
_state: dict = {"key": None, "entries": {}}


def _file_key(path: str):
    """What identifies the database's current content, or None when it cannot be told."""
    try:
        # A plain read, not os.pread (which Windows lacks).
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            header = f.read(_HEADER)
    except OSError:
        return None
    # Bytes 18-19: file format write/read version, 1 = rollback journal, 2 = WAL.
    if len(header) < _HEADER or not header.startswith(b"SQLite format 3\x00") or header[18:20] != b"\x01\x01":
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, header[24:28])


def _frozen(value):
    # list_grants gets its resource types as a list or set; the same values are the same question.
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(value)
    return value


def _cached(path: str, name: str, method):
    def lookup(*args, **kwargs):
        key = _file_key(path)
        if key is None:
            return method(*args, **kwargs)
        try:
            call = (name, _frozen(args), _frozen(sorted(kwargs.items())))
            hash(call)
        except TypeError:  # an argument that cannot be a key: asked as it is
            return method(*args, **kwargs)
        with _lock:
            if _state["key"] != key:
                _state["key"], _state["entries"] = key, {}
            entries = _state["entries"]
            if call in entries:
                return copy.deepcopy(entries[call])
        value = method(*args, **kwargs)  # an exception (e.g. no such user) is never kept
        with _lock:
            if _state["key"] == key and len(_state["entries"]) < _MAX_ENTRIES:
                _state["entries"][call] = copy.deepcopy(value)
        return value

    lookup.__wrapped__ = method
    lookup.mlflow_secure_cached = True
    return lookup


def sqlite_path(store) -> str | None:
    """The auth store's one SQLite file, or None (a server database, a read replica, in memory)."""
    engine = getattr(store, "engine", None)
    url = getattr(engine, "url", None)
    if url is None or getattr(store, "read_engine", None) is not None:
        return None
    try:
        if url.get_backend_name() != "sqlite":
            return None
    except Exception:
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.abspath(database)


def install(store) -> list[str]:
    """Wrap the store's CACHED_METHODS (on this instance only); the names wrapped."""
    path = sqlite_path(store)
    if path is None or _file_key(path) is None:
        return []
    wrapped = []
    for name in CACHED_METHODS:
        method = getattr(store, name, None)
        if not callable(method) or getattr(method, "mlflow_secure_cached", False):
            continue
        setattr(store, name, _cached(path, name, method))
        wrapped.append(name)
    return wrapped
