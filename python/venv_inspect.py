# What setup's virtual environment holds (src/setup/mlflow.ts, inspectVenv), run as
# `python -c <this text>` by the venv's Python from an empty working folder: the Python version,
# then the installed pip and mlflow versions ('-' when absent), one per line. Read-only and quick:
# one Python start-up, no pip, no network.
import sys
from importlib import metadata


def version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


print("%d.%d.%d" % sys.version_info[:3])
print(version("pip"))
print(version("mlflow"))
