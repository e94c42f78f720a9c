"""`python3 -m localcluster up [--nodes N] | down | status`: a Kubernetes cluster on this machine
for people without one (scripts/local-cluster.sh; docs/local-cluster.md)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from . import network as networking
from .binaries import BUILD
from .cluster import NETWORK, LocalCluster, StateError, clash_message, recorded_network, too_long_for_sockets
from .controlplane import write_kubeconfig
from .network import MAX_NODES, Network, network_of
from .processes import running_under

COMPONENTS = ("kube", "etcd", "coredns", "distribution")


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kubectl-oras" / "local-cluster"


def say(line: str) -> None:
    print(f"local-cluster: {line}", file=sys.stderr, flush=True)


def fail(line: str) -> int:
    print(f"local-cluster: error: {line}", file=sys.stderr, flush=True)
    return 1


def project_image_names() -> tuple[str, ...]:
    """The names `kubectl oras install`'s default image goes by, so it runs without a registry:
    `kubectl-oras:VERSION` is `docker.io/library/kubectl-oras:VERSION` to the CRI."""
    from kubectl_oras.release import __version__

    return (f"docker.io/library/kubectl-oras:{__version__}",)


def build_binaries() -> None:
    """The Go builds, with build.sh's own progress (minutes the first time, then cached)."""
    result = subprocess.run(["bash", str(BUILD), *COMPONENTS], stdout=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"building {', '.join(COMPONENTS)} failed (build.sh's output above)")


def build_project_image() -> Path:
    from .project_image import CACHE, IMAGE_NAME, project_archive

    fresh = not any(CACHE.glob("kubectl-oras-*.tar"))
    if fresh:
        say(f"building the project image {IMAGE_NAME} with buildah (the first time a Debian base by debootstrap, "
            "~2 min; then ~30 s after a source change)")
    began = time.monotonic()
    archive = project_archive()
    if time.monotonic() - began > 2:
        say(f"project image built in {time.monotonic() - began:.0f}s")
    return archive


def kubeconfig_path(net: Network) -> Path:
    """~/.kube/kubectl-oras-local.yaml for the default network; another network's has its name."""
    return Path.home() / ".kube" / f"{net.context}.yaml"


def write_user_kubeconfig(cluster: LocalCluster) -> Path:
    cp, path = cluster.cp, kubeconfig_path(cluster.network)
    assert cp.ca and cp.admin
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_kubeconfig(path, server=cp.server, ca=cp.ca.cert_pem(), name=cluster.network.context,
                            user={"client-certificate": str(cp.admin.cert), "client-key": str(cp.admin.key)})


def names_admin_under(config: object, root: Path) -> bool:
    """Whether a kubeconfig's text (parsed) signs in with a certificate under ``root``: the
    kubeconfig of the cluster whose state directory that is, and of no other."""
    users = config.get("users") if isinstance(config, dict) else None
    for entry in users if isinstance(users, list) else []:
        user = entry.get("user") if isinstance(entry, dict) else None
        certificate = user.get("client-certificate") if isinstance(user, dict) else None
        if isinstance(certificate, str) and Path(certificate).is_relative_to(root):
            return True
    return False


def ours(path: Path, root: Path) -> bool:
    try:
        return names_admin_under(yaml.safe_load(path.read_text()), root)
    except (OSError, yaml.YAMLError):
        return False


def kubeconfigs_of(root: Path) -> list[Path]:
    """The kubeconfigs `up` wrote for the cluster of ``root``: found by what they sign in with,
    so another state directory's is never taken for it, whatever its name."""
    return [p for p in sorted((Path.home() / ".kube").glob("kubectl-oras-local*.yaml")) if ours(p, root)]


def up(nodes: int, net: Network, chosen: bool) -> int:
    """``chosen``: whether the network was named on the command line (else the default)."""
    root = state_dir()
    try:
        existing = LocalCluster.recorded(root)
    except StateError as e:
        return fail(f"{e}: `scripts/local-cluster.sh down` removes what it can find of that cluster")
    if existing is not None and chosen and existing.network != net:
        return fail(f"the local cluster in {root} is up on network {existing.network.name} ({existing.network.cluster_cidr}); "
                    f"`scripts/local-cluster.sh down` first to have {net.name} ({net.cluster_cidr})")
    if existing is not None:
        net = existing.network
        down_parts = existing.not_running()
        readiness = existing.node_readiness() if not down_parts else {}
        if not down_parts and len(existing.nodes) == nodes and set(readiness.values()) == {"Ready"}:
            path = write_user_kubeconfig(existing)
            say(f"already up: {nodes} node(s) Ready, apiserver {existing.cp.server}")
            print(f"export KUBECONFIG={path}")
            return 0
        if not down_parts and len(existing.nodes) != nodes:
            return fail(f"the local cluster is up with {len(existing.nodes)} node(s); "
                        f"`scripts/local-cluster.sh down` first to have {nodes}")
        if not down_parts:  # every process runs: slow or NotReady for now, never torn down for it
            return fail(f"the local cluster is up but not every node is Ready ({readiness}); "
                        "`scripts/local-cluster.sh status` again in a moment")
        say(f"the local cluster in {root} is partly down ({', '.join(down_parts) or readiness}): starting it again")
        existing.stop(say)
    elif recorded_network(root) is not None or running_under(root):
        found = [*(f"process {pid}" for pid in running_under(root)), *([str(root / NETWORK)] if recorded_network(root) else [])]
        return fail(f"{', '.join(found)} of a local cluster exist but no cluster is recorded in {root}: "
                    "`scripts/local-cluster.sh down` removes them")
    else:
        clashes = networking.clashes(net)
        if clashes:
            return fail(clash_message(net, clashes))
    if too_long_for_sockets(root):
        return fail(f"{too_long_for_sockets(root)} (set XDG_STATE_HOME to one)")
    began = time.monotonic()
    say(f"building or finding {', '.join(COMPONENTS)} (pinned Go modules, cached in ~/.cache/kubectl-oras; "
        "the first build takes ~10 min)")
    build_binaries()
    archive = build_project_image()
    from .project_image import IMAGE_NAME

    cluster = LocalCluster.start(root, net, nodes=nodes, detach=True, say=say,
                                 images=((archive, project_image_names()),))
    path = write_user_kubeconfig(cluster)
    say(f"up in {time.monotonic() - began:.0f}s: {nodes} node(s) Ready; images preloaded: {IMAGE_NAME} "
        f"(also {', '.join(project_image_names())}), docker.io/library/registry:3.0.0, "
        "docker.io/library/busybox:latest")
    say(f"kubeconfig {path} (context {net.context})")
    print(f"export KUBECONFIG={path}")
    return 0


