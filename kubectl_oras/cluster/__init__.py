"""What the plugin does in a cluster: caches (create, find, status, endpoint), the install of the
controller, annotating workloads, the controller's version. Pure functions of plain dicts beside
thin async I/O over ``kubectl_oras.kube.api.Kube`` (docs/cli.md)."""
