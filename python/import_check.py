# Is a store driver there? `mlflow-secure setup --with` asks MLflow's Python (src/setup/extras.ts),
# as `python -c <this text> <module>` from an empty working folder: exit 0 when the module imports
# (an import, not a lookup: psycopg without its libpq fails only when imported), else the error.
import importlib, sys; importlib.import_module(sys.argv[1])
