# The health probe of MLflow's container in an export (compose healthcheck, Kubernetes probes), run
# as `python -c <this text>` inside MLflow's image, which has Python but no curl: MLflow listens on
# loopback only, where the kubelet's HTTP probes do not connect. `mlflow-secure export` embeds this
# text in the files it writes (the container has no copy of this folder). Host `localhost` is always
# among MLflow's allowed hosts; 127.0.0.1:5000 is MLFLOW_LISTEN and PORTS.mlflow of
# src/export/stack.ts. Any failure raises, which exits non-zero: unhealthy.
import urllib.request
r = urllib.request.Request('http://127.0.0.1:5000/health', headers={'Host': 'localhost'})
urllib.request.urlopen(r, timeout=5)
