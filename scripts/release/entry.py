"""The frozen `kubectl-oras` executable's first module (PyInstaller runs it as __main__).

PyInstaller's bootloader re-executes itself with LD_LIBRARY_PATH pointing into the bundle's
`_internal/` and `_PYI_*` variables set. Programs we start (a kubeconfig's exec credential
plugin: aws, gke-gcloud-auth-plugin, kubelogin…) must not inherit them, or they load our
libssl, libstdc++ and libpython instead of their own: the loader has read them already, so
they are put back as the user had them before any command runs.
"""

import os
import sys

if getattr(sys, "frozen", False):
    original = os.environ.pop("LD_LIBRARY_PATH_ORIG", None)
    if original is not None:
        os.environ["LD_LIBRARY_PATH"] = original
    else:
        os.environ.pop("LD_LIBRARY_PATH", None)
    for name in [n for n in os.environ if n.startswith("_PYI_")]:
        del os.environ[name]

from kubectl_oras.cli import main  # noqa: E402

main()
