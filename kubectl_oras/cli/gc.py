"""`kubectl oras gc`: delete the tags a retention policy no longer keeps (docs/retention.md)."""

from __future__ import annotations

import datetime as _dt
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import OrasError
from ..transfers.options import TransferOptions
from .common import OutputFormat, OutputOption, add_command, examples, handle_errors, print_data, stderr_is_terminal
from .progress import human_bytes
from .targets import session, transfer_command

if TYPE_CHECKING:
    from ..oci.client import RegistryClient
    from ..retention.choice import Policy, Verdict
    from ..retention.registry import Outcome, Scan

EPILOG = examples(
    "# in the cache oras of the current namespace: what would go if each repository kept 5 tags",
    "kubectl oras gc --keep-last 5 --dry-run",
    "",
    "# the same against any registry",
    "kubectl oras gc -r 127.0.0.1:5000 --plain-http --keep-last 5 --dry-run",
    "",
    "# the newest 2 runs of each repository (a run: the tags one Job pushed), nothing under an hour old",
    "kubectl oras gc --keep-last-runs 2 --min-age 1h --dry-run",
    "",
    "# tags over 30 days old in two repositories, never final-*",
    "kubectl oras gc metric/lammps metric/hwloc -r localhost:5000 \\",
    "    --max-age 720h --keep 'final-*'",
    note="A tag's time is its manifest's org.opencontainers.image.created; tags without one are kept. "
         "gc reads no cluster: it does not know which tags running pods are about to pull (the controller's "
         "retention does); --min-age keeps the fresh ones. "
         "Referrer tags (sha256-...) are never deleted. "
         "Deleting frees nothing on disk: the registry's own garbage collector does, when it runs.",
)


class NoLimit(OrasError):
    pass


def _verdict_json(v: Verdict, outcome: Outcome | None) -> dict[str, object]:
    return {
        "repository": v.repository, "tag": v.tag, "digest": v.digest, "action": v.action, "reason": v.reason,
        "time": v.time.isoformat().replace("+00:00", "Z"), "timeSource": v.time_source,
        "result": outcome.result if outcome else "kept", "deletedBy": outcome.by if outcome else "",
        "message": outcome.message if outcome else "",
    }


