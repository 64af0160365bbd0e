"""MLflow's user table and grants for `mlflow-secure user` and `grant` (run in MLflow's Python).

Reads one JSON request from MLFLOW_SECURE_REQUEST and writes one JSON answer on stdout (not argv:
nothing here is secret, but names are data, never options). It works on the auth database directly with MLflow's
own store (mlflow.server.auth.sqlalchemy_store), so it works with the stack up or down; the auth
app reads the tables on every request (no cache with our authorization function), so a change is
seen at once.

Request: {"database_uri": "sqlite:///...", "op": "...", ...}; answer: {"ok": true, ...} or
{"ok": false, "error": "...", "kind": "not_found" | "invalid" | "other"}.
"""

import json
import os
import secrets
import sys


def _store(uri):
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(uri)
    return store


def _random_password():
    # MLflow wants 12+ characters; nginx is the only place a password is checked, so nobody needs it.
    return secrets.token_urlsafe(32)


def _users(store):
    return [{"username": u.username, "is_admin": bool(u.is_admin)} for u in store.list_users()]


def _experiment_id(request):
    """An experiment's id from its id or name (looked up in the backend store)."""
    ref = request["resource"]
    if ref.isdigit():
        return ref
    from mlflow.tracking import MlflowClient

    experiment = MlflowClient(tracking_uri=request["tracking_uri"]).get_experiment_by_name(ref)
    if experiment is None:
        raise LookupError(f"no experiment named {json.dumps(ref)} in {request['tracking_uri_shown']}")
    return experiment.experiment_id


def _grants(store, username):
    rows = []
    for p in store.list_experiment_permissions(username):
        rows.append({"user": username, "kind": "experiment", "resource": p.experiment_id, "permission": p.permission})
    for p in store.list_registered_model_permissions(username):
        rows.append({"user": username, "kind": "registered-model", "resource": p.name, "permission": p.permission})
    return rows


def run(request):
    store = _store(request["database_uri"])
    op = request["op"]
    if op == "list":
        return {"users": _users(store)}
    name = request.get("username")
    if op == "add":
        # Keeps the row's grants when it exists; sets the admin flag to what was asked.
        if store.has_user(name, use_primary=True):
            before = store.get_user(name)
            store.update_user(name, is_admin=bool(request["is_admin"]))
            return {"created": False, "was_admin": bool(before.is_admin)}
        store.create_user(name, _random_password(), is_admin=bool(request["is_admin"]))
        return {"created": True}
    if op == "undo-add":
        if request["created"]:
            if store.has_user(name, use_primary=True):
                store.delete_user(name)
        else:
            store.update_user(name, is_admin=bool(request["was_admin"]))
        return {}
    if op == "remove":
        if store.has_user(name, use_primary=True):
            store.delete_user(name)
        return {}
    if op in ("grant", "revoke"):
        if not store.has_user(name, use_primary=True):
            # nginx verified this name (it is in the password file): give it its row now.
            store.create_user(name, _random_password(), is_admin=False)
        kind = request["kind"]
        if kind == "experiment":
            resource = _experiment_id(request)
            get, create, update, delete = (
                store.get_experiment_permission,
                store.create_experiment_permission,
                store.update_experiment_permission,
                store.delete_experiment_permission,
            )
        else:
            resource = request["resource"]
            get, create, update, delete = (
                store.get_registered_model_permission,
                store.create_registered_model_permission,
                store.update_registered_model_permission,
                store.delete_registered_model_permission,
            )
        try:
            get(resource, name)
            exists = True
        except Exception:
            exists = False
        if op == "grant":
            (update if exists else create)(resource, name, request["permission"])
        elif exists:
            delete(resource, name)
        return {"resource": resource, "existed": exists}
    if op == "grants":
        names = [name] if name else [u["username"] for u in _users(store)]
        return {"grants": [g for n in names for g in _grants(store, n)]}
    raise ValueError(f"unknown op {op!r}")


def main():
    try:
        request = json.loads(os.environ["MLFLOW_SECURE_REQUEST"])
        answer = {"ok": True, **run(request)}
    except LookupError as e:
        answer = {"ok": False, "kind": "not_found", "error": str(e)}
    except Exception as e:  # one line for the CLI; the type says which
        answer = {"ok": False, "kind": "other", "error": f"{type(e).__name__}: {e}"}
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
