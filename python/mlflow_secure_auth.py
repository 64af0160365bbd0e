"""MLflow's authorization_function under `mlflow-secure up --permissions`.

nginx checks the password (auth_basic) and only then sends the verified user name in
X-MLflow-Secure-User, with this run's random secret in X-MLflow-Secure-Secret; both headers are
set by nginx on every proxied request, overwriting whatever a client sent. MLflow gets the same
secret in its environment (MLFLOW_SECURE_AUTH_SECRET, never argv). A request that does not carry
that secret did not come through our nginx (another local program on MLflow's port, or a client
that guessed): it is refused, whatever name it claims.

MLflow calls this in a Flask request context, also for its FastAPI routes (3.17 bridges a custom
authorization_function there: mlflow/server/auth/__init__.py, _authenticate_custom_for_fastapi),
and expects a werkzeug Authorization (whose `username` it uses) or a Response.
"""

import hmac
import os
import secrets
import threading
import time

from flask import Response, g, request
from werkzeug.datastructures import Authorization

import mlflow_secure_cors

USER_HEADER = "X-MLflow-Secure-User"
SECRET_HEADER = "X-MLflow-Secure-Secret"
SECRET_ENV = "MLFLOW_SECURE_AUTH_SECRET"
# A shorter secret is a misconfiguration: refuse everything rather than accept a guessable one.
MIN_SECRET_LENGTH = 32
# MLflow's own job subprocesses call /gateway/ routes with Basic <user>:<this token> (set by
# `mlflow server` when jobs run with the basic-auth app); MLflow trusts them on /gateway/ only.
INTERNAL_TOKEN_ENV = "_MLFLOW_INTERNAL_GATEWAY_AUTH_TOKEN"

_secret = os.environ.get(SECRET_ENV, "").encode("latin-1", "replace")


def _same(given: str, expected: bytes) -> bool:
    # Constant time: the time to refuse says nothing about how much of the secret was right.
    return hmac.compare_digest(given.encode("latin-1", "replace"), expected)


def _refused() -> Response:
    return Response(
        "This MLflow answers only through mlflow-secure's nginx (sign in there).\n",
        status=401,
        mimetype="text/plain",
    )


def _job_user() -> str | None:
    """The user a job subprocess of this MLflow calls a /gateway/ route as, or None."""
    token = os.environ.get(INTERNAL_TOKEN_ENV, "")
    auth = request.authorization
    if not token or auth is None or not request.path.startswith("/gateway/"):
        return None
    if auth.type != "basic" or not auth.username or not _same(auth.password or "", token.encode()):
        return None
    return auth.username


# Names whose row was seen lately, so that not every request asks the table again. Only creating
# a row is skipped: who may do what is MLflow's own lookup, on every request. A name removed
# (`user remove` deletes its row) and put back by hand within this time gets MLflow's "user not
# found" until then; `user add` creates the row itself.
_KNOWN_SECONDS = 30.0
_known: dict[str, float] = {}


def _ensure_user(username: str) -> None:
    """nginx verified this name, so it is a user: give it a row MLflow's permissions can use.

    Its MLflow password is random and never shown: nginx is the only place a password is checked
    (MLflow's own basic-auth check is not this function's and never runs).
    """
    from mlflow.server.auth import store  # the auth app's store, initialised by create_app

    now = time.monotonic()
    if now - _known.get(username, -_KNOWN_SECONDS) < _KNOWN_SECONDS:
        return
    if store.has_user(username):
        _known[username] = now
        return
    try:
        store.create_user(username, secrets.token_urlsafe(32), is_admin=False)
    except Exception:
        # Another worker created it meanwhile (IntegrityError); anything else shows up below.
        if not store.has_user(username):
            raise


# A run's user is what its client says (getpass.getuser() on the client's machine); MLflow keeps
# CreateRun's user_id and its mlflow.user tag as sent. The signed-in name replaces both.
_CREATE_RUN_SUFFIX = "/mlflow/runs/create"
_USER_TAG = "mlflow.user"


def _stamp_run_user(username: str) -> None:
    """On CreateRun, the name nginx verified becomes the run's user (user_id and mlflow.user).

    The handler reads the body with request.get_json(force=True, silent=True)
    (mlflow/server/handlers.py, _get_request_json), which Flask caches per request: the same
    dict, changed here, is what it gets. Idempotent: MLflow calls this function several times
    per request.
    """
    if request.method != "POST" or not request.path.endswith(_CREATE_RUN_SUFFIX):
        return
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        return
    body["user_id"] = username
    tags = [t for t in body.get("tags") or [] if not (isinstance(t, dict) and t.get("key") == _USER_TAG)]
    body["tags"] = [*tags, {"key": _USER_TAG, "value": username}]


_cache_lock = threading.Lock()
_cache_installed = False


def _install_cache() -> None:
    """Once per process: MLflow's auth-store reads kept while its database is unchanged."""
    global _cache_installed
    if _cache_installed:
        return
    with _cache_lock:
        if not _cache_installed:
            from mlflow.server.auth import store  # initialised by create_app before any request

            import mlflow_secure_cache

            mlflow_secure_cache.install(store)
            _cache_installed = True


def authenticate() -> Authorization | Response:
    _install_cache()
    # MLflow asks several times per request (its before-request hook, its admin check, each
    # validator and response filter): decided once per request (flask.g lives as long as it).
    decided = g.get("mlflow_secure_auth")
    if decided is None:
        decided = g.mlflow_secure_auth = _decide()
    return decided


def _decide() -> Authorization | Response:
    job_user = _job_user()
    if job_user is not None:
        return Authorization("basic", {"username": job_user})
    if len(_secret) < MIN_SECRET_LENGTH or not _same(request.headers.get(SECRET_HEADER, ""), _secret):
        return _refused()
    username = request.headers.get(USER_HEADER, "")
    if not username:
        # nginx sends a nameless request only for a browser's CORS preflight (no credentials, ever).
        return mlflow_secure_cors.preflight_answer(request) or _refused()
    _ensure_user(username)
    _stamp_run_user(username)
    return Authorization("basic", {"username": username})
