"""Whether this checkout is the one installed and every requirement in pyproject.toml (with the
test extras) is present, at its pinned version where it has one: exit 0 if so (scripts/setup.sh).

Run it isolated (``python3 -I``): otherwise the current directory comes first on sys.path, so
``import kubectl_oras`` finds the checkout itself, never the installed copy, and another checkout's
editable install passed for this one (a clean clone's tests then ran the other checkout's agent and
manifests wherever a command was started outside the clone).

    python3 -I scripts/installed.py CHECKOUT
"""

import importlib.metadata as md
import os
import re
import sys
import tomllib

checkout = sys.argv[1]
with open(os.path.join(checkout, "pyproject.toml"), "rb") as f:
    project = tomllib.load(f)["project"]
for req in project["dependencies"] + project["optional-dependencies"]["test"]:
    name = re.split(r"[ ;<>=!~\[]", req, maxsplit=1)[0]
    try:
        have = md.version(name)
    except md.PackageNotFoundError:
        sys.exit(1)
    pin = re.search(r"==([^;, ]+)", req)
    if pin and have != pin.group(1):
        sys.exit(1)
try:
    import kubectl_oras
except ImportError:
    sys.exit(1)
sys.exit(os.path.dirname(os.path.dirname(os.path.realpath(kubectl_oras.__file__))) != os.path.realpath(checkout))
