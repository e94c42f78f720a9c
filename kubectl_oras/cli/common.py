"""What every command shares: registry options, the one output path for data (text, or -o
json|yaml|name|jsonpath=TEMPLATE), and turning errors into one line.

Light on purpose: every command imports it to build its options, and `--help` should not load the
HTTP stack or PyYAML, so they are imported where they are used (docs/architecture.md).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, TypeVar

import typer

from ..errors import OrasError
from ..oci.defaults import Timeouts
from ..transfers.options import TIMEOUT_VARIABLES

F = TypeVar("F", bound=Callable[..., Any])


class OutputFormat:
    """How a command prints its result: text for people; json, yaml, name or jsonpath=TEMPLATE
    for programs (kubectl's -o). The words are single values (``output is OutputFormat.json``)."""

    WORDS = ("text", "json", "yaml", "name")
    text: ClassVar[OutputFormat]
    json: ClassVar[OutputFormat]
    yaml: ClassVar[OutputFormat]
    name: ClassVar[OutputFormat]

    def __init__(self, kind: str, template: str = "") -> None:
        self.kind = kind
        self.template = template  # jsonpath's

    def __str__(self) -> str:
        return f"jsonpath={self.template}" if self.kind == "jsonpath" else self.kind

    def __repr__(self) -> str:
        return f"OutputFormat({str(self)!r})"


for _word in OutputFormat.WORDS:
    setattr(OutputFormat, _word, OutputFormat(_word))


def output_format(given: str | OutputFormat) -> OutputFormat:
    """-o's value: one of the words, or ``jsonpath=TEMPLATE`` (checked before the command runs)."""
    if isinstance(given, OutputFormat):
        return given
    if given in OutputFormat.WORDS:
        return getattr(OutputFormat, given)
    kind, eq, template = given.partition("=")
    if kind == "jsonpath":
        if not eq or not template:
            raise typer.BadParameter("jsonpath needs a template: -o jsonpath='{.items[*].name}'")
        from .jsonpath import check

        try:
            return OutputFormat("jsonpath", check(template))
        except OrasError as e:
            raise typer.BadParameter(str(e)) from None
    raise typer.BadParameter(f"{given!r} is not one of text, json, yaml, name, jsonpath=TEMPLATE")


OUTPUT_HELP = "Output format: text, json, yaml, name or jsonpath=TEMPLATE (docs/cli.md)."
OutputOption = Annotated[OutputFormat, typer.Option("--output", "-o", parser=output_format, metavar="FORMAT",
                                                    help=OUTPUT_HELP)]


RegistryOption = Annotated[
    str | None,
    typer.Option("--registry", "-r", metavar="HOST:PORT",
                 help="Registry to talk to (or write HOST:PORT/ in front of the reference; or set "
                      "KUBECTL_ORAS_REGISTRY). Without one, the command goes to a cache (--cache)."),
]
PlainHttpOption = Annotated[
    bool, typer.Option("--plain-http", envvar="KUBECTL_ORAS_PLAIN_HTTP", help="Use HTTP instead of HTTPS.")
]
InsecureOption = Annotated[
    bool, typer.Option("--insecure", help="Use HTTPS without verifying the registry's certificate.")
]
ConcurrencyOption = Annotated[
    int, typer.Option("--concurrency", min=1, max=32, help="Layers transferred at once.")
]
TimeoutOption = Annotated[
    str | None,
    typer.Option("--timeout", envvar=TIMEOUT_VARIABLES["--timeout"], metavar="DURATION",
                 help="Give up when the whole command has not finished after this long (e.g. 90s, 10m). "
                      "Default: no limit."),
]
ConnectTimeoutOption = Annotated[
    str, typer.Option("--connect-timeout", envvar=TIMEOUT_VARIABLES["--connect-timeout"], metavar="DURATION",
                      help="How long to wait for the registry to accept a connection."),
]
ReadTimeoutOption = Annotated[
    str, typer.Option("--read-timeout", envvar=TIMEOUT_VARIABLES["--read-timeout"], metavar="DURATION",
                      help="How long to wait for the registry's next bytes; a registry silent for longer is retried, "
                           "then given up on (within about a minute by default)."),
]
DEFAULT_CONNECT_TIMEOUT = f"{Timeouts.connect:g}s"
DEFAULT_READ_TIMEOUT = f"{Timeouts.read:g}s"


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: stop the transfers, clean up, exit."""


_running_as_program = False  # not in tests that call the commands in-process


def run_as_program(command: Callable[[], Any]) -> None:
    """Run the command line as the real program: SIGTERM stops it like Ctrl-C, --timeout rings even
    when a read blocks, and it exits as soon as its own clean-up (staging directories, temporary
    archives) has run, without waiting for threads still blocked on a socket."""
    global _running_as_program
    _running_as_program = True

    def terminate(signum: int, frame: object) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, terminate)
    code = 0
    try:
        command()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:  # a closed pipe: what was not written cannot be
                code = code or 141
    os._exit(code)


def examples(*lines: str, note: str = "") -> str:
    """A command's epilog: "Examples:", the lines kept as written (click rewraps only the note)."""
    block = "\n".join(f"  {line}" if line else "" for line in lines)
    paragraphs = ["\b\nExamples:", *(f"\b\n{part}" for part in block.split("\n\n"))]
    return "\n\n".join([*paragraphs, *([note] if note else [])])


def add_command(app: typer.Typer, command: Callable[..., Any], *, epilog: str, name: str | None = None) -> None:
    """Register ``command`` under its function's name; the list of commands shows the first line of
    its docstring whole (click's plain help would cut it to fit the line)."""
    summary = (command.__doc__ or "").strip().splitlines()[0]
    app.command(name or command.__name__, epilog=epilog, short_help=summary)(command)


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """Bad input and failures become one line on stderr and exit 1; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except OrasError as e:
            raise fail(str(e)) from None
        except BrokenPipeError:
            # stdout closed early (`| head`): stop quietly with the code of a SIGPIPE death, as
            # other command-line tools do, and let nothing more be written to the closed pipe.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(141) from None
        except OSError as e:
            where = f"{e.filename}: " if e.filename else ""
            raise fail(f"{where}{e.strerror or e}") from None
        except KeyboardInterrupt as e:
            raise fail("interrupted", 143 if isinstance(e, Terminated) else 130) from None

    return wrapper  # type: ignore[return-value]


def alarm(limits: Timeouts) -> Callable[[str], None]:
    """What a transfer calls as it starts talking to its registry (``what``): with --timeout, the
    clock starts there and covers the rest of the command."""

    def start(what: str) -> None:
        from ..oci.signals import arm_alarm

        if limits.total is not None and _running_as_program:
            arm_alarm(limits.total, what=what)

    return start


def print_data(fmt: OutputFormat, data: Any, text: str, *, names: list[str] | None = None) -> None:
    """The result as text, or as data (-o json|yaml|name|jsonpath=...): the one way every command
    prints one. ``names`` are what -o name prints (kubectl's ``kind/name``, a repository, a tag);
    without them -o name is refused naming the command's output."""
    if fmt is OutputFormat.json:
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif fmt is OutputFormat.yaml:
        import yaml

        sys.stdout.write(yaml.safe_dump(data, sort_keys=False))
    elif fmt is OutputFormat.name:
        if names is None:
            raise OrasError("-o name: this command's output has no names; use -o json, yaml or jsonpath=...")
        if names:
            typer.echo("\n".join(names))
    elif fmt.kind == "jsonpath":
        from .jsonpath import render

        typer.echo(render(fmt.template, data), nl=False)
    elif text:
        typer.echo(text)


def parse_annotations(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise OrasError(f"annotation {pair!r} must be key=value")
        out[key] = value
    return out


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
