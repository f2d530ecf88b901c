"""`python -m segan.train CONFIG [key=value ...]` trains (also under `accelerate launch` /
`torchrun`); `python -m segan.train --resume RUN [key=value ...]` continues a run folder with its
own config."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from segan.train.checkpoint import CheckpointError
from segan.train.config import ConfigError, builtin_configs, load_config, resume_config
from segan.train.trainer import train


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


def launcher_processes(parent_cmdline: list[str] | None = None) -> int | None:
    """How many processes `accelerate launch` was asked for (its --num_processes), when this
    process was started by it; None otherwise or where the launcher's command line cannot be
    read (Linux's /proc)."""
    if "ACCELERATE_DYNAMO_BACKEND" not in os.environ:  # set by `accelerate launch` alone
        return None
    if parent_cmdline is None:
        try:
            raw = Path(f"/proc/{os.getppid()}/cmdline").read_bytes()
        except OSError:
            return None
        parent_cmdline = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    if not any(a == "launch" or a.endswith(".launch") for a in parent_cmdline):
        return None  # `accelerate launch` or `python -m accelerate.commands.launch`
    for i, arg in enumerate(parent_cmdline):
        value = None
        if arg in ("--num_processes", "--num-processes") and i + 1 < len(parent_cmdline):
            value = parent_cmdline[i + 1]
        elif arg.startswith(("--num_processes=", "--num-processes=")):
            value = arg.split("=", 1)[1]
        if value is not None:
            return int(value) if value.isdigit() else None
    return None


def check_launch(parent_cmdline: list[str] | None = None) -> None:
    """Refuse a launch that asked for several processes and started one (Accelerate without
    --multi_gpu on a machine without GPUs), naming the commands that start them."""
    wanted = launcher_processes(parent_cmdline)
    if wanted is None or wanted <= 1 or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return
    raise ConfigError(
        f"accelerate launch --num_processes {wanted} started 1 process (without --multi_gpu "
        "it starts one where there is no GPU); use `accelerate launch --multi_gpu "
        f"--num_processes {wanted} -m segan.train ...` (gloo on the CPU) or `torchrun "
        f"--nproc_per_node {wanted} -m segan.train ...`"
    )


def run(args: argparse.Namespace) -> int:
    """Validate the config (before any work), train, report the model folder."""

    check_launch()
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
