"""The command line of augspace: ``python -m augspace preview [IMAGE] [options]``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import _preview


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen command.

    Args:
        argv: the arguments after the program name; ``None`` reads ``sys.argv``.

    Returns:
        The exit status: 0 on success. An invalid argument or input exits with status 2 through ``SystemExit``,
        after printing the usage and the error.
    """
    parser = argparse.ArgumentParser(
        prog="python -m augspace", description="augspace: augmentation transforms for input and feature space."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    preview = commands.add_parser(
        "preview",
        help="draw transforms on an image and on a layer's feature maps, and print what they change",
        description="Draw each transform several times on an image (by default a photo that ships with augspace) "
        "and, with --model and --layer, on that layer's feature maps. Writes one PNG and prints, for each transform, "
        "the mean fraction of pixels it changed and, with a model, of the layer's units it changed and zeroed.",
    )
    _preview.add_arguments(preview)
    args = parser.parse_args(argv)

    try:
        return _preview.run(args)
    except _preview.PreviewError as error:
        preview.error(str(error))


if __name__ == "__main__":
    raise SystemExit(main())
