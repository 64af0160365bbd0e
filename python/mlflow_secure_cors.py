"""MLflow's own answer to a CORS preflight that reached its auth app (`up --permissions`).

A browser's preflight carries no credentials (Fetch standard, CORS-preflight fetch), so nginx
lets a bare preflight of the stack's own pages through without a password (src/nginx/conf.ts,
preflightMaps) and it reaches MLflow with the secret but no user. Without --permissions MLflow's
CORSMiddleware answers it on every path and no route runs. With --permissions, MLflow's
permission middleware sits outside that CORSMiddleware and, on its native FastAPI routes (jobs,
assistant, MCP servers, /v1/traces, /gateway/), asks the authorization function first: a
nameless request, refused with 401.

So the authorization function answers a preflight itself with what MLflow's CORSMiddleware would
say: one built by MLflow's own init_fastapi_security (same environment, same origins), asked only
for its preflight answer. No route runs, and nothing but a preflight gets an answer here. Where
that cannot be built (another MLflow, the security middleware turned off), None: refused as before.
"""

from flask import Request, Response

_UNSET = object()
_cors = _UNSET


def _mlflow_cors():
    """MLflow's CORSMiddleware as its FastAPI app configures it, or None."""
    global _cors
    if _cors is _UNSET:
        _cors = None
        try:
            from fastapi import FastAPI
            from starlette.middleware.cors import CORSMiddleware

            from mlflow.server.fastapi_security import init_fastapi_security

            probe = FastAPI()
            init_fastapi_security(probe)
            for m in probe.user_middleware:
                if m.cls is CORSMiddleware:
                    _cors = CORSMiddleware(lambda scope, receive, send: None, *m.args, **m.kwargs)
        except Exception:
            _cors = None
    return _cors


def _host_allowed(host: str) -> bool:
    # MLflow's Host check runs before its CORS answer; it must not be skipped here either.
    try:
        from mlflow.server.fastapi_security import get_allowed_hosts
        from mlflow.server.security_utils import is_allowed_host_header
    except Exception:
        return False
    allowed = get_allowed_hosts()
    return not allowed or "*" in allowed or is_allowed_host_header(allowed, host)


def preflight_answer(req: Request) -> Response | None:
    """MLflow's CORS answer when `req` is a preflight, else None."""
    if req.method != "OPTIONS" or not req.headers.get("Origin") or not req.headers.get("Access-Control-Request-Method"):
        return None
    cors = _mlflow_cors()
    if cors is None or not _host_allowed(req.headers.get("Host", "")):
        return None
    from starlette.datastructures import Headers

    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in req.headers.items()]
    answer = cors.preflight_response(request_headers=Headers(raw=raw))
    headers = [(k, v) for k, v in answer.headers.items() if k.lower() != "content-length"]
    return Response(answer.body, status=answer.status_code, headers=headers)
