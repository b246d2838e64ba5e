"""Evaluation numbers match a hand computation on a tiny linear model."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from fedot.data import ImageDataset
from fedot.train import evaluate, evaluate_ensemble, evaluate_per_client

PIXELS = np.array([[0, 255], [255, 0], [255, 255], [0, 0], [51, 204]], dtype=np.uint8)
LABELS = np.array([1, 0, 2, 0, 1])


@pytest.fixture()
def data() -> ImageDataset:
    images = torch.from_numpy(PIXELS).view(5, 1, 1, 2)
    labels = torch.from_numpy(LABELS)
    # mean 0, std 1: the model sees pixels / 255
    return ImageDataset("hand", images, labels, images, labels, ("a", "b", "c"), (0.0,), (1.0,))


def _linear(weight: list[list[float]], bias: list[float]) -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 3))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor(weight))
        model[1].bias.copy_(torch.tensor(bias))
    return model


W1, B1 = [[1.0, -1.0], [-1.0, 2.0], [0.5, 0.5]], [0.0, 0.1, -0.2]
W2, B2 = [[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [0.3, 0.0, 0.0]


def _softmax_by_hand(weight, bias) -> np.ndarray:
    x = PIXELS / 255.0
    logits = x @ np.array(weight).T + np.array(bias)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_single_model_loss_and_accuracy(data: ImageDataset) -> None:
    probs = _softmax_by_hand(W1, B1)
    result = evaluate(_linear(W1, B1), data, batch_size=2)
    assert result.num_examples == 5
    assert result.accuracy == pytest.approx(np.mean(probs.argmax(axis=1) == LABELS))
    assert result.loss == pytest.approx(-np.mean(np.log(probs[np.arange(5), LABELS])), rel=1e-5)


def test_ensemble_averages_softmax_not_logits(data: ImageDataset) -> None:
    probs = (_softmax_by_hand(W1, B1) + _softmax_by_hand(W2, B2)) / 2
    result = evaluate_ensemble([_linear(W1, B1), _linear(W2, B2)], data, batch_size=3)
    assert result.accuracy == pytest.approx(np.mean(probs.argmax(axis=1) == LABELS))
    assert result.loss == pytest.approx(-np.mean(np.log(probs[np.arange(5), LABELS])), rel=1e-5)
    single = evaluate(_linear(W1, B1), data)
    alone = evaluate_ensemble([_linear(W1, B1)], data)
    assert (alone.loss, alone.accuracy) == pytest.approx((single.loss, single.accuracy))


def test_per_client_results_use_each_clients_rows(data: ImageDataset) -> None:
    probs = _softmax_by_hand(W1, B1)
    partitions = [np.array([0, 2]), np.array([1, 3, 4]), np.array([], dtype=np.int64)]
    results = evaluate_per_client(_linear(W1, B1), data, partitions)
    for part, result in zip(partitions[:2], results[:2]):
        assert result.num_examples == len(part)
        assert result.accuracy == pytest.approx(np.mean(probs[part].argmax(axis=1) == LABELS[part]))
        assert result.loss == pytest.approx(-np.mean(np.log(probs[part, LABELS[part]])), rel=1e-5)
    assert results[2].num_examples == 0 and math.isnan(results[2].accuracy)


def test_evaluation_restores_the_training_mode(data: ImageDataset) -> None:
    model = _linear(W1, B1).train()
    evaluate(model, data)
    assert model.training
