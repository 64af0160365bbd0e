# Which Python is this? `mlflow-secure setup` asks each candidate (src/setup/python.ts), as
# `python -c <this text>` from an empty working folder: its version on the first line, the
# interpreter itself (what `py -3` or a pyenv shim resolved to) on the second. One line of code,
# so that it runs on any Python 3, however old, and says its version.
import sys; print("%d.%d.%d" % sys.version_info[:3]); print(sys.executable)
