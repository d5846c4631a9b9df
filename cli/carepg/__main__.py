"""The `carepg` command (the console script and `python -m carepg`).

`carepg mrf ingest` is handed to its own entry first (mrf/ingest_entry.py), so that its stream starts before the
whole command line is imported; whatever that entry does not take, and every other command, is the Typer app's.
"""

import sys


def main() -> int | None:
    if sys.argv[1:3] == ["mrf", "ingest"]:
        from .mrf.ingest_entry import run

        code = run(sys.argv[3:])
        if code is not None:
            return code
    from .cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
