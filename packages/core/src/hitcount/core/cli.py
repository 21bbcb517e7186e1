"""The ``hitcount`` command: a parser built from the commands every installed plugin registers.

What a user's mistake looks like is decided here, once, for every command: hitcount's own
errors (a bad setting, an unknown dead letter, a backend that is down) and the operating
system's (a server that cannot be reached, a directory that cannot be written) print one
line naming what to change and exit 1; argparse's usage errors exit 2. Anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import version

from hitcount.core.errors import HitcountError
from hitcount.core.logs import configure_logging
from hitcount.core.masking import Secrets
from hitcount.core.registry import Registry
from hitcount.core.runtime import Runtime
from hitcount.core.settings import LOG_LEVEL

CORE = "hitcount-core"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """argparse's "(default: …)" after every option that has one: not for flags, nor for options
    without a default (their help says what happens then). Texts keep their lines: ``--version``
    prints one distribution a line."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool) or action.default == argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def versions(registry: Registry) -> str:
    """What ``hitcount --version`` prints: core's version, then each installed plugin distribution's."""
    plugins = sorted({str(provider) for provider in registry.plugins.values() if provider.package != CORE})
    return "\n".join([f"{CORE} {version(CORE)}", *plugins])


def build_parser(runtime: Runtime) -> argparse.ArgumentParser:
    """One subparser per registered command, in name order."""
    parser = argparse.ArgumentParser(
        prog="hitcount", description="Count hits per id over trailing windows.", formatter_class=HelpFormatter
    )
    parser.add_argument(
        "--version",
        action="version",
        version=versions(runtime.registry),
        help="show the versions of hitcount-core and of the installed plugins' distributions, and exit",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, registered in sorted(runtime.registry.commands.items()):
        command = registered.value
        subparser = subparsers.add_parser(
            name, help=command.help, description=command.help, formatter_class=HelpFormatter
        )
        command.configure(subparser)
        subparser.set_defaults(run=command.run)
    return parser


def fail(message: str, secrets: Secrets) -> int:
    """Print ``message`` (secrets masked) as ``hitcount: error:`` lines, one per line of it; the exit code."""
    for line in secrets.mask(message).splitlines() or [""]:
        print(f"hitcount: error: {line}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hitcount``: a user's mistake is one line and exit 1 (2 for usage), a bug a traceback."""
    secrets = Secrets()
    try:
        runtime = Runtime.load()
        secrets = runtime.secrets
        configure_logging(runtime.config.get(LOG_LEVEL), secrets=runtime.secrets)
        arguments = build_parser(runtime).parse_args(argv)
        return int(arguments.run(arguments, runtime))
    except HitcountError as error:
        return fail(str(error), secrets)
    except OSError as error:
        # A server that does not answer, a file that cannot be opened: the system's words name it.
        return fail(str(error) or type(error).__name__, secrets)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
