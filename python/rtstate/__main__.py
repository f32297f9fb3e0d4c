"""``python -m rtstate <command>``: ``demo`` flies a simulated quadrotor
(see :mod:`rtstate.demo`); every other command is the ``rtstate`` console
script's (``list``, ``top``, ``echo``, ``hz``, ``clean``, ``record``,
``replay``, ``serve``, ``bridge``), run the same way."""

from __future__ import annotations

import sys


def main() -> int:
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        from ._cli import COMMANDS

        sys.stdout.write(
            "usage: python -m rtstate demo [--duration S] [--rate HZ] [--python-controller] [--mcap F [--png F]]\n"
            f"       python -m rtstate {{{','.join(COMMANDS)}}} ...  (as the rtstate command)\n"
        )
        return 0 if args else 2
    from ._cli import COMMANDS

    if args[0] in COMMANDS:
        from ._cli import main as cli

        return cli(args)
    if args[0] == "demo" and "--processes" in args[1:]:
        from ._cli import demo_processes

        return demo_processes(args[1:])
    if args[0] == "demo":
        from .demo import main as demo

        return demo(args[1:])
    sys.stderr.write(f"unknown command {args[0]!r}; try: python -m rtstate demo\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
