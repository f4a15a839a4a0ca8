"""The `nas` Typer application and its error boundary.

Area modules (``nas/cli/<area>.py``) add their commands to :data:`app` on import
(:mod:`nas.cli.areas` says which).
"""

from __future__ import annotations

import sys
import traceback
from typing import NoReturn

import typer
import typer.main
from typer.core import TyperGroup

from nas.errors import NasError

#: the line every command prints when Ctrl-C (SIGINT) stops it
INTERRUPTED = "interrupted: results written so far are kept"


class _Commands(TyperGroup):
    """The root command group: a KeyboardInterrupt inside any command becomes the
    :data:`INTERRUPTED` line and exit code 130.

    Typer's own handling turns it into a silent exit 130 before :func:`run_app` could
    see it, so it is caught here, around every (sub)command's invocation.
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            typer.echo(INTERRUPTED, err=True)
            raise typer.Exit(130) from None


app = typer.Typer(
    name="nas",
    cls=_Commands,
    help="Grammar-driven neural architecture search.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state = {"debug": False}


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """Grammar-driven neural architecture search."""
    _state["debug"] = debug


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one error line to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def run_app(argv: list[str] | None = None) -> int:
    """Run the CLI, turning every platform error into one line and a non-zero exit."""
    args = argv if argv is not None else sys.argv[1:]
    debug = "--debug" in args
    from nas.cli.areas import load_areas  # the areas import this module

    try:
        load_areas(args)
        # Without standalone mode click returns (rather than raises) typer.Exit codes.
        code = app(args=argv, standalone_mode=False, prog_name="nas")
        if isinstance(code, int):
            return code
    except NasError as exc:
        if debug:
            traceback.print_exc()
        typer.echo(f"error: {exc}", err=True)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:  # outside a command (while parsing arguments)
        typer.echo(INTERRUPTED, err=True)
        return 130
    except OSError as exc:  # the file system refused a user's path (permissions, space...)
        if debug:
            traceback.print_exc()
        name = str(exc.filename or "")
        where = f" ({name if len(name) <= 80 else name[:77] + '...'})" if name else ""
        typer.echo(f"error: {exc.strerror or exc}{where}; check the path, its permissions "
                   "and free space", err=True)
        return 2
    except typer.TyperException as exc:  # click's usage errors, as click shows them
        return _usage_error(exc, debug, args)
    except Exception as exc:  # anything unexpected
        if debug:
            traceback.print_exc()
        else:
            typer.echo(
                f"error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for details)",
                err=True,
            )
        return 1
    return 0


def _usage_error(exc: Exception, debug: bool, argv: list[str]) -> int:
    """A usage error (missing argument, unknown option, value of the wrong type): the
    usage line, a hint and ``Error: ...`` naming the option, exit 2 (click's default)."""
    show = getattr(exc, "show", None)
    if show is None:  # not one of click's user-facing errors
        if debug:
            traceback.print_exc()
        typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        return 1
    if hasattr(exc, "ctx") and exc.ctx is None:
        # click's parser raises some errors ("Option '-n' requires an argument") without
        # a context, and then shows no usage line: find the command the user typed
        exc.ctx = _command_context(argv)
    show()
    return getattr(exc, "exit_code", 2)


def _command_context(argv: list[str]):
    """A click context of the (sub)command that ``argv`` names, for its usage line."""
    command = typer.main.get_command(app)
    ctx = command.make_context("nas", [], resilient_parsing=True)
    for token in argv:
        if token.startswith("-"):
            continue
        sub = getattr(command, "commands", {}).get(token)
        if sub is None:
            break
        command, ctx = sub, sub.make_context(token, [], parent=ctx, resilient_parsing=True)
    return ctx
