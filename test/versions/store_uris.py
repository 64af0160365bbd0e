"""Which store MLflow's own registries pick for each URI given (argv), without opening any.

Prints one JSON object: {uri: {"tracking": builder or exception name, "registry": ...}}. Run in
the venv of the MLflow version under test (test/versions/matrix.test.ts).
"""
import json
import sys

from mlflow.tracking._model_registry.utils import _get_store_registry
from mlflow.tracking._tracking_service.utils import _tracking_store_registry


def builder(registry, uri):
    try:
        return registry.get_store_builder(uri).__name__
    except Exception as e:  # the exception's class is the answer
        return type(e).__name__


print(json.dumps({
    uri: {"tracking": builder(_tracking_store_registry, uri), "registry": builder(_get_store_registry(), uri)}
    for uri in sys.argv[1:]
}))
