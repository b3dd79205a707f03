"""Hand-written LSTM (gates visible) vs torch's fused ``nn.LSTM``: forward + backward, same weights.

Run from the repo root: ``python -m bench.bench_lstm``. Target: ratio <= 2.0 at T = 100, H = 64, batch 64.
Also prints the hand-written GRU against ``nn.GRU`` (no target). CPU seconds of
this process (``time.process_time``), interleaved repeats, medians.
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported: one thread on a shared 2-core host

import time

import torch
from torch import nn

from bench._timing import compare, header, result
from lrd_core.models.recurrent import GRU, LSTM

T, HIDDEN, BATCH, SEED = 100, 64, 64, 0
REPEATS, WARMUP = 21, 3
TARGET = 2.0


def forward_backward(model: nn.Module, x: torch.Tensor):
    """A zero-argument function: one forward pass, a loss on h_T, its backward pass."""

    def run() -> None:
        model.zero_grad(set_to_none=True)
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out  # the fused modules return (output, state)
        out[:, -1].sum().backward()

    return run


def main() -> None:
    header(f"hand-written LSTM/GRU vs fused nn.LSTM/nn.GRU, forward+backward (T={T}, H={HIDDEN}, batch {BATCH})")
    torch.manual_seed(SEED)  # the fused modules' own init; the hand-written ones copy their weights
    x = torch.randn(BATCH, T, 2, generator=torch.Generator().manual_seed(SEED))
    fused_lstm, fused_gru = nn.LSTM(2, HIDDEN, batch_first=True), nn.GRU(2, HIDDEN, batch_first=True)
    hand_lstm, hand_gru = LSTM.from_torch(fused_lstm), GRU.from_torch(fused_gru)
    err = (hand_lstm(x) - fused_lstm(x)[0]).abs().max().item()
    print(f"max |h_hand - h_fused| (LSTM) = {err:.2e}")
    hand, fused = compare(
        forward_backward(hand_lstm, x), forward_backward(fused_lstm, x), REPEATS, WARMUP, clock=time.process_time
    )
    print(f"LSTM: hand {1e3 * hand:.1f} ms, nn.LSTM {1e3 * fused:.1f} ms (CPU time, medians of {REPEATS})")
    result("hand LSTM / nn.LSTM, forward+backward", hand / fused, f"<= {TARGET}", hand / fused <= TARGET, "{:.2f}x")
    hand, fused = compare(
        forward_backward(hand_gru, x), forward_backward(fused_gru, x), REPEATS, WARMUP, clock=time.process_time
    )
    print(f"GRU: hand {1e3 * hand:.1f} ms, nn.GRU {1e3 * fused:.1f} ms; ratio {hand / fused:.2f}x (no target)")


if __name__ == "__main__":
    main()
