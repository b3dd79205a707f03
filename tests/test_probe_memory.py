"""Memory budgets of page-load probes: each estimate against a measurement, streaming that keeps the numbers,
and the clamp a page shows when a size would not fit (issue 18, item 4)."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lrd_core import gradients
from lrd_core.experiments import attention_cost, layernorm
from lrd_core.limits import MAX_PROBE_BYTES
from lrd_core.models.selective import scan_peak_bytes, selective_scan
from lrd_core.models.transformer import self_attention
from lrd_core.tasks import LN_COPY_GAP, LN_COPY_LENGTH, LN_COPY_SYMBOLS, copy_memory
from tests.apptest_support import assert_clean, open_page

MB = 2**20


def measured_layernorm_probe_bytes(placement: str, n_layers: int, d_model: int, batch: int) -> int:
    """What one pass of the LayerNorm gradient probe holds, counted from the tensors themselves: the distinct
    non-parameter storages autograd saves (saved-tensor hooks), every parameter's nbytes, and the nbytes of
    the gradients autograd.grad returns, twice for the block weights (one pass's and the running sum)."""
    g = torch.Generator().manual_seed(0)
    model = layernorm.layernorm_tagger(placement, n_layers, d_model, g)
    x, y = copy_memory(batch, LN_COPY_GAP, g, n_symbols=LN_COPY_SYMBOLS, length=LN_COPY_LENGTH)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            saved[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        streams = model.encoder.levels(x)
        loss = layernorm._copy_loss(model, x, y, streams)
    weights = [w for b in model.encoder.blocks for w in layernorm.block_weights(b)]
    grads = torch.autograd.grad(loss, streams + weights)
    stream_grads, weight_grads = grads[: len(streams)], grads[len(streams) :]
    return (
        sum(saved.values())
        + sum(p.nbytes for p in model.parameters())
        + sum(gr.nbytes for gr in stream_grads)
        + 2 * sum(gr.nbytes for gr in weight_grads)
    )


@pytest.mark.parametrize(
    ("placement", "n_layers", "d_model", "batch"),
    [("post", 2, 16, 1), ("pre", 12, 32, 16), ("deepnorm", 6, 64, 4), ("pre", 48, 64, 2)],
)
def test_layernorm_probe_estimate_matches_the_tensors_it_holds(placement, n_layers, d_model, batch):
    # The formula counts every block's biases in the gradients too and rounds the per-token constants up, so
    # it may exceed the count by a few per cent; it must never be more than 15 % off either way.
    estimate = layernorm.gradient_probe_bytes(n_layers, d_model, batch)
    measured = measured_layernorm_probe_bytes(placement, n_layers, d_model, batch)
    assert estimate == pytest.approx(measured, rel=0.15)


def test_layernorm_probe_at_the_page_extreme_is_streamed_within_the_budget():
    # The page's extreme: N = 48 blocks, d_model = 64, the probe's 16 sequences. Hand count (docstring formula):
    # P = 48·(4·64² + 2·64·256 + 9·64 + 256) + 11·64 + 65·9 = 2,400,521; per token 48·(512 + 512 + 60 + 4)
    # + 49·64 + 10 + 128 + 18 = 55,516; bytes = 4·(7,201,563 + 13,323,840) + 48·225 = 82,112,412 (78.3 MB).
    assert layernorm.gradient_probe_bytes(48, 64, 16) == 82_112_412
    chunk = layernorm.probe_batch_chunk(48, 64, 16)
    assert (
        layernorm.gradient_probe_bytes(48, 64, chunk)
        <= MAX_PROBE_BYTES
        < layernorm.gradient_probe_bytes(48, 64, chunk + 1)
    )
    assert 1 <= chunk < 16
    assert layernorm.probe_batch_chunk(12, 32, 16) == 16  # the default view: one pass


@pytest.mark.parametrize("placement", ["post", "pre", "deepnorm"])
def test_streamed_layernorm_probe_equals_one_pass(placement):
    # Reference: one backward pass over all 16 sequences (a budget nothing exceeds). Streamed: a budget that
    # fits 5 sequences, so chunks of 5, 5, 5, 1 with weights 5/16 and 1/16. Same gradients to float rounding.
    one = layernorm.layernorm_gradient_probe(placement, 6, 3, d_model=32, max_bytes=2**40)
    budget = layernorm.gradient_probe_bytes(6, 32, 5)
    assert layernorm.probe_batch_chunk(6, 32, 16, budget) == 5
    streamed = layernorm.layernorm_gradient_probe(placement, 6, 3, d_model=32, max_bytes=budget)
    assert (one[["placement", "layer", "kind"]] == streamed[["placement", "layer", "kind"]]).all().all()
    assert streamed["grad_norm"].to_numpy() == pytest.approx(one["grad_norm"].to_numpy(), rel=1e-5)


def test_layernorm_probe_that_cannot_fit_names_d_model():
    # d_model = 256 and 48 blocks: the weights alone are 48·(4·256² + 2·256·1024) ≈ 37.7 M floats, 144 MB.
    with pytest.raises(ValueError, match="d_model"):
        layernorm.layernorm_gradient_probe("post", 48, 0, d_model=256)


@pytest.mark.parametrize("L", [256, 1024])
def test_naive_attention_estimate_bounds_the_saved_tensors(L):
    # Autograd keeps A (L²) and x, Q, K, V (4·L·D, with the weights 3·D²) for one pass; the peak adds ∂A and ∂S
    # (2·L²) and the gradients. So the saved bytes must lie between 1/3 and 1/2 of the estimate for the L²
    # part to dominate: the estimate is three L x L matrices, the saved tensors one, plus the O(L·D) terms.
    D = 64
    g = torch.Generator().manual_seed(0)
    W = [torch.randn(D, D, generator=g) for _ in range(3)]
    x = torch.randn(1, L, D, generator=g, requires_grad=True)
    _, saved = gradients.saved_bytes(lambda: self_attention(x, *W))
    estimate = attention_cost.naive_attention_peak_bytes(L, D)
    assert estimate == 4 * (3 * L * L + 8 * L * D + 6 * D * D)
    assert estimate / 3 <= saved <= estimate / 2


def test_longest_timed_length_keeps_the_naive_pass_in_the_budget():
    # At D = 64: L = 2048 needs 4·(3·2048² + 8·2048·64 + 6·64²) = 54,624,256 bytes (52 MB, fits 64 MB);
    # L = 4096 needs 4·(3·4096² + 8·4096·64 + 6·64²) = 209,813,504 bytes (200 MB, does not).
    assert attention_cost.naive_attention_peak_bytes(2048) == 54_624_256
    assert attention_cost.naive_attention_peak_bytes(4096) == 209_813_504
    assert attention_cost.longest_timed_length(4096) == 2048
    assert attention_cost.longest_timed_length(2048) == 2048
    assert attention_cost.longest_timed_length(256) == 256
    with pytest.raises(ValueError, match="max_L"):
        attention_cost.longest_timed_length(10**6)


def test_attention_page_clamps_the_longest_length_with_a_warning():
    at = open_page("pages/4_Attention.py", query={"max_L": "4096"})
    at.run()
    assert_clean(at, "attention page at max_L = 4096")
    warnings = [w.value for w in at.warning if "Longest L reduced from 4096 to 2048" in w.value]
    assert len(warnings) == 1, [w.value for w in at.warning]
    assert "200 MB" in warnings[0] and "64 MB" in warnings[0]
    assert len(at.get("vega_lite_chart")) >= 1


_SCAN_PEAK = """
import sys, torch
from lrd_core.runtime.heap import fix_mmap_threshold
fix_mmap_threshold()  # as in the app: large tensors are mapped and unmapped, so the resident peak is the real one
from lrd_core.models.selective import selective_scan
method, b, d, L, n = sys.argv[1], *map(int, sys.argv[2:])
g = torch.Generator().manual_seed(0)
def run(L):
    u, delta = (torch.randn(b, d, L, generator=g).requires_grad_() for _ in range(2))
    B, C = (torch.randn(b, n, L, generator=g).requires_grad_() for _ in range(2))
    A = -torch.arange(1, n + 1, dtype=torch.float32).repeat(d, 1)
    y = selective_scan(u, delta, A, B, C, delta_softplus=True, method=method, max_bytes=2**40)
    y.sum().backward()
def kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))
run(16)  # torch's one-off allocations
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the high-water mark VmHWM starts again from the resident size now
before = kib("VmRSS:")
run(L)
print((kib("VmHWM:") - before) * 1024)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="/proc/self/clear_refs and glibc's mmap threshold: Linux")
@pytest.mark.parametrize(
    ("method", "b", "d", "L", "n"),
    [
        ("sequential", 4, 64, 1024, 16),
        ("sequential", 4, 64, 16384, 1),
        ("parallel", 1, 64, 1024, 16),
        ("parallel", 1, 64, 16384, 1),
    ],
)
def test_selective_scan_estimate_bounds_the_measured_peak(method, b, d, L, n):
    """scan_peak_bytes, the number selective_scan refuses a scan by, against the resident peak of a fresh
    process running that scan's forward and backward: never below it, and not loose (measured 0.86-0.96)."""
    root = Path(__file__).resolve().parents[1]
    args = [sys.executable, "-c", _SCAN_PEAK, method, str(b), str(d), str(L), str(n)]
    peak = int(subprocess.run(args, cwd=root, capture_output=True, text=True, check=True).stdout)
    estimate = scan_peak_bytes(b, d, L, n, method)
    assert 0.75 * estimate <= peak <= estimate, (peak / MB, estimate / MB)


def test_oversized_scans_and_timings_are_refused_before_allocating():
    from lrd_core.experiments import selective as exp

    g = torch.Generator().manual_seed(0)
    u, delta = torch.randn(1, 4, 64, generator=g), torch.randn(1, 4, 64, generator=g)
    B, C, A = torch.randn(1, 2, 64, generator=g), torch.randn(1, 2, 64, generator=g), -torch.ones(4, 2)
    need = scan_peak_bytes(1, 4, 64, 2, "parallel")
    selective_scan(u, delta, A, B, C, method="parallel", max_bytes=need)  # exactly the estimate: allowed
    with pytest.raises(ValueError, match=r"needs \d+ MB for a parallel scan's forward and backward, over max_bytes"):
        selective_scan(u, delta, A, B, C, method="parallel", max_bytes=need - 1)
    # the page's timing size (batch 1, 16 channels, N = 8): 2048 fits the probe budget, 4096 does not
    assert scan_peak_bytes(1, 16, 2048, 8, "parallel") <= MAX_PROBE_BYTES < scan_peak_bytes(1, 16, 4096, 8, "parallel")
    with pytest.raises(ValueError, match=r"^L = 4096 .* over the 64 MB a probe may use"):
        exp.scan_timing((256, 4096), batch=1, channels=16, state_size=8)
