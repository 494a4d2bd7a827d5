"""The ``nhtad`` command line: a thin layer over the library.

:func:`main` parses the arguments (:mod:`nhtad._cli_parser`), runs the command
(:mod:`nhtad._cli_commands`) and turns an error or an interruption into one line on stderr and
an exit status, never a traceback.
"""

from __future__ import annotations

import logging
import sys

from ._cli_parser import build_parser
from .utils.interrupt import SIGINT_EXIT, SIGTERM_EXIT, sigterm_as_exit

__all__ = ["main", "build_parser"]


def main(argv=None) -> int:
    """Entry point of the ``nhtad`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        with sigterm_as_exit():
            return args.func(args)
    except (ValueError, ImportError, OSError, RuntimeError) as exc:
        message = " ".join(str(exc).split())
        print(f"nhtad {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return _interrupted(args, "Ctrl-C", SIGINT_EXIT)
    except SystemExit as exc:
        if exc.code != SIGTERM_EXIT:
            raise
        return _interrupted(args, "SIGTERM", SIGTERM_EXIT)


def _interrupted(args, what, code) -> int:
    """One line instead of a traceback: what the interrupted work left and how to go on."""
    message = f"nhtad {args.command}: interrupted ({what})."
    if getattr(args, "checkpoint", None) is not None:
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
