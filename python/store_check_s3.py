# Can MLflow use this S3 artifacts destination? Run by mlflow-secure (src/stores/run-checks.ts) in
# MLflow's own Python, as `python -c <this text>` from an empty working folder, before MLflow
# starts. The URI comes in MLFLOW_SECURE_CHECK_URI; the answer is one JSON line on stdout, read by
# parseCheckAnswer (src/stores/checks.ts):
#   {"ok": true, "endpoint": str}
#   {"ok": false, "kind": "missing-module", "module": str, "message": str}
#   {"ok": false, "kind": "no-credentials" | "unreachable" | "client-error" | "other", "endpoint"?: str,
#    "code"?: str, "type"?: str, "message"?: str}
# The client is made the way MLflow 3.17 makes it (mlflow/store/artifact/s3_artifact_repo.py,
# _get_s3_client): MLFLOW_S3_ENDPOINT_URL, MLFLOW_S3_IGNORE_TLS, the s3v4 signature,
# MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE, credentials from boto3's usual chain; plus short time-outs
# and one retry. A one-key listing under the prefix is what MLflow itself needs (it lists
# artifacts) and, unlike HEAD, names the error.
import json
import os
import sys
from urllib.parse import urlparse


def out(**kw):
    print(json.dumps(kw))
    sys.stdout.flush()
    sys.exit(0)


try:
    import boto3
    from botocore import exceptions as bx
    from botocore.config import Config
except ImportError as e:
    out(ok=False, kind="missing-module", module=getattr(e, "name", None) or "boto3", message=str(e))
u = urlparse(os.environ["MLFLOW_SECURE_CHECK_URI"])
sig = os.environ.get("MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION", "s3v4")
if sig.lower() == "unsigned":
    from botocore import UNSIGNED as sig
ignore_tls = os.environ.get("MLFLOW_S3_IGNORE_TLS", "").lower() in ("true", "1")
config = Config(
    signature_version=sig,
    s3={"addressing_style": os.environ.get("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE", "auto")},
    connect_timeout=5,
    read_timeout=15,
    retries={"mode": "standard", "max_attempts": 2},
)
try:
    client = boto3.client(
        "s3",
        endpoint_url=os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None,
        verify=False if ignore_tls else None,
        config=config,
    )
except Exception as e:
    out(ok=False, kind="other", type=type(e).__name__, message=str(e))
endpoint = client.meta.endpoint_url
try:
    client.list_objects_v2(Bucket=u.netloc, Prefix=u.path.lstrip("/"), MaxKeys=1)
except bx.NoCredentialsError:
    out(ok=False, kind="no-credentials", endpoint=endpoint)
except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError) as e:
    out(ok=False, kind="unreachable", endpoint=endpoint, message=str(e))
except bx.ClientError as e:
    err = e.response.get("Error", {})
    out(
        ok=False,
        kind="client-error",
        endpoint=endpoint,
        code=str(err.get("Code", "")),
        message=str(err.get("Message", "")),
    )
except Exception as e:
    out(ok=False, kind="other", endpoint=endpoint, type=type(e).__name__, message=str(e))
out(ok=True, endpoint=endpoint)
