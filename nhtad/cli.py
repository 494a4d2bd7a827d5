"""The ``nhtad`` command line: a thin layer over the library.

:func:`main` parses the arguments (:mod:`nhtad._cli_parser`), runs the command
(:mod:`nhtad._cli_commands`, :mod:`nhtad._cli_tests`) and turns an error or an interruption into
one line on stderr and an exit status, never a traceback (``-vv`` adds it): 2 for a command
line that is wrong in itself (argparse's errors, and options that contradict each other), 1
for a command that fails on its inputs (a missing file or column, a test that refuses the
data), 130 or 143 when interrupted.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings

from ._cli_inputs import UsageError
from ._cli_parser import VERBOSE_DESTS, build_parser
from .utils.interrupt import SIGINT_EXIT, SIGTERM_EXIT, sigterm_as_exit

__all__ = ["main", "build_parser"]


def main(argv=None) -> int:
    """Entry point of the ``nhtad`` console script."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    # -v counts at every level of the command line (nhtad -v test mi -v ...).
    args.verbose = sum(getattr(args, dest, 0) for dest in VERBOSE_DESTS)
    args.argv = argv
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    prog = getattr(args, "command_prog", f"nhtad {args.command}")
    try:
        with sigterm_as_exit(), _warnings_as_lines(prog):
            return args.func(args)
    except UsageError as exc:
        parser.exit(2, f"{prog}: error: {_one_line(exc)} (see {prog} --help)\n")
    except (ValueError, ImportError, OSError, RuntimeError) as exc:
        if args.verbose >= 2:
            import traceback

            traceback.print_exc()
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return _interrupted(args, "Ctrl-C", SIGINT_EXIT)
    except SystemExit as exc:
        if exc.code != SIGTERM_EXIT:
            raise
        return _interrupted(args, "SIGTERM", SIGTERM_EXIT)
    finally:
        # loky's exit hook waits without limit for every idle worker to acknowledge a stop
        # request; a worker that never reads it blocks the interpreter's exit.
        from .utils.batches import shutdown_workers

        shutdown_workers()


@contextlib.contextmanager
def _warnings_as_lines(prog):
    """Show the library's warnings as ``PROG: warning: ...`` lines on stderr.

    Python's own display names the console-script wrapper and its source line, which says
    nothing to the person who ran the command.
    """

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{prog}: warning: {_one_line(message)} ({category.__name__})", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _one_line(exc) -> str:
    return " ".join(str(exc).split())


def _interrupted(args, what, code) -> int:
    """One line instead of a traceback: what the interrupted work left and how to go on."""
    message = f"nhtad {args.command}: interrupted ({what})."
    if getattr(args, "implicit_checkpoint", None) is not None:
        message += (
            f" The finished toys/realisations are in {args.implicit_checkpoint}; run the same "
            "command again to continue from them."
        )
    elif getattr(args, "checkpoint", None) is not None:
        message += (
            f" The finished toys/realisations are in {args.checkpoint}; rerun the same "
            "command with --resume to continue."
        )
    elif hasattr(args, "checkpoint"):
        message += " Nothing finished was kept; add --checkpoint DIR to keep it next time."
    print(message, file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
