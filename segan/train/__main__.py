"""`python -m segan.train CONFIG [key=value ...]` (also under `accelerate launch` / `torchrun`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from segan.train.checkpoint import CheckpointError
from segan.train.config import ConfigError, builtin_configs, load_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "config", help=f"a YAML file or a shipped config ({', '.join(builtin_configs())})"
    )
    p.add_argument("overrides", nargs="*", help="key.sub=value, e.g. optim.steps=1000")


def run(args: argparse.Namespace) -> int:
    """Validate the config (before any work), train, report the model folder."""
    from segan.train.trainer import train

    config = load_config(args.config, args.overrides)
    try:
        model_dir = train(config)
    except KeyboardInterrupt:
        return 130
    except FloatingPointError:
        return 1
    except CheckpointError as err:
        print(f"segan train: checkpoint error: {err}", file=sys.stderr)
        return 1
    from accelerate.state import PartialState

    if PartialState().is_main_process:
        print(f"model written to {model_dir}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="segan.train", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ConfigError as err:
        print(f"segan train: config error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
