"""The `modelsmith` command: a dispatcher over subcommands that live beside what they drive.

Each subcommand is a module exposing HELP (one line), configure(parser) and run(args) -> int.
Modules are imported only to build the parser; keep their heavy imports (kopf, torch) inside
run(). Add a subcommand by adding a line to SUBCOMMANDS. The package also holds `kubectl
modelsmith` (kubectl_plugin.py and the modules it renders with).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from typing import Protocol, cast


class Subcommand(Protocol):
    HELP: str

    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


# name -> module implementing it
SUBCOMMANDS: dict[str, str] = {
    "crds": "modelsmith.api.crdgen",
    "operator": "modelsmith.operator",
    "reference": "modelsmith.api.reference",
    "store-policy": "modelsmith.storepolicy",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelsmith",
        description="Modelsmith: governed model specialisation on Kubernetes.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, module_name in SUBCOMMANDS.items():
        module = cast(Subcommand, importlib.import_module(module_name))
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code
