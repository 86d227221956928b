"""``python -m matting.models --list`` / ``--params [NAME]``: registered models and their sizes.

Models are built on the meta device (no memory, no initialisation) just to count parameters.
"""

from __future__ import annotations

import argparse
import sys

from matting.models.registry import build_model, count_parameters, list_models

COLUMNS = ("cap_backbone", "cap_head", "far", "tscm", "total")


def parameter_table(names: list[str]) -> str:
    """One row per model, counts in millions."""
    import torch  # only here: --list stays free of torch and timm

    width = max(len("model"), *(len(n) for n in names))
    lines = [f"{'model':<{width}}  " + "  ".join(f"{c:>12}" for c in COLUMNS)]
    for name in names:
        with torch.device("meta"):
            counts = count_parameters(build_model(name))
        lines.append(f"{name:<{width}}  " + "  ".join(f"{counts[c] / 1e6:>11.3f}M" for c in COLUMNS))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m matting.models", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--list", action="store_true", help="print the registered model names")
    group.add_argument("--params", nargs="?", const="", metavar="NAME", help="parameter counts per part")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(list_models()))
        return 0
    names = [args.params] if args.params else list_models()
    unknown = [n for n in names if n not in list_models()]
    if unknown:
        print(f"unknown model {unknown[0]!r}; known models: {', '.join(list_models())}", file=sys.stderr)
        return 2
    print(parameter_table(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
