"""`python -m segan.train CONFIG [key=value ...]` trains (also under `accelerate launch` /
`torchrun`); `python -m segan.train --resume RUN [key=value ...]` continues a run folder with its
own config."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from segan.train.checkpoint import CheckpointError
from segan.train.config import ConfigError, builtin_configs, load_config, resume_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "config",
        nargs="?",
        help=f"a YAML file or a shipped config ({', '.join(builtin_configs())})",
    )
    p.add_argument("overrides", nargs="*", help="key.sub=value, e.g. optim.steps=1000")
    p.add_argument(
        "--resume",
        metavar="RUN",
        help="continue a run folder from its newest checkpoint with its own config.yaml "
        "(overrides may change the schedule and reporting, not the networks)",
    )


def config_from_args(args: argparse.Namespace):
    """The config a command line names: a config and overrides, or a run folder to resume."""
    if args.resume is None:
        if args.config is None:
            raise ConfigError("name a config (or give --resume RUN to continue a run folder)")
        return load_config(args.config, args.overrides)
    overrides = list(args.overrides)
    if args.config is not None:
        if "=" not in args.config:
            raise ConfigError(
                f"--resume {args.resume} takes the run's own config; drop {args.config!r}"
            )
        overrides.insert(0, args.config)  # the first override, read as the config's slot
    return resume_config(args.resume, overrides)


def run(args: argparse.Namespace) -> int:
    """Validate the config (before any work), train, report the model folder."""
    from segan.train.trainer import train

    config = config_from_args(args)
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
