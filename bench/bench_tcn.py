"""Time per training step: a dilated TCN against an LSTM of about the same parameter count, as T grows.

Both tag every step of lag-parity sequences (batch 16) with a two-way classifier
and take one Adam step; the TCN is the page's default stack (k=2, d=5, C=32,
R=64), the LSTM is ``torch.nn.LSTM`` with H chosen to match its parameter count.
The convolution processes all T steps in parallel, the LSTM one after another.
Run from the repo root: ``python -m bench.bench_tcn``. One thread; the A/B runs
are interleaved and the medians compared (see ``bench._timing``).
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported: one thread on a shared 2-core host

import torch
from torch import nn

from bench._timing import compare, header, result
from lrd_core.experiments.convolutions import tcn_tagger
from lrd_core.limits import MAX_TCN_TRAIN_SEQ_LEN
from lrd_core.models.tcn import TCNConfig
from lrd_core.task_runs import parity_loss
from lrd_core.tasks import lag_parity

LENGTHS = (256, 512, 1024, 2048, 4096)
BATCH, LAG, SEED = 16, 40, 0
REPEATS, WARMUP = 5, 1


class LSTMTagger(nn.Module):
    """torch.nn.LSTM (batch-first) and a linear classifier on every state: (B, T, 1) -> (B, T, 2)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2)

    def forward(self, x):
        return self.head(self.lstm(x)[0])  # (B, T, 2)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def matching_lstm(target: int) -> LSTMTagger:
    """The LSTM tagger whose parameter count is closest to ``target``."""
    torch.manual_seed(SEED)  # nn.LSTM draws from the global RNG; only timing depends on it here
    hidden = min(range(4, 257), key=lambda h: abs(4 * h * (h + 1) + 8 * h + 2 * h + 2 - target))
    return LSTMTagger(hidden)


def step_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = parity_loss(model(x), y)
        loss.backward()
        opt.step()

    return step


def main() -> None:
    header(f"training step: dilated TCN vs LSTM of similar size (lag parity, batch {BATCH})")
    config = TCNConfig(channels=32, kernel_size=2, top_layer=5)
    tcn = tcn_tagger(config, SEED)
    lstm = matching_lstm(n_params(tcn))
    print(f"TCN: {config} -> {n_params(tcn)} parameters, receptive field {config.receptive_field}")
    print(f"LSTM: hidden {lstm.lstm.hidden_size} -> {n_params(lstm)} parameters")
    print(f"{REPEATS} interleaved repeats per length after {WARMUP} warm-up; medians")
    print(f"{'T':>6} | {'TCN ms/step':>12} | {'LSTM ms/step':>13} | {'LSTM / TCN':>10}")
    g = torch.Generator().manual_seed(SEED)
    ratios = []
    for T in LENGTHS:
        x, y = lag_parity(BATCH, T, LAG, g) if T <= MAX_TCN_TRAIN_SEQ_LEN else _long_batch(T, g)
        t_tcn, t_lstm = compare(step_fn(tcn, x, y), step_fn(lstm, x, y), repeats=REPEATS, warmup=WARMUP)
        print(f"{T:>6} | {t_tcn * 1e3:>12.1f} | {t_lstm * 1e3:>13.1f} | {t_lstm / t_tcn:>10.1f}")
        ratios.append(t_lstm / t_tcn)
    print("name | measured | target | verdict")
    grow = ratios[-1] / ratios[0]
    result(
        f"(LSTM/TCN at T={LENGTHS[-1]}) / (at T={LENGTHS[0]})", grow, "> 1 (the gap grows with T)", grow > 1, "{:.2f}"
    )


def _long_batch(T: int, g: torch.Generator):
    """Lag-parity data beyond the page's length cap (MAX_TCN_TRAIN_SEQ_LEN), built as ``lag_parity`` builds it."""
    from lrd_core.tasks import IGNORE_INDEX

    bits = torch.randint(0, 2, (BATCH, T), generator=g)  # (B, T)
    y = torch.full_like(bits, IGNORE_INDEX)
    y[:, LAG:] = bits[:, LAG:] ^ bits[:, :-LAG]
    return bits.unsqueeze(-1).float(), y


if __name__ == "__main__":
    main()
