"""The frozen `kubectl-oras` executable's first module (PyInstaller runs it as __main__)."""

from kubectl_oras.cli import main

main()
