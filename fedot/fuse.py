"""Fuse saved models from the command line.

    python -m fedot.fuse a.pt b.safetensors ... --model vgg11 --input-shape 3 32 32 -o fused.pt

Each input is a state dict of the named ``fedot.models`` architecture (safetensors, or a torch
file read with ``weights_only=True``). The output format follows the output's extension.
Exit status: 0 on success, 1 when fusion or a file fails, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from torch import nn

from fedot.fusion import fuse
from fedot.fusion.api import options_reading_inputs
from fedot.fusion.checkpoint import load_state_dict, load_tensor, save_state_dict
from fedot.models import MODELS, build_model


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if len(args.checkpoints) < 2:
        parser.error("give at least two checkpoints to fuse")
    reads_inputs = options_reading_inputs(
        align=args.align, anchor=args.anchor, output_weights=args.output_weights, guard=args.guard,
        repair=args.repair != "none",
    )  # fmt: skip
    if reads_inputs and args.inputs is None:
        parser.error("--align activations/select, --repair, --anchor select, --output-weights and --guard need --inputs")
    try:
        models = [_load_model(path, args) for path in args.checkpoints]
        inputs = load_tensor(args.inputs) if args.inputs is not None else None
        fused = fuse(
            models,
            args.weights,
            align=args.align,
            inputs=inputs,
            solver=args.solver,
            reg=args.reg,
            metric=args.metric,
            squared=args.squared,
            marginals=args.marginals,
            anchor=args.anchor,
            iterations=args.iterations,
            refine=args.refine,
            repair=args.repair != "none",
            repair_method="auto" if args.repair == "none" else args.repair,
            output_weights=args.output_weights,
            guard=args.guard,
            input_shape=args.input_shape,
        )
        save_state_dict(fused.state_dict(), args.output)
    except (ValueError, OSError) as error:
        print(f"fedot.fuse: error: {error}", file=sys.stderr)
        return 1
    print(f"fused {len(models)} models into {args.output}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fedot.fuse", description="Fuse saved models by optimal-transport alignment."
    )
    parser.add_argument("checkpoints", nargs="+", type=Path, help="state dicts (.safetensors or torch files)")
    parser.add_argument("--model", required=True, choices=sorted(MODELS), help="the architecture's name")
    parser.add_argument("-o", "--output", required=True, type=Path, help="fused state dict (.safetensors or .pt)")
    parser.add_argument("--input-shape", nargs="+", type=int, default=[1, 28, 28], metavar="N", help="one example's shape (default: 1 28 28)")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--weights", nargs="+", type=float, help="one share per model, e.g. example counts")
    parser.add_argument("--align", choices=["weights", "activations", "none", "select"], default="weights")
    parser.add_argument("--solver", choices=["exact", "sinkhorn"], default="exact")
    parser.add_argument("--reg", type=float, default=0.01, help="Sinkhorn strength, in units of the mean cost")
    parser.add_argument("--metric", choices=["euclidean", "cosine", "correlation"], default="euclidean")
    parser.add_argument("--squared", action="store_true", help="square the ground metric")
    parser.add_argument("--marginals", choices=["uniform", "importance"], default="uniform")
    parser.add_argument("--anchor", type=_anchor, default=0, help="model index, 'largest_weight' or 'select'")
    parser.add_argument("--iterations", type=int, default=0, help="barycenter rounds after the first fusion")
    parser.add_argument("--refine", type=int, default=0, help="weight-matching sweeps refining the maps")
    parser.add_argument("--output-weights", choices=["examples", "predicted", "select"], default="examples")
    parser.add_argument("--guard", action="store_true", help="also consider plain averaging; keep the best on --inputs")
    parser.add_argument("--inputs", type=Path, help="a tensor of examples (.safetensors or .pt) for activations/repair")
    parser.add_argument("--repair", choices=["none", "auto", "reset_bn", "rescale"], default="none")
    return parser


def _anchor(text: str) -> int | str:
    if text in ("largest_weight", "select"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a model index, 'largest_weight' or 'select', got {text!r}") from None


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
