"""The fusion options of issue 6: correlation cost, align none/select, anchor select, predicted output
weights, the guard, repair from inputs, and distillation — invariants, guarantees and errors."""

import copy
import functools

import pytest
import torch
from torch import nn

from fusion_helpers import max_difference, permuted_copy, randomise_batchnorm
from fedot.fusion import PAPER, align, average, fuse, fuse_with_selection
from fedot.fusion.classes import class_shares
from fedot.fusion.distill import confident_probabilities, distill, ensemble_probabilities
from fedot.fusion.guard import choose, confident_client_labels, score
from fedot.fusion.repair import reset_batchnorm_statistics
from fedot.fusion.transport import pairwise_cost
from fedot.recipe import DistillRecipe
from fedot.models import MLPNet, ResNet18

SHAPES = {"mlp": (1, 8, 8), "resnet18": (3, 16, 16)}


def _model(case: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    if case == "mlp":
        return MLPNet((1, 8, 8), 5, hidden=(24, 16, 8)).eval()
    return randomise_batchnorm(ResNet18((3, 16, 16), 5, width=4), seed).eval()


def _inputs(case: str, count: int = 64) -> torch.Tensor:
    return torch.randn(count, *SHAPES[case], generator=torch.Generator().manual_seed(99))


@functools.lru_cache(maxsize=1)
def _trained_pair(seed: int = 0) -> tuple[list[nn.Module], torch.Tensor]:
    """Two small MLPs trained a few steps on different label-skewed halves of a toy task
    (shared between tests: none of them may modify the models)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 1, 8, 8, generator=generator)
    y = (x.flatten(1)[:, :5].argmax(1))  # a learnable 5-class rule
    models = []
    for part, model_seed in ((y < 3, 1), (y >= 2, 2)):
        model = _model("mlp", model_seed).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for _ in range(60):
            loss = nn.functional.cross_entropy(model(x[part]), y[part])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        models.append(model.eval())
    return models, x


ALL_SELECT = {"align": "select", "anchor": "select", "output_weights": "select", "guard": True, "repair": True}


OPTIONS = {
    "corr-weights": {"metric": "correlation"},
    "corr-activations": {"metric": "correlation", "align": "activations"},
    "none": {"align": "none"},
    "none-repair": {"align": "none", "repair": True, "iterations": 2},
    "repair-true": {"repair": True},
    "predicted": {"output_weights": "predicted"},
    "anchor-select": {"anchor": "select"},
    "all-select-guard": ALL_SELECT,
}
# ResNet18 under every selection at once is slow on a CPU; the permuted-copy test below covers it.
SAME_FUNCTION_CASES = [
    pytest.param(case, options, id=f"{case}-{name}")
    for case in ("mlp", "resnet18")
    for name, options in OPTIONS.items()
    if not (case == "resnet18" and options is ALL_SELECT)
]


@pytest.mark.parametrize(("case", "options"), SAME_FUNCTION_CASES)
def test_fusing_copies_returns_the_same_function(case: str, options: dict) -> None:
    model, x = _model(case), _inputs(case)
    fused = fuse([model, copy.deepcopy(model), model], [1, 2, 3], inputs=x, recipe=PAPER.replace(**options))
    expected = copy.deepcopy(model)
    if options.get("repair"):  # BatchNorm statistics are re-estimated on the inputs by design
        reset_batchnorm_statistics(expected, [x])
    torch.testing.assert_close(fused(x), expected(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["weights", "activations"])
@pytest.mark.parametrize("case", ["mlp", "resnet18"])
def test_correlation_cost_recovers_a_permuted_copy(case: str, mode: str) -> None:
    model, x = _model(case), _inputs(case)
    permuted = permuted_copy(model, SHAPES[case], seed=1)
    restored = align(permuted, model, inputs=x, recipe=PAPER.replace(align=mode, metric="correlation"))
    for name, tensor in model.state_dict().items():
        assert torch.equal(restored.state_dict()[name], tensor), name


@pytest.mark.parametrize("case", ["mlp", "resnet18"])
def test_guarded_selection_fuses_a_permuted_copy_back_into_the_model(case: str) -> None:
    # a trained MLP: a random one predicts nearly one class everywhere, so averaging it with its
    # permuted copy would agree with it almost as well and the guard would rightly keep the average
    model, x = (_trained_pair()[0][0], _trained_pair()[1]) if case == "mlp" else (_model(case), _inputs(case))
    permuted = permuted_copy(model, SHAPES[case], seed=1)
    selection = fuse_with_selection([permuted, model], inputs=x, recipe=PAPER.replace(**ALL_SELECT))
    fused = selection.model
    assert selection.chosen == "weights, anchor 0" and selection.scores[selection.chosen].agreement == 1.0
    expected = copy.deepcopy(model)
    reset_batchnorm_statistics(expected, [x])  # repair=True re-estimates BatchNorm statistics
    torch.testing.assert_close(fused(x), expected(x), rtol=1e-4, atol=1e-4)


def test_the_guard_is_never_worse_than_plain_averaging_on_its_criterion() -> None:
    models, x = _trained_pair()
    labels = confident_client_labels(models, [x])
    plain = score(average(models), [x], labels)
    for options in ({}, {"align": "activations"}, {"align": "select", "anchor": "select", "output_weights": "select"}):
        selection = fuse_with_selection(models, [1, 3], inputs=x, recipe=PAPER.replace(guard=True, **options))
        assert "plain average" in selection.scores
        assert score(selection.model, [x], labels).key() >= plain.key()
        assert selection.scores[selection.chosen].key() >= selection.scores["plain average"].key()


def test_choose_keeps_plain_averaging_when_the_alternative_agrees_less() -> None:
    class Constant(nn.Module):
        def __init__(self, logits: list[float]) -> None:
            super().__init__()
            self.logits = torch.tensor(logits)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.logits.expand(len(x), -1) + 0 * x.sum()

    clients = [Constant([3.0, 0.0, 0.0]), Constant([0.0, 1.0, 0.0])]  # client 0 is the more confident
    x = torch.randn(8, 2)
    wrong, right = Constant([0.0, 0.0, 5.0]), Constant([2.0, 0.0, 0.0])
    choice = choose({"ot": wrong, "plain average": right}, clients, [x])
    assert choice.name == "plain average" and choice.scores["ot"].agreement == 0.0
    assert choose({"a": right, "b": copy.deepcopy(right)}, clients, [x]).name == "a"  # ties: first listed


def test_the_baseline_is_kept_unless_beaten_significantly() -> None:
    class Lookup(nn.Module):  # predicts class 1 on the inputs listed, class 0 elsewhere
        def __init__(self, ones: list[int]) -> None:
            super().__init__()
            self.ones = torch.zeros(20, dtype=torch.bool)
            self.ones[ones] = True

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            hot = self.ones[x[:, 0].long()]
            return torch.stack([(~hot).float(), hot.float()], dim=1) * 4

    x = torch.arange(20.0)[:, None]
    truth = Lookup(list(range(10)))  # the only client: its labels are 1 on inputs 0-9
    baseline = Lookup(list(range(7)))  # right on 17 of 20
    slightly = Lookup(list(range(8)))  # one more: 1 win, 0 losses, 1 > 1·√1 fails
    clearly = Lookup(list(range(10)))  # three more: 3 > √3
    assert choose({"average": baseline, "ot": slightly}, [truth], [x], baseline="average").name == "average"
    assert choose({"average": baseline, "ot": clearly}, [truth], [x], baseline="average").name == "ot"
    assert choose({"average": baseline, "ot": slightly}, [truth], [x]).name == "ot"  # no baseline: best agreement
    assert choose({"average": baseline, "ot": slightly}, [truth], [x], baseline="average", z=0.5).name == "ot"
    with pytest.raises(ValueError, match=r"baseline 'fedavg' is not among the candidates"):
        choose({"average": baseline}, [truth], [x], baseline="fedavg")


def test_confident_client_labels_take_each_input_from_its_most_confident_model() -> None:
    first, second = nn.Linear(2, 3, bias=False), nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[4.0, 0.0], [0.0, 0.0], [0.0, 0.0]]))  # class 0, confident on x[0] large
        second.weight.copy_(torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 4.0]]))  # class 2, confident on x[1] large
    x = torch.tensor([[3.0, 0.1], [0.1, 3.0], [2.0, 1.0]])
    (labels,) = confident_client_labels([first, second], [x])
    assert labels.tolist() == [0, 2, 0]


def test_class_shares_follow_the_predicted_class_mass() -> None:
    class Fixed(nn.Module):
        def __init__(self, probabilities: list[float]) -> None:
            super().__init__()
            self.log_probabilities = torch.tensor(probabilities).log()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.log_probabilities.expand(len(x), -1)

    x = torch.zeros(4, 1)
    shares = class_shares([Fixed([0.5, 0.5, 0.0]), Fixed([0.25, 0.25, 0.5]), Fixed([0.2, 0.2, 0.6])], [0.5, 0.5, 0.0], [x])
    expected = torch.tensor([[0.25 / 0.375, 0.25 / 0.375, 0.0], [0.125 / 0.375, 0.125 / 0.375, 1.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(shares, expected.double())


def test_predicted_output_weights_average_each_class_row_with_its_own_weights() -> None:
    models, x = _trained_pair()
    fused = fuse(models, [1, 3], inputs=x, recipe=PAPER.replace(align="none", output_weights="predicted"))
    plain = average(models, [1, 3])
    shares = class_shares(models, [0.25, 0.75], [x]).float()
    expected = sum(shares[i][:, None] * m.net[-1].weight for i, m in enumerate(models))
    torch.testing.assert_close(fused.net[-1].weight, expected)
    torch.testing.assert_close(fused.net[-1].bias, sum(shares[i] * m.net[-1].bias for i, m in enumerate(models)))
    for name, tensor in plain.state_dict().items():  # every hidden layer is the plain average
        if not name.startswith("net.7"):
            torch.testing.assert_close(fused.state_dict()[name], tensor)


def test_align_none_is_plain_averaging() -> None:
    models = [_model("resnet18", seed) for seed in (1, 2, 3)]
    fused, plain = fuse(models, [1, 2, 3], recipe=PAPER.replace(align="none")), average(models, [1, 2, 3])
    for name, tensor in plain.state_dict().items():
        torch.testing.assert_close(fused.state_dict()[name], tensor)


def test_correlation_cost_ignores_each_rows_offset_and_scale() -> None:
    x = torch.randn(6, 40, dtype=torch.float64)
    y = 3.0 * x + torch.arange(6, dtype=torch.float64)[:, None]
    torch.testing.assert_close(pairwise_cost(x, y, metric="correlation").diagonal(), torch.zeros(6, dtype=torch.float64), atol=1e-6, rtol=0)
    centred = x - x.mean(1, keepdim=True)
    rho = torch.corrcoef(torch.cat([x, x]))[:6, 6:]
    torch.testing.assert_close(pairwise_cost(x, x, metric="correlation", squared=True), (2 - 2 * rho).clamp_min(0), atol=1e-6, rtol=0)
    assert centred.shape == x.shape


@pytest.mark.parametrize(
    "options, message",
    [
        ({"align": "select"}, r"align='select' reads server-held examples: pass inputs="),
        ({"anchor": "select"}, r"anchor='select' reads server-held examples"),
        ({"output_weights": "predicted"}, r"output_weights='predicted' reads server-held examples"),
        ({"guard": True}, r"guard=True reads server-held examples"),
        ({"repair": True}, r"repair=True reads server-held examples"),
        ({"output_weights": "classes"}, r"output_weights must be one of 'examples', 'predicted', 'select'"),
        ({"guard": "yes"}, r"guard must be True or False"),
        ({"metric": "manhattan"}, r"metric must be one of 'euclidean', 'cosine', 'correlation'"),
    ],
)
def test_bad_or_unfed_options_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fuse([_model("mlp", 1), _model("mlp", 2)], recipe=PAPER.replace(**options))


def test_options_that_average_refuse_different_widths() -> None:
    narrow = MLPNet((1, 8, 8), 5, hidden=(12, 16, 8))
    x = _inputs("mlp")
    for options, name in (({"guard": True}, "guard=True"), ({"align": "none"}, "align='none'"), ({"align": "select"}, "align='select'")):
        with pytest.raises(ValueError, match=rf"{name} needs models of equal widths \(plain averaging\): model 1 has `net.1.weight`"):
            fuse([_model("mlp"), narrow], inputs=x, recipe=PAPER.replace(**options))


def test_predicted_output_weights_need_a_linear_output_layer() -> None:
    class Doubled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Linear(4, 6)
            self.head = nn.Linear(6, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * self.head(torch.relu(self.body(x)))

    x = torch.randn(8, 4)
    with pytest.raises(ValueError, match=r"output_weights='predicted' needs a model whose output is a Linear layer's output"):
        fuse([Doubled(), Doubled()], inputs=x, recipe=PAPER.replace(output_weights="predicted"))


def test_distill_moves_the_student_toward_the_target_and_touches_nothing_else() -> None:
    models, x = _trained_pair()
    student = average(models)
    before = {name: tensor.clone() for name, tensor in student.state_dict().items()}
    for target in ("confident", "ensemble"):
        probabilities = confident_probabilities(models, x) if target == "confident" else ensemble_probabilities(models, [0.5, 0.5], x)
        def loss(m: nn.Module) -> float:
            with torch.no_grad():
                return float(nn.functional.kl_div(nn.functional.log_softmax(m(x), 1), probabilities, reduction="batchmean"))

        taught = distill(student, models, inputs=x, recipe=DistillRecipe(steps=30, lr=1e-3, target=target))
        assert loss(taught) < 0.7 * loss(student)
    assert all(torch.equal(before[name], tensor) for name, tensor in student.state_dict().items())


def test_distill_resets_batchnorm_statistics_and_keeps_modes() -> None:
    teachers = [_model("resnet18", seed) for seed in (1, 2)]
    x = _inputs("resnet18", 32)
    taught = distill(teachers[0], teachers, inputs=x, recipe=DistillRecipe(steps=2))
    assert not taught.training and torch.isfinite(taught(x)).all()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"steps": 0}, r"steps must be an integer ≥ 1"),
        ({"lr": 0.0}, r"lr must be a finite number > 0"),
        ({"temperature": -1.0}, r"temperature must be a finite number > 0"),
        ({"batch_size": 0}, r"batch_size must be an integer ≥ 1"),
        ({"target": "teacher"}, r"target must be one of 'confident', 'ensemble'"),
    ],
)
def test_distill_recipes_refuse_bad_values(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DistillRecipe(**options)


def test_confident_probabilities_match_the_most_confident_models_softmax() -> None:
    models, x = _trained_pair()
    probabilities = confident_probabilities(models, x)
    softmaxes = torch.stack([nn.functional.softmax(m(x), 1) for m in models])
    chosen = softmaxes.amax(2).argmax(0)
    torch.testing.assert_close(probabilities, softmaxes[chosen, torch.arange(len(x))].detach())
    assert max_difference(probabilities.sum(1), torch.ones(len(x))) < 1e-5