@handle_errors
@transfer_command
def gc(
    repositories: Annotated[list[str] | None, typer.Argument(
        metavar="[REPO]...", help="Repositories to clean (all the registry lists when none are given).")] = None,
    *,
    options: TransferOptions,
    keep_last: Annotated[int | None, typer.Option("--keep-last", min=0, metavar="N",
                                                  help="Keep the newest N tags of each repository.")] = None,
    max_age: Annotated[str | None, typer.Option("--max-age", metavar="DURATION",
                                                help="Delete tags older than this (e.g. 720h).")] = None,
    keep_last_runs: Annotated[int | None, typer.Option(
        "--keep-last-runs", min=0, metavar="N",
        help="Keep the newest N runs of each repository (a run: the tags one Job pushed).")] = None,
    min_age: Annotated[str | None, typer.Option("--min-age", metavar="DURATION",
                                                help="Delete no tag younger than this (e.g. 1h; default: none).")] = None,
    keep: Annotated[list[str] | None, typer.Option("--keep", metavar="PATTERN",
                                                   help="Never delete tags matching this shell pattern (repeatable).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be deleted; delete nothing.")] = False,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=32,
                                             help="Registry requests at once.")] = 8,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Delete the tags a retention policy no longer keeps, printing each one and why."""
    from ..durations import min_age_duration, retention_duration
    from ..oci.errors import InvalidReference
    from ..oci.reference import is_valid_repository
    from ..retention.choice import Policy

    if keep_last is None and max_age is None and keep_last_runs is None:
        raise NoLimit("say what to delete: --keep-last N, --keep-last-runs N, --max-age DURATION, or more than one")
    try:
        age = retention_duration(max_age) if max_age is not None else None
    except ValueError as e:
        raise NoLimit(f"--max-age: {e}") from None
    try:
        youngest = min_age_duration(min_age) if min_age is not None else None
    except ValueError as e:
        raise NoLimit(f"--min-age: {e}") from None
    for name in repositories or []:
        if not is_valid_repository(name):
            raise InvalidReference(f"{name!r} is not a repository name (lowercase, e.g. metric/lammps; no tag)")
    policy = Policy(keep_last=keep_last, max_age=age, keep=tuple(keep or ()), min_age=youngest,
                    keep_last_runs=keep_last_runs)
    with session(options) as transfers:
        place = transfers.place()
        what = "gc" + (f" {place.registry}" if place.registry else "")
        with transfers.registry(place, push=not dry_run, what=what, pool_size=concurrency) as client:
            _collect(client, transfers.reached(place).name, repositories, policy, max_age, dry_run=dry_run,
                     concurrency=concurrency, output=output)


def _collect(client: RegistryClient, registry: str, repositories: list[str] | None, policy: Policy,
             max_age: str | None, *, dry_run: bool, concurrency: int, output: OutputFormat) -> None:
    from ..oci.errors import AuthenticationFailed
    from ..retention.choice import choose, runs_cut_by_keep_last
    from ..retention.registry import BY_TAG, delete_chosen, delete_mode, scan

    show_progress = stderr_is_terminal() and output is OutputFormat.text

    def progress(done: int, total: int) -> None:
        if show_progress and (done == total or done % 50 == 0):
            sys.stderr.write(f"\rread {done}/{total} tags")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    found = scan(client, repositories or None, concurrency=concurrency, on_progress=progress)
    verdicts = choose(found.tags, policy, _dt.datetime.now(_dt.UTC))
    for warning in runs_cut_by_keep_last(found.tags, policy):
        typer.echo(f"warning: {warning}", err=True)
    chosen = [v for v in verdicts if v.delete]
    done: list[Outcome] = []
    mode = ""
    try:
        if chosen:
            try:
                mode = delete_mode(client, chosen[0].repository)
            except AuthenticationFailed:
                if not dry_run:
                    raise
                mode = BY_TAG  # credentials that may only read cannot ask: the dry run goes by the rules alone
            delete_chosen(client, verdicts, mode=mode, dry_run=dry_run, concurrency=concurrency, done=done)
    except BaseException:
        if done:  # cut short (Ctrl-C, an error): say what was done before saying why it stopped
            _report(output, registry, dry_run, mode, policy, max_age, verdicts, list(done), found)
        raise
    failed = _report(output, registry, dry_run, mode, policy, max_age, verdicts, done, found)
    if failed or found.problems:
        raise typer.Exit(1)


def _report(output: OutputFormat, registry: str, dry_run: bool, mode: str, policy: Policy, max_age: str | None,
            verdicts: list[Verdict], done: list[Outcome], found: Scan) -> int:
    """Print what was done; the number of deletes that failed."""
    from ..retention.choice import bytes_freed
    from ..retention.registry import CHANGED, DELETED, FAILED, GONE, SPARED, WOULD_DELETE

    verbs = {DELETED: "deleted", WOULD_DELETE: "would delete", SPARED: "not deleted", CHANGED: "not deleted",
             GONE: "already gone", FAILED: "failed to delete"}
    outcome_of = {(o.repository, o.tag): o for o in done}
    gone = [o for o in done if o.result in (DELETED, WOULD_DELETE)]
    gone_tags = {(o.repository, o.tag) for o in gone}
    freed = bytes_freed([v for v in verdicts if (v.repository, v.tag) in gone_tags], found.tags)
    failed = [o for o in done if o.result == FAILED]
    lines = []
    for v in verdicts:
        o = outcome_of.get((v.repository, v.tag))
        if o is None:
            continue
        why = o.message if o.result in (SPARED, CHANGED) else v.reason
        lines.append(f"{verbs[o.result]} {v.reference}: {why}" if why else f"{verbs[o.result]} {v.reference}")
    kept = sum(1 for v in verdicts if not v.delete)
    others = len(done) - len(gone)
    repos = f"{len(found.repositories)} {'repository' if len(found.repositories) == 1 else 'repositories'}"
    summary = (f"{'Would delete' if dry_run else 'Deleted'} {len(gone)} of {len(verdicts)} tags in {repos} "
               f"({kept} kept by the policy{f', {others} not deleted' if others else ''}); "
               f"nothing is freed on disk until the registry's garbage collector runs, which would then free "
               f"{human_bytes(freed)} of blobs")
    print_data(output, {
        "registry": registry, "dryRun": dry_run, "deletedBy": mode,
        "policy": {"keepLast": policy.keep_last, "keepLastRuns": policy.keep_last_runs, "maxAge": max_age,
                   "minAgeSeconds": policy.min_age, "keep": list(policy.keep)},
        "tags": [_verdict_json(v, outcome_of.get((v.repository, v.tag))) for v in verdicts],
        "deleted": len(gone), "kept": kept, "bytesFreed": freed, "problems": found.problems,
        "failed": [o.reference for o in failed],
    }, "\n".join([*lines, summary]), names=[o.reference for o in gone])
    for problem in found.problems:
        typer.echo(f"warning: {problem}", err=True)
    for o in failed:
        typer.echo(f"error: {o.message}" if o.reference in o.message else f"error: delete {o.reference}: {o.message}",
                   err=True)
    return len(failed)


def register(app: typer.Typer) -> None:
    add_command(app, gc, epilog=EPILOG)
