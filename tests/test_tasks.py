import pytest
import torch

from lrd_core.tasks import adding_problem, copy_memory


def test_adding_problem_shapes_markers_and_target():
    x, y = adding_problem(32, 50, torch.Generator().manual_seed(0))
    assert x.shape == (32, 50, 2) and y.shape == (32, 1)
    marks = x[..., 1]
    assert torch.all(marks.sum(dim=1) == 2)  # exactly two markers per row
    assert torch.all((marks == 0) | (marks == 1))
    assert torch.all(marks[:, :25].sum(dim=1) == 1) and torch.all(marks[:, 25:].sum(dim=1) == 1)
    torch.testing.assert_close(y[:, 0], (x[..., 0] * marks).sum(dim=1), rtol=0, atol=1e-6)


def test_adding_problem_baseline_is_one_sixth():
    _, y = adding_problem(256, 20, torch.Generator().manual_seed(1))
    mse_of_predicting_one = ((y - 1.0) ** 2).mean().item()
    assert abs(mse_of_predicting_one - 1 / 6) < 0.03


def test_adding_problem_same_seed_same_batch():
    a = adding_problem(4, 10, torch.Generator().manual_seed(7))
    b = adding_problem(4, 10, torch.Generator().manual_seed(7))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


@pytest.mark.parametrize(
    "kw,name",
    [
        ({"batch": 0}, "batch"),
        ({"T": -5}, "T"),
        ({"T": 1}, "T"),
        ({"batch": 2.5}, "batch"),
        ({"generator": None}, "generator"),
    ],
)
def test_adding_problem_rejects_bad_arguments(kw, name):
    args = {"batch": 2, "T": 10, "generator": torch.Generator()} | kw
    with pytest.raises(ValueError, match=name):
        adding_problem(**args)


def test_copy_memory_layout():
    x, y = copy_memory(3, 20, torch.Generator().manual_seed(0), n_symbols=8, length=5)
    assert x.shape == (3, 30, 10) and y.shape == (3, 30)
    tokens = x.argmax(-1)
    torch.testing.assert_close(y[:, -5:], tokens[:, :5])  # replay the first symbols at the end
    assert torch.all(tokens[:, 5:25] == 0) and torch.all(tokens[:, -5:] == 9)
    assert torch.all(y[:, :-5] == 0)
