"""python -m fedot.fuse: round trips through safetensors and torch files, and clear failures."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fedot.fuse import main
from fedot.fusion.checkpoint import load_state_dict, save_state_dict
from fedot.models import build_model

ROOT = Path(__file__).resolve().parents[1]


def _save(directory: Path, name: str, seed: int, model: str = "cnn_bn") -> Path:
    torch.manual_seed(seed)
    path = directory / name
    save_state_dict(build_model(model, (1, 28, 28), 10).state_dict(), path)
    return path


@pytest.mark.parametrize("output", ["fused.safetensors", "fused.pt"])
def test_round_trip_fuses_mixed_formats(tmp_path: Path, output: str) -> None:
    a, b = _save(tmp_path, "a.pt", 0), _save(tmp_path, "b.safetensors", 1)
    inputs = tmp_path / "x.pt"
    torch.save(torch.randn(16, 1, 28, 28), inputs)
    args = [str(a), str(b), "--model", "cnn_bn", "-o", str(tmp_path / output), "--weights", "1", "3"]
    assert main([*args, "--align", "activations", "--inputs", str(inputs), "--repair", "--repair-method", "auto"]) == 0
    fused = build_model("cnn_bn", (1, 28, 28), 10)
    fused.load_state_dict(load_state_dict(tmp_path / output))
    assert torch.isfinite(fused.eval()(torch.randn(2, 1, 28, 28))).all()


def test_fusing_one_file_with_itself_returns_it(tmp_path: Path) -> None:
    a = _save(tmp_path, "a.safetensors", 0)
    assert main([str(a), str(a), "--model", "cnn_bn", "-o", str(tmp_path / "f.safetensors")]) == 0
    original, fused = load_state_dict(a), load_state_dict(tmp_path / "f.safetensors")
    assert original.keys() == fused.keys() and all(torch.equal(original[k], fused[k]) for k in original)


def test_bad_files_fail_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _save(tmp_path, "a.pt", 0)
    other = _save(tmp_path, "other.pt", 1, model="cnn")
    out = str(tmp_path / "f.pt")
    assert main([str(a), str(tmp_path / "missing.pt"), "--model", "cnn_bn", "-o", out]) == 1
    assert "missing.pt: no such file" in capsys.readouterr().err
    assert main([str(a), str(other), "--model", "cnn_bn", "-o", out]) == 1
    assert "other.pt has no `features.1.weight`" in capsys.readouterr().err
    assert main([str(a), str(a), "--model", "cnn_bn", "--input-shape", "3", "32", "32", "-o", out]) == 1
    assert "a.pt has `features.0.weight` with shape (32, 1, 3, 3), expected (32, 3, 3, 3)" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert main([str(a), str(tmp_path / "junk.pt"), "--model", "cnn_bn", "-o", out]) == 1
    assert "junk.pt: not a readable tensor file" in capsys.readouterr().err
    assert not Path(out).exists()


def test_pickled_objects_are_not_loaded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _save(tmp_path, "a.pt", 0)
    evil = tmp_path / "evil.pt"
    torch.save({"weights": Path("/etc/passwd")}, evil)  # an arbitrary object: refused by weights_only
    assert main([str(a), str(evil), "--model", "cnn_bn", "-o", str(tmp_path / "f.pt")]) == 1
    assert "evil.pt: not a readable tensor file" in capsys.readouterr().err


def test_bad_arguments_exit_with_status_2(tmp_path: Path) -> None:
    a = _save(tmp_path, "a.pt", 0)
    with pytest.raises(SystemExit) as single:
        main([str(a), "--model", "cnn_bn", "-o", str(tmp_path / "f.pt")])
    with pytest.raises(SystemExit) as no_inputs:
        main([str(a), str(a), "--model", "cnn_bn", "--align", "activations", "-o", str(tmp_path / "f.pt")])
    assert single.value.code == no_inputs.value.code == 2


def test_module_entry_point_runs(tmp_path: Path) -> None:
    a, b = _save(tmp_path, "a.pt", 0, "mlp"), _save(tmp_path, "b.pt", 1, "mlp")
    result = subprocess.run(
        [sys.executable, "-m", "fedot.fuse", str(a), str(b), "--model", "mlp", "-o", str(tmp_path / "f.safetensors")],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "f.safetensors").exists()


def test_the_selection_and_guard_options_run_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a, b = _save(tmp_path, "a.pt", 0, "mlp"), _save(tmp_path, "b.pt", 1, "mlp")
    inputs = tmp_path / "x.pt"
    torch.save(torch.randn(32, 1, 28, 28), inputs)
    common = [str(a), str(b), "--model", "mlp", "-o", str(tmp_path / "f.pt")]
    chosen = ["--align", "select", "--anchor", "select", "--output-weights", "select", "--guard", "--refine", "3"]
    assert main([*common, *chosen, "--repair", "--inputs", str(inputs)]) == 0
    assert "(kept: " in capsys.readouterr().out
    with pytest.raises(SystemExit) as no_inputs:
        main([*common, "--guard"])
    assert no_inputs.value.code == 2 and "--guard True reads server-held examples: give --inputs" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad:
        main([*common, "--refine", "-1"])
    assert bad.value.code == 2 and "--refine must be a non-negative integer" in capsys.readouterr().err
