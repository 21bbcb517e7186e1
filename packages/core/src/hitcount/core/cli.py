"""The ``hitcount`` command: a parser built from the commands every installed plugin registers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hitcount.core.errors import HitcountError
from hitcount.core.logs import configure_logging
from hitcount.core.masking import Secrets
from hitcount.core.runtime import Runtime
from hitcount.core.settings import LOG_LEVEL


def build_parser(runtime: Runtime) -> argparse.ArgumentParser:
    """One subparser per registered command, in name order."""
    parser = argparse.ArgumentParser(prog="hitcount", description="Count hits per id over trailing windows.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, registered in sorted(runtime.registry.commands.items()):
        command = registered.value
        subparser = subparsers.add_parser(name, help=command.help, description=command.help)
        command.configure(subparser)
        subparser.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hitcount``; errors hitcount raises on purpose print one line and exit 2."""
    secrets = Secrets()
    try:
        runtime = Runtime.load()
        secrets = runtime.secrets
        configure_logging(runtime.config.get(LOG_LEVEL), secrets=runtime.secrets)
        arguments = build_parser(runtime).parse_args(argv)
        return int(arguments.run(arguments, runtime))
    except HitcountError as error:
        print(f"hitcount: error: {secrets.mask(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
