"""Is MLflow about to migrate its database? And, before it does, a copy of a SQLite one.

Run by mlflow-secure in MLflow's own Python, isolated (-I) from a neutral working folder.
Input comes from the environment (a database URI may hold a password; argv is readable by
every local user); the answer is one JSON line on stdout.

  MLFLOW_SECURE_DB_ACTION  "probe" or "backup"
  MLFLOW_SECURE_DB_URI     a server database's URI (probe only), or
  MLFLOW_SECURE_DB_PATH    a SQLite database file
  MLFLOW_SECURE_DB_BACKUP  backup: the file to write (must not exist)

probe  -> {"ok": true, "revision": str|null, "head": str|null, "known": bool, "version"?: str}
backup -> {"ok": true, "path": str, "bytes": int, "revision": str|null}
failure -> {"ok": false, "kind": str, "type": str, "message": str}
"""

import json
import os
import re
import sys


def out(**kw):
    print(json.dumps(kw))
    sys.stdout.flush()
    sys.exit(0)


def fail(kind, e):
    module = getattr(e, "name", None) if isinstance(e, ImportError) else None
    out(ok=False, kind=kind, type=type(e).__name__, message=str(e), module=module or "")


def migrations_dir():
    # find_spec locates the package without importing it (importing mlflow takes about a second).
    import importlib.util

    spec = importlib.util.find_spec("mlflow")
    if spec is None or not spec.origin:
        out(ok=False, kind="no-mlflow", type="ImportError", message="No module named 'mlflow'", module="mlflow")
    return os.path.join(os.path.dirname(spec.origin), "store", "db_migrations")


def sqlite_uri(path, read_only):
    import pathlib

    # A file: URI so that mode=ro applies; as_uri() percent-encodes '?', '#' and '%' in the path.
    return pathlib.Path(path).resolve().as_uri() + ("?mode=ro" if read_only else "")


def sqlite_revision(path):
    """The revision in alembic_version, or None for a new database (no file, no table, no row)."""
    import sqlite3

    if not os.path.isfile(path):
        return None
    con = sqlite3.connect(sqlite_uri(path, True), uri=True, timeout=10)
    try:
        has = con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'").fetchone()
        if has is None:
            return None
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None
    finally:
        con.close()


def server_revision(uri):
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(uri, poolclass=NullPool)
    try:
        with engine.connect() as c:
            if not sqlalchemy.inspect(c).has_table("alembic_version"):
                return None
            row = c.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).fetchone()
            return row[0] if row else None
    finally:
        engine.dispose()


def is_leaf(versions, revision):
    """True when MLflow's migrations declare `revision` and none of the others names it.

    Reading the files takes milliseconds; alembic's ScriptDirectory imports every migration
    and with it all of mlflow (about 1.7 s). A revision that no other migration mentions has
    no child (down_revision is written as a literal), so it is the head; anything else is
    left to alembic.
    """
    declared = re.compile(r"^revision\s*=\s*['\"]" + re.escape(revision) + r"['\"]", re.M)
    own = False
    for name in os.listdir(versions):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(versions, name), encoding="utf-8") as f:
            text = f.read()
        if declared.search(text):
            own = True
        elif revision in text:
            return False
    return own


def alembic_head(directory, revision):
    """MLflow's head as alembic sees it (what `mlflow db upgrade` would migrate to), and
    whether `revision` is one of MLflow's own."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(directory)
    heads = script.get_heads()
    head = heads[0] if len(heads) == 1 else None
    try:
        known = script.get_revision(revision) is not None
    except Exception:
        known = False
    return head, known


def probe():
    uri = os.environ.get("MLFLOW_SECURE_DB_URI")
    try:
        revision = server_revision(uri) if uri else sqlite_revision(os.environ["MLFLOW_SECURE_DB_PATH"])
    except ImportError as e:
        fail("missing-module", e)
    except Exception as e:
        fail("read", getattr(e, "orig", None) or e)
    if revision is None:
        out(ok=True, revision=None, head=None, known=False)
    directory = migrations_dir()
    try:
        if is_leaf(os.path.join(directory, "versions"), revision):
            out(ok=True, revision=revision, head=revision, known=True)
        head, known = alembic_head(directory, revision)
    except ImportError as e:
        fail("missing-module", e)
    except Exception as e:
        fail("head", e)
    out(ok=True, revision=revision, head=head, known=known, version=mlflow_version())


def mlflow_version():
    from importlib import metadata

    for name in ("mlflow", "mlflow-skinny"):
        try:
            return metadata.version(name)
        except Exception:
            pass
    return ""


def backup():
    import sqlite3

    source = os.environ["MLFLOW_SECURE_DB_PATH"]
    target = os.environ["MLFLOW_SECURE_DB_BACKUP"]
    partial = target + ".partial"
    try:
        # Created owner-only and exclusively: never through a link, never over a file.
        os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        try:
            src = sqlite3.connect(sqlite_uri(source, True), uri=True, timeout=30)
            dst = sqlite3.connect(partial)
            try:
                # The online backup API copies pages through SQLite itself: committed data in a
                # -wal file is included and a writer elsewhere cannot leave a torn copy.
                src.backup(dst)
            finally:
                dst.close()
                src.close()
            revision = sqlite_revision(partial)
            os.replace(partial, target)
        except BaseException:
            try:
                os.remove(partial)
            except OSError:
                pass
            raise
    except Exception as e:
        fail("backup", e)
    out(ok=True, path=target, bytes=os.path.getsize(target), revision=revision)


if __name__ == "__main__":
    action = os.environ.get("MLFLOW_SECURE_DB_ACTION")
    if action == "probe":
        probe()
    elif action == "backup":
        backup()
    out(ok=False, kind="usage", type="ValueError", message="MLFLOW_SECURE_DB_ACTION must be probe or backup")
