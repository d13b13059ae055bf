"""The ``unisim`` command line: thin wrappers over library calls.

    unisim --help
    unisim run configs/train_burgers_golden.yaml
    python -m unisim configs validate configs/*.yaml

``main(argv) -> int`` runs in process (tests call it); ``run()`` is the console
script. Errors the user can fix print one line and exit 2; a failed check
exits 1; a tracking server that does not answer exits 4; server, URI and
credential errors are one line too; Ctrl-C exits 130 and SIGTERM 143, each after
ending every open run KILLED. Command modules are imported here, but they
import torch and mlflow only inside the commands.
"""

from __future__ import annotations

import importlib
import signal
import sys
from typing import Annotated, Any

import typer

from unisim import __version__

app = typer.Typer(
    name="unisim",
    help="Train, evaluate and manage neural PDE surrogates on MLflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Top-level commands: name -> "module:function".
COMMANDS = {
    "run": "unisim.commands.run:run",
    "suite": "unisim.commands.suite:suite",
    "train": "unisim.commands.train:train",
    "evaluate": "unisim.commands.evaluate:evaluate",
    "promote": "unisim.commands.promote:promote",
    "leaderboard": "unisim.commands.promote:leaderboard",
    "sync": "unisim.commands.server:sync",
    "ui": "unisim.commands.ui:ui",
    "sweep": "unisim.commands.sweep:sweep",
}
# Sub-command groups: name -> module exposing ``app``.
GROUPS = {
    "data": "unisim.commands.data",
    "experiments": "unisim.commands.experiments",
    "runs": "unisim.commands.runs",
    "registry": "unisim.commands.registry",
    "server": "unisim.commands.server",
    "vast": "unisim.commands.vast",
    "configs": "unisim.commands.configs",
}


_TYPE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "Path": "PATH"}


def _plain_help_types() -> None:
    """One metavar style in every ``--help``: upper case, no ``<str>``/``<bool>`` tags.

    typer 0.2x prints its own ``<type>`` beside every parameter, flags included, next to
    our upper-case metavars; here options show click's TEXT / INTEGER / FLOAT (or their
    metavar), flags show nothing, and arguments show their upper-case name only.
    """
    from typer import core

    def option_type(self: Any, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        if self.metavar is not None:
            return str(self.metavar).upper()
        label = core._TyperParameter.display_type(self, ctx).strip("<>")
        label = label.removeprefix("list[").removesuffix("]").removesuffix(" range")
        if "|" in label:
            return f"[{label}]"
        return _TYPE_NAMES.get(label, label.upper())

    def argument_name(self: Any) -> str:
        return str(self.metavar if self.metavar is not None else self.name).upper()

    core.TyperOption.display_type_rich = option_type
    core.TyperArgument.display_type_rich = lambda self, ctx: None
    core.TyperArgument.display_name_raw = property(argument_name)


def _register() -> None:
    """Add every command and group (their modules import only typer and rich at load)."""
    for name, spec in COMMANDS.items():
        module, func = spec.split(":")
        app.command(name)(getattr(importlib.import_module(module), func))
    for name, module in GROUPS.items():
        app.add_typer(importlib.import_module(module).app, name=name)


def _version(value: bool) -> None:
    if value:
        print(f"unisim {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Train, evaluate and manage neural PDE surrogates on MLflow."""


_plain_help_types()
_register()


_terminated: list[int] = []  # set by the handler: typer returns Exit(130) for any interrupt


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM -> ``Terminated`` in the main thread: runs end KILLED as on Ctrl-C.

    Later SIGTERMs (a process group and its leader both signalled) are ignored, so
    the cleanup that ends the runs is not itself interrupted.
    """
    from unisim.errors import Terminated

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _terminated.append(signum)
    raise Terminated()


def _tracking_error(exc: BaseException) -> Any:
    """A one-line UnisimError for a tracking server, URI or credential error, else None."""
    if "mlflow" not in sys.modules and "sqlalchemy" not in sys.modules:
        return None  # neither was loaded: this cannot be one
    from unisim.tracking.transport import user_error

    return user_error(exc)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit code (no SystemExit, no traceback)."""
    from unisim.errors import EXIT_TERMINATED, Terminated, UnisimError

    command = typer.main.get_command(app)
    _terminated.clear()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        result = command.main(args=argv, prog_name="unisim", standalone_mode=False)
        if _terminated:  # typer returned Exit(130)'s code for the interrupt
            raise Terminated()
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt) as exc:
        if isinstance(exc, Terminated) or isinstance(exc.__cause__, Terminated):
            print("terminated (SIGTERM)", file=sys.stderr)
            return EXIT_TERMINATED
        print("interrupted", file=sys.stderr)
        return 130
    except UnisimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        err = _tracking_error(exc)
        if err is not None:
            print(f"error: {err}", file=sys.stderr)
            return err.exit_code
        # click's (or typer's vendored click's) usage errors: one line, their exit code.
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":
            return 2  # the help text has been printed already
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        print(f"error: {exc.format_message()}{where}", file=sys.stderr)
        return exc.exit_code
    finally:
        signal.signal(signal.SIGTERM, previous)
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
