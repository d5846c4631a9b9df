"""Where every `carepg` run starts (the console script; `python -m carepg` too).

`carepg mrf ingest` is handed to its own entry first (mrf/ingest_entry.py), so that its stream starts before the
rest of the command line is imported; what that entry does not take goes on like any other command.

`carepg shifts WORKER [--from] [--to] [--limit] [--after] [--json]`, the question carepg exists to answer, runs
without Typer (or psycopg, or Rich): importing them takes several times what psql needs to answer the same
question. Its command line is read here, each value checked by the same check the Typer command's parameter
uses (args.py), and the body is the same function (pages.available). Anything this reader does not take exactly
as Click would, a bad value included, goes to the Typer app (cli.py), which reads it the usual way and says what
is wrong: help, errors and behaviour are the Typer command's, only sooner.
"""

from __future__ import annotations

import sys

# `carepg shifts`' options: name -> whether it takes a value (cli.py declares the same ones).
SHIFTS_OPTIONS = {"--from": True, "--to": True, "--limit": True, "--after": True, "--json": False}


def main() -> None:
    argv = sys.argv[1:]
    if argv[:2] == ["mrf", "ingest"]:
        from .mrf.ingest_entry import run as ingest

        code = ingest(argv[2:])
        if code is not None:
            _flush_stdout()
            sys.exit(code)
    request = read_shifts(argv)
    if request is not None:
        from . import pages
        from .console import run

        code = run(pages.available, request)
    else:
        from .cli import app

        code = app(args=argv, prog_name="carepg", standalone_mode=False)
    _flush_stdout()
    sys.exit(code)


def read_shifts(argv: list[str]) -> dict | None:
    """The keyword arguments of pages.available() for a plain, valid `carepg shifts` command line; None for
    anything else (another command, help, an unusual spelling, a repeated option, a bad value)."""
    from .errors import InvalidInput

    if not argv or argv[0] != "shifts":
        return None
    given: dict[str, str | bool] = {}
    positional: list[str] = []
    words = iter(argv[1:])
    for word in words:
        if not word.startswith("-"):
            positional.append(word)
            continue
        name, equals, value = word.partition("=")
        if name not in SHIFTS_OPTIONS or name in given:
            return None
        if SHIFTS_OPTIONS[name]:
            if not equals:
                value = next(words, None)
                if value is None or value.startswith("-"):  # Click's own rules decide these
                    return None
            given[name] = value
        elif equals:
            return None
        else:
            given[name] = True
    if len(positional) != 1:
        return None
    from . import args

    try:
        window = args.window(given.get("--from"), given.get("--to"), ("--from", "--to"))  # type: ignore[arg-type]
        return {
            "worker_id": args.worker_id(positional[0]),
            "limit": args.limit(given.get("--limit", args.CLI_PAGE)),  # type: ignore[arg-type]
            "after": args.page_cursor(given.get("--after")),  # type: ignore[arg-type]
            "as_json": bool(given.get("--json")),
            **window,
        }
    except InvalidInput:
        return None


def _flush_stdout() -> None:
    """Flush what the command printed; a reader that went away (`| head`) is not an error."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second complaint at exit


if __name__ == "__main__":  # pragma: no cover
    main()
