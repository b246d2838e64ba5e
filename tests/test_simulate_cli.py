"""The simulate command's flags: every RunConfig setting, validated like argparse validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedot.simulate import build_parser, config_from_args


def parse(argv: list[str]):
    parser = build_parser()
    return config_from_args(parser, parser.parse_args(argv))


def test_flags_override_the_toml_file_which_overrides_defaults(tmp_path: Path) -> None:
    file = tmp_path / "run.toml"
    file.write_text('clients = 6\nmodel = "cnn"\n')
    config = parse(["--config", str(file), "--clients", "3", "--no-ot-repair", "--output-dir", str(tmp_path)])
    assert (config.clients, config.model, config.fusion.repair) == (3, "cnn", False)
    assert config.output_dir == str(tmp_path.resolve())


def test_relative_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = parse(["--data-dir", "data", "--output-dir", "out"])
    assert config.data_dir == str(tmp_path / "data") and config.output_dir == str(tmp_path / "out")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "alexnet"], "invalid choice: 'alexnet' (choose from 'mlp'"),
        (["--partition", "random"], "(choose from 'iid', 'dirichlet'"),
        (["--clients", "two"], "invalid int value: 'two'"),
        (["--clients", "0"], "clients must be ≥ 1"),
        (["--strategy", "fedavg,krum"], "invalid strategy 'krum'; choose from: otfusion, fedavg"),
    ],
)
def test_invalid_flags_exit_with_usage_and_the_valid_choices(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        parse(argv)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
