"""Fuse saved models from the command line.

    python -m fedot.fuse a.pt b.safetensors ... --model vgg11 --input-shape 3 32 32 -o fused.pt

Each input is a state dict of the named ``fedot.models`` architecture (safetensors, or a torch
file read with ``weights_only=True``). The output format follows the output's extension.
Exit status: 0 on success, 1 when fusion or a file fails, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from torch import nn

from fedot.flags import add_flag, given
from fedot.fusion import fuse_with_selection
from fedot.fusion.checkpoint import load_state_dict, load_tensor, save_state_dict
from fedot.models import MODELS, build_model
from fedot.recipe import ANCHORS, InvalidOption, Recipe


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if len(args.checkpoints) < 2:
        parser.error("give at least two checkpoints to fuse")
    base = Recipe() if args.inputs is not None else Recipe().data_free()
    try:
        recipe = base.replace(**{key.replace("-", "_"): value for key, value in given(args, RECIPE_FLAGS).items()})
    except InvalidOption as error:
        parser.error(f"--{error.option.replace('_', '-')} {error.problem}")
    if recipe.reads_inputs() and args.inputs is None:
        option = recipe.reads_inputs()[0]
        parser.error(f"--{option.replace('_', '-')} {getattr(recipe, option)!r} reads server-held examples: give --inputs")
    try:
        models = [_load_model(path, args) for path in args.checkpoints]
        inputs = load_tensor(args.inputs) if args.inputs is not None else None
        selection = fuse_with_selection(models, args.weights, inputs=inputs, recipe=recipe, input_shape=args.input_shape)
        save_state_dict(selection.model.state_dict(), args.output)
    except (ValueError, OSError) as error:
        print(f"fedot.fuse: error: {error}", file=sys.stderr)
        return 1
    kept = f" (kept: {selection.chosen})" if selection.scores else ""
    print(f"fused {len(models)} models into {args.output}{kept}")
    return 0


RECIPE_FLAGS = [field.name.replace("_", "-") for field in dataclasses.fields(Recipe)]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fedot.fuse",
        description="Fuse saved models by optimal-transport alignment. Recipe options default to fedot's "
        "recipe (its data-free form without --inputs).",
    )
    parser.add_argument("checkpoints", nargs="+", type=Path, help="state dicts (.safetensors or torch files)")
    parser.add_argument("--model", required=True, choices=sorted(MODELS), help="the architecture's name")
    parser.add_argument("-o", "--output", required=True, type=Path, help="fused state dict (.safetensors or .pt)")
    parser.add_argument("--input-shape", nargs="+", type=int, default=[1, 28, 28], metavar="N", help="one example's shape (default: 1 28 28)")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--weights", nargs="+", type=float, help="one share per model, e.g. example counts")
    parser.add_argument("--inputs", type=Path, help="a tensor of unlabelled examples (.safetensors or .pt) the recipe may read")
    for field in dataclasses.fields(Recipe):
        kind = _anchor if field.name == "anchor" else None
        add_flag(parser, field.name.replace("_", "-"), field.default, field.metadata["help"], field.metadata["choices"], kind)
    return parser


def _anchor(text: str) -> int | str:
    if text in ANCHORS:
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a model index or one of {', '.join(ANCHORS)}, got {text!r}") from None


def _load_model(path: Path, args: argparse.Namespace) -> nn.Module:
    model = build_model(args.model, tuple(args.input_shape), args.num_classes)
    state = load_state_dict(path)
    expected = model.state_dict()
    for name, tensor in expected.items():
        if name not in state:
            raise ValueError(f"{path} has no `{name}`; is it a --model {args.model} checkpoint?")
        if state[name].shape != tensor.shape:
            raise ValueError(
                f"{path} has `{name}` with shape {tuple(state[name].shape)}, expected "
                f"{tuple(tensor.shape)} for --model {args.model} --input-shape "
                f"{' '.join(map(str, args.input_shape))} --num-classes {args.num_classes}"
            )
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise ValueError(f"{path} has an unexpected `{unexpected[0]}`; is it a --model {args.model} checkpoint?")
    model.load_state_dict(state)
    return model


if __name__ == "__main__":
    sys.exit(main())
