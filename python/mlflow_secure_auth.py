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

import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import sys
import threading
import time
from datetime import datetime

from flask import Response, after_this_request, g, request
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


# Tokens (`mlflow-secure token`): nginx lets `Authorization: Bearer mlfs_...` past auth_basic on
# MLflow's REST paths only, with the user header empty and the token in TOKEN_HEADER (nginx sets
# it on every request, empty otherwise). The state folder's tokens.json holds their SHA-256:
# 256 random bits leave nothing to guess, so a fast hash is right and a slow one would cost every
# request. The file and the password file are data written by another program: parsed with care,
# anything unexpected refuses every token, and they are re-read only when they change.
TOKEN_HEADER = "X-MLflow-Secure-Token"
_TOKEN = re.compile(r"mlfs_[A-Za-z0-9_-]{43}")
_TOKEN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z")
_MAX_FILE_BYTES = 4 * 1024 * 1024
# The auth app's ini is in the state folder (src/stack/permissions.ts, authPaths), beside both files.
_STATE_DIR = os.path.dirname(os.environ.get("MLFLOW_AUTH_CONFIG_PATH", ""))

# A read-only token reads: GET and HEAD (no MLflow GET route writes), and the searches MLflow
# takes by POST. Everything else (a new write endpoint in a later MLflow too) is refused.
_READ_POSTS = re.compile(
    r"/(?:ajax-)?api/\d+\.\d+/mlflow/(?:experiments/search|runs/search|logged-models/search"
    r"|registered-models/get-latest-versions|traces/search|datasets/search)"
)


def _iso_seconds(value: object) -> float | None:
    if not isinstance(value, str) or not _ISO.fullmatch(value):
        raise ValueError("not a time")
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _parse_tokens(text: str) -> list[dict]:
    """tokens.json -> [{sha256, user, expires (epoch seconds or None), read_only}]; ValueError if not ours."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(data.get("tokens"), list):
        raise ValueError("not a token file")
    tokens = []
    for t in data["tokens"]:
        if not isinstance(t, dict):
            raise ValueError("not a token")
        name, user, digest, read_only = t.get("name"), t.get("user"), t.get("sha256"), t.get("readOnly")
        if not (isinstance(name, str) and _TOKEN_NAME.fullmatch(name)):
            raise ValueError("bad name")
        if not (isinstance(user, str) and _USER_NAME.fullmatch(user)):
            raise ValueError("bad user")
        if not (isinstance(digest, str) and _SHA256.fullmatch(digest)) or not isinstance(read_only, bool):
            raise ValueError("bad token")
        expires = None if t.get("expires") is None else _iso_seconds(t.get("expires"))
        tokens.append({"sha256": digest.encode(), "user": user, "expires": expires, "read_only": read_only})
    return tokens


def _parse_user_names(text: str) -> frozenset[str]:
    """The password file's names (`name:hash` lines), the ones `user add` would accept."""
    names = (line.split(":", 1)[0] for line in text.splitlines() if ":" in line)
    return frozenset(name for name in names if _USER_NAME.fullmatch(name))


class _Watched:
    """A file's parsed contents, parsed again when its size, mtime or inode change; empty if unusable."""

    def __init__(self, name: str, parse, empty):
        self.path = os.path.join(_STATE_DIR, name) if _STATE_DIR else ""
        self.parse, self.empty = parse, empty
        self.key: tuple | None = None
        self.value = empty
        self.lock = threading.Lock()

    def get(self):
        try:
            st = os.stat(self.path) if self.path else None
        except OSError:
            st = None
        key = None if st is None else (st.st_ino, st.st_size, st.st_mtime_ns)
        with self.lock:
            if key != self.key:
                self.value = self._read(st)
                self.key = key
            return self.value

    def _read(self, st):
        if st is None or not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_FILE_BYTES:
            return self.empty
        try:
            with open(self.path, "rb") as f:
                return self.parse(f.read(_MAX_FILE_BYTES + 1).decode("utf-8"))
        except Exception as error:  # hostile or half-understood contents: refuse every token
            print(f"mlflow-secure: ignoring {self.path}: {type(error).__name__}", file=sys.stderr)
            return self.empty


_tokens = _Watched("tokens.json", _parse_tokens, [])
_user_names = _Watched("htpasswd", _parse_user_names, frozenset())


def _token_entry(token: str) -> dict | None:
    """The token's entry if it is one of the file's, unexpired, of a user still in the password file."""
    if not _TOKEN.fullmatch(token):
        return None
    digest = hashlib.sha256(token.encode("ascii")).hexdigest().encode()
    found = None
    for entry in _tokens.get():
        # Constant time, and every entry compared: the time says nothing about the stored digests.
        if hmac.compare_digest(entry["sha256"], digest):
            found = entry
    if found is None or (found["expires"] is not None and time.time() >= found["expires"]):
        return None
    return found if found["user"] in _user_names.get() else None


def _reads_only() -> bool:
    return request.method in ("GET", "HEAD") or (
        request.method == "POST" and _READ_POSTS.fullmatch(request.path) is not None
    )


TOKEN_USER_HEADER = "X-MLflow-Secure-Token-User"


def _name_in_access_log(username: str) -> None:
    """nginx logs this header (and hides it from the client): the access log names a token's user.

    On Flask's routes only: MLflow's FastAPI bridge (native artifact up/downloads) calls this
    function in a request context of its own, whose response is not the one sent.
    """

    @after_this_request
    def _add(response: Response) -> Response:
        response.headers[TOKEN_USER_HEADER] = username
        return response


def _decide_token() -> Authorization | Response:
    """A request nginx let through with a token instead of a name (the secret is already checked)."""
    entry = _token_entry(request.headers.get(TOKEN_HEADER, ""))
    if entry is None:
        return _refused()
    if entry["read_only"] and not _reads_only():
        return Response("This token is read-only.\n", status=403, mimetype="text/plain")
    _ensure_user(entry["user"])
    _stamp_run_user(entry["user"])
    _name_in_access_log(entry["user"])
    return Authorization("basic", {"username": entry["user"]})


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
        # Nameless: a script's token (which nginx let past auth_basic), or a browser's CORS
        # preflight (which never carries credentials).
        return mlflow_secure_cors.preflight_answer(request) or _decide_token()
    _ensure_user(username)
    _stamp_run_user(username)
    return Authorization("basic", {"username": username})
