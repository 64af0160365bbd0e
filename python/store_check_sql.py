# Can MLflow use this database? Run by mlflow-secure (src/stores/run-checks.ts) in MLflow's own
# Python, as `python -c <this text>` from an empty working folder, before MLflow starts. The URI
# comes in MLFLOW_SECURE_CHECK_URI (argv is readable by every local user); the answer is one JSON
# line on stdout, read by parseCheckAnswer (src/stores/checks.ts):
#   {"ok": true, "driver": str}
#   {"ok": false, "kind": "missing-module", "module": str, "message": str}
#   {"ok": false, "kind": "bad-uri" | "connect", "type": str, "message": str}
# create_engine() imports the dialect's driver (so a missing one is a ModuleNotFoundError naming
# it); connect() opens one real connection. libpq's PGCONNECT_TIMEOUT, set by the caller, bounds a
# connection to a host that never answers.
import json
import os
import sys


def out(**kw):
    print(json.dumps(kw))
    sys.stdout.flush()
    sys.exit(0)


def missing(e):
    out(ok=False, kind="missing-module", module=getattr(e, "name", None) or "", message=str(e))


try:
    import sqlalchemy
except ImportError as e:
    missing(e)
try:
    engine = sqlalchemy.create_engine(os.environ["MLFLOW_SECURE_CHECK_URI"])
except ImportError as e:
    missing(e)
except Exception as e:
    out(ok=False, kind="bad-uri", type=type(e).__name__, message=str(e))
try:
    with engine.connect() as c:
        pass
except ImportError as e:
    missing(e)
except Exception as e:
    orig = getattr(e, "orig", None) or e
    out(ok=False, kind="connect", type=type(orig).__name__, message=str(orig))
finally:
    engine.dispose()
out(ok=True, driver=engine.dialect.driver)
