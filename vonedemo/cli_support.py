"""What every command of the command line shares: its error, and the options several take."""

from __future__ import annotations

import argparse

from .parallel import LOCAL_RAY


class CLIError(Exception):
    """Bad input to a command: one ``error:`` line, exit status 2."""


def add_ray(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL_RAY,
        metavar="ADDRESS",
        help="run each model as a Ray task: alone, a local Ray started here; with ADDRESS, the "
        "cluster there (started with `ray start --head`)",
    )
    p.add_argument(
        "--ray-cpus", type=int, help="cores of the local Ray started by --ray (default: all)"
    )


def add_device(p: argparse.ArgumentParser) -> None:
    # Resolved in main(), not by argparse: a missing GPU ends with one "error:" line, no usage.
    p.add_argument(
        "--device",
        default="auto",
        help="where to compute: auto (a CUDA GPU when present, else the CPU), cpu, cuda, cuda:N",
    )


def eps_argument(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"eps must be a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"eps must be in [0, 1], got {text}")
    return value