def down() -> int:
    root = state_dir()
    try:
        existing = LocalCluster.recorded(root)
    except StateError as e:
        say(f"{e}; removing what can be found without it")
        existing = None
    if existing is None and not root.exists():  # nothing of this directory's: another's is never guessed at
        say(f"no local cluster to take down in {root}")
        return 0
    cluster = existing or LocalCluster.unrecorded(root)
    cluster.stop(say)
    for path in kubeconfigs_of(root):
        path.unlink()
        say(f"removed {path}")
    say(f"down: removed every process, container, mount, cgroup, network and file it made ({root})")
    return 0


def status() -> int:
    try:
        existing = LocalCluster.recorded(state_dir())
    except StateError as e:
        return fail(f"{e}: `scripts/local-cluster.sh down` removes what it can find of that cluster")
    if existing is None:
        print("no local cluster (`scripts/local-cluster.sh up` starts one)")
        return 1
    stopped = existing.not_running()
    print(f"apiserver: {existing.cp.server}")
    for name, ready in existing.node_readiness().items():
        print(f"node {name}: {ready}")
    print(f"processes: {len(existing.everything()) - len(stopped)} running"
          + (f", not running: {', '.join(stopped)}" if stopped else ""))
    path = kubeconfig_path(existing.network)
    print(f"kubeconfig: {path}" if ours(path, existing.root) else "kubeconfig: missing (`up` writes it again)")
    return 0 if not stopped else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/local-cluster.sh",
        description="A Kubernetes cluster on this machine (root; nothing leaves it): etcd, kube-apiserver, "
                    "controller manager, scheduler, CoreDNS, and kubelet + containerd + kube-proxy nodes.",
        epilog="examples:\n  bash scripts/local-cluster.sh up && export KUBECONFIG=~/.kube/kubectl-oras-local.yaml\n"
               "  bash scripts/local-cluster.sh up --nodes 2\n  bash scripts/local-cluster.sh status\n"
               "  bash scripts/local-cluster.sh down\n"
               "  XDG_STATE_HOME=/tmp/b bash scripts/local-cluster.sh up --name korasb --pods 10.248 --links 10.249 \\\n"
               "      --services 10.98.0.0/24   (a second cluster beside the first: a state directory, names and\n"
               "                                 ranges of its own; kubeconfig ~/.kube/kubectl-oras-local-korasb.yaml)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start it (idempotent); prints `export KUBECONFIG=…`")
    start.add_argument("--nodes", type=int, default=1, help=f"how many nodes (1-{MAX_NODES}; default 1)")
    default = Network()
    start.add_argument("--name", help=f"prefix of every name it makes on this machine (default {default.name})")
    start.add_argument("--pods", help=f"the pods' /16, as its first two numbers (default {default.pods})")
    start.add_argument("--links", help=f"the nodes' links' /16, as its first two numbers (default {default.links})")
    start.add_argument("--services", help=f"the Services' range (default {default.services})")
    commands.add_parser("down", help="stop it and remove everything it made")
    commands.add_parser("status", help="what runs, and whether each node is Ready")
    args = parser.parse_args(argv)
    if args.command == "up" and not 1 <= args.nodes <= MAX_NODES:
        parser.error(f"--nodes must be between 1 and {MAX_NODES}")
    net, chosen = Network(), False
    if args.command == "up":
        options = {k: getattr(args, k) for k in ("name", "pods", "links", "services")}
        chosen = any(v is not None for v in options.values())
        try:
            net = network_of(**{k: v if v is not None else getattr(net, k) for k, v in options.items()})
        except ValueError as e:
            parser.error(str(e))
    if os.geteuid() != 0:
        return fail("needs root: it makes network namespaces and veths, and runs containerd and kubelets")
    interrupted: list[int] = []

    def interrupt(signum: int, _frame: object) -> None:
        """SIGTERM or SIGHUP (a closed terminal) stops `up` as Ctrl-C does: what it started is
        stopped again. Once: a second signal does not cut that cleanup short."""
        if not interrupted:
            interrupted.append(signum)
            raise KeyboardInterrupt
        say(f"{signal.Signals(signum).name}: already stopping, please wait")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    try:
        if args.command == "up":
            return up(args.nodes, net, chosen)
        if args.command == "down":
            return down()
        return status()
    except KeyboardInterrupt:
        return fail("interrupted (whatever `up` had started is stopped again)")
    except RuntimeError as e:
        return fail(str(e))


if __name__ == "__main__":
    sys.exit(main())
