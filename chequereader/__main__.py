"""``python -m chequereader``: the command line (see :mod:`chequereader.cli`)."""

from .cli import main

if __name__ == "__main__":  # pragma: no cover - run as a module
    main(prog_name="chequereader")
