import math

import numpy as np
import pytest
import torch

from lrd_core.experiments.vanishing import rnn_adding_model
from lrd_core.history import events_frame
from lrd_core.models.recurrent import RNNConfig
from lrd_core.task_runs import adding_run, probed
from lrd_core.theory import ADDING_BASELINE_MSE
from lrd_core.train import StepEvent, TrainConfig, train


def test_rnn_learns_short_adding_problem_well_below_baseline():
    events = list(adding_run(rnn_adding_model(RNNConfig(hidden_size=32), 1), 10, TrainConfig(steps=400, lr=3e-3), 1))
    losses = np.array([e.loss for e in events])
    assert len(events) == 400 and events[-1].status == "done"
    assert losses[:10].mean() > ADDING_BASELINE_MSE  # starts above the baseline ...
    assert losses[-20:].mean() < 0.03  # ... and ends far below it


def test_same_seed_same_losses():
    def run():
        return [
            e.loss for e in adding_run(rnn_adding_model(RNNConfig(hidden_size=16), 4), 20, TrainConfig(steps=15), 4)
        ]

    assert run() == run()


def test_exploding_run_reports_divergence_instead_of_raising():
    model = rnn_adding_model(RNNConfig(rho=2.0, activation="identity"), 0)
    before = [p.detach().clone() for p in model.parameters()]
    events = list(adding_run(model, 300, TrainConfig(steps=50), 0))
    assert events[-1].status == "diverged"
    assert events[-1].message.startswith(f"diverged at step {events[-1].step}")
    assert len(events) == events[-1].step == 1  # float32 overflows in the first forward pass
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters(), strict=True))  # no update from a NaN step


def test_clipping_bounds_the_update():
    torch.manual_seed(0)  # only for the reference Linear layer's init
    model = torch.nn.Linear(4, 1)
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(0)) * 100.0
    y = torch.zeros(8, 1)
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    (event,) = train(
        model, lambda: (x, y), torch.nn.functional.mse_loss, TrainConfig(steps=1, lr=0.5, optimizer="sgd", clip=0.1)
    )
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert event.grad_norm > 100.0  # reported before clipping
    assert (after - before).norm().item() == pytest.approx(0.5 * 0.1, rel=1e-5)  # SGD step = lr * clipped grad


def test_budget_stops_the_run_with_a_message():
    events = list(
        adding_run(rnn_adding_model(RNNConfig(hidden_size=8), 0), 50, TrainConfig(steps=5000, max_seconds=1e-9), 0)
    )
    assert len(events) == 1 and events[0].status == "budget"
    assert "stopped at budget" in events[0].message


def test_evaluate_metrics_on_schedule_and_in_the_frame():
    model = torch.nn.Linear(2, 1)
    batch = lambda: (torch.ones(4, 2), torch.zeros(4, 1))  # noqa: E731 - a one-line closure reads best here
    events = list(
        train(
            model,
            batch,
            torch.nn.functional.mse_loss,
            TrainConfig(steps=7, lr=0.1),
            evaluate=lambda m: {"accuracy": 0.5},
            eval_every=3,
        )
    )
    assert [e.step for e in events if e.metrics] == [0, 3, 6, 7]  # 0: the untrained model, before any update
    frame = events_frame(events)
    assert list(frame.columns[-1:]) == ["accuracy"] and frame["accuracy"].notna().sum() == 4
    assert isinstance(events[0], StepEvent)


def test_step_zero_evaluates_the_untrained_model_on_the_first_batch():
    """The step-0 event scores the initial weights; step 1 then trains on that same first batch."""
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.fill_(0.0)
    batches = iter([(torch.full((4, 2), float(i)), torch.zeros(4, 1)) for i in range(1, 4)])
    seen = []
    events = list(
        train(
            model,
            lambda: next(batches),
            torch.nn.functional.mse_loss,
            TrainConfig(steps=2, lr=0.01),
            evaluate=lambda m: seen.append(float(m.weight.sum())) or {"w": seen[-1]},
        )
    )
    assert [e.step for e in events] == [0, 1, 2]
    assert events[0].metrics == {"w": 2.0} and math.isnan(events[0].grad_norm)
    # first batch x = 1: prediction 1 + 1 = 2 against 0, so MSE 4, both at step 0 and at step 1 (same weights)
    assert events[0].loss == pytest.approx(4.0) and events[1].loss == pytest.approx(4.0)
    assert events[2].loss > 4.0  # the second batch (x = 2) was drawn next, not the first one again


@pytest.mark.parametrize(
    "kw,name",
    [
        ({"steps": 0}, "steps"),
        ({"steps": 10**6}, "steps"),
        ({"lr": 0.0}, "lr"),
        ({"batch": 0}, "batch"),
        ({"clip": -1.0}, "clip"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"max_seconds": 0}, "max_seconds"),
    ],
)
def test_train_config_rejects_bad_arguments(kw, name):
    with pytest.raises(ValueError, match=name):
        TrainConfig(**kw)


def test_adding_run_rejects_bad_length_and_device():
    with pytest.raises(ValueError, match="T"):
        adding_run(rnn_adding_model(RNNConfig(), 0), 10_000, TrainConfig(), 0)
    with pytest.raises(ValueError, match="device"):
        adding_run(rnn_adding_model(RNNConfig(), 0), 10, TrainConfig(), 0, device="gpu")


def test_pauses_between_steps_do_not_count_against_the_budget():
    import time

    model = torch.nn.Linear(2, 1)
    batch = lambda: (torch.ones(4, 2), torch.zeros(4, 1))  # noqa: E731 - a one-line closure reads best here
    run = train(model, batch, torch.nn.functional.mse_loss, TrainConfig(steps=3, lr=0.1, max_seconds=0.2))
    first = next(run)
    time.sleep(0.3)  # a live page waits between ticks
    second = next(run)
    assert first.status == second.status == "running" and second.seconds < 0.2


def test_same_seed_same_numbers_across_processes():
    """Two fresh interpreters, same seed, same machine and thread count: bit-identical training losses."""
    import subprocess
    import sys

    code = (
        "import torch; torch.set_num_threads(1)\n"
        "from lrd_core.experiments import gating\n"
        "from lrd_core.train import TrainConfig\n"
        "f = gating.race('adding', 20, 16, TrainConfig(steps=15, lr=1e-2, batch=8, clip=1.0), 3)\n"
        "print([e.loss.hex() for k in f for e in f[k]()])\n"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and len(runs[0]) > 100


def test_probed_runs_the_probe_after_evaluated_steps_only_and_closes_the_run():
    closed = []

    def run():
        try:
            for step in range(1, 6):
                yield StepEvent(step, 1.0, 1.0, 0.0, metrics={"accuracy": 0.5} if step % 2 == 0 else {})
        finally:
            closed.append(True)

    calls, sink = [], {}
    wrapped = probed(run(), lambda: calls.append(1) or len(calls), sink, "m")
    assert [next(wrapped).step for _ in range(4)] == [1, 2, 3, 4]
    assert sink == {"m": 2}  # probed after steps 2 and 4, not after 1 and 3
    wrapped.close()
    assert closed == [True]  # Stop frees the inner run's model at once
