"""Hands-on exercises: short numeric questions whose answer key is computed by ``lrd_core`` itself.

Every answer is a call into the library (theory closed forms, the S4D
eigenvalues), never a typed-in number, so the key cannot drift from the code.
Each exercise names the page (and its widget values) that shows the answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from lrd_core import theory
from lrd_core.experiments import recall, selective
from lrd_core.models import s4d


@dataclass(frozen=True)
class Exercise:
    id: str  # stable name, also the widget key of the answer box
    topic: str  # the page's subject
    question: str  # markdown
    answer: Callable[[], float]  # computes the key from lrd_core
    rel_tol: float  # an answer within this relative error counts as right
    explanation: str  # how to get there, shown on request
    page: str  # script path of the page that shows it
    query: dict[str, str] = field(default_factory=dict)  # that page's widget values

    def check(self, value: float | None) -> bool:
        """True if ``value`` is within ``rel_tol`` of the key (None, NaN or inf never are)."""
        if value is None or not math.isfinite(value):
            return False
        return math.isclose(value, self.answer(), rel_tol=self.rel_tol, abs_tol=1e-12)


def s4d_lin_time_constant(dt: float) -> float:
    """τ in steps of the slowest S4D-Lin mode of a channel with step ``dt`` (all its modes share Re A)."""
    A = s4d.s4d_eigenvalues(1, 1, "lin")  # (1, 1)
    return float(s4d.time_constants(torch.tensor([dt], dtype=torch.float64), A)[0, 0])


EXERCISES = (
    Exercise(
        "rnn_length",
        "Vanishing gradients",
        "A linear RNN multiplies the learning signal by ρ = 0.95 per step. From how many steps L on is "
        "ρ^(L−1) below 10⁻⁶?",
        lambda: theory.length_below(0.95, 1e-6),
        0.0,
        "Solve 0.95^(L−1) < 10⁻⁶: L − 1 > ln 10⁻⁶ / ln 0.95, then take the next whole step.",
        "pages/1_Vanishing_gradients.py",
        {"rho": "0.95", "act": "identity", "T": "400"},
    ),
    Exercise(
        "forget_product",
        "Gating",
        "Every forget gate of an LSTM sits at σ(2). What share of the cell signal survives 50 steps "
        "along the cell path?",
        lambda: theory.forget_gate_product(2.0, 50),
        0.01,
        "The cell path multiplies by f = σ(2) per step, so the share is σ(2)^50.",
        "pages/2_Gating.py",
        {"bias": "2.0", "T": "50"},
    ),
    Exercise(
        "dilated_rf",
        "Dilated convolutions",
        "A stack of causal convolutions with kernel size k = 3 and layers ℓ = 0..4 with dilation 2^ℓ: "
        "how many inputs does one output see (its receptive field)?",
        lambda: theory.receptive_field(3, 4),
        0.0,
        "Each layer adds (k − 1)·2^ℓ: R = 1 + (k − 1)(2^(d+1) − 1).",
        "pages/3_Convolutions.py",
        {"k": "3", "d": "4", "stack": "dilated"},
    ),
    Exercise(
        "tcn_rf",
        "Dilated convolutions",
        "A TCN of 4 residual blocks, two convolutions each with k = 3, dilation 2^i in block i: "
        "what is its receptive field?",
        lambda: theory.tcn_receptive_field(3, 4),
        0.0,
        "Two convolutions per block double the reach of each: R = 1 + 2(k − 1)(2^n − 1).",
        "pages/3_Convolutions.py",
        {"k": "3", "d": "3", "stack": "residual"},
    ),
    Exercise(
        "attention_cost",
        "Attention",
        "Self-attention over L = 1024 tokens takes 1 unit of time once the L×L scores dominate. "
        "How many units at L = 4096?",
        lambda: theory.power_law_through(4096, 1024, 1.0),
        0.0,
        "Time grows as L²: (4096/1024)² times as much.",
        "pages/4_Attention.py",
        {"max_L": "4096"},
    ),
    Exercise(
        "ssm_tau",
        "State-space models",
        "An S4D-Lin channel (every mode has Re A = −1/2) runs with step Δ = 0.01. After how many steps τ "
        "has an input faded to 1/e?",
        lambda: s4d_lin_time_constant(0.01),
        0.01,
        "|Ā| = e^(Δ Re A) per step, so the memory is e^(−l/τ) with τ = 1/(Δ |Re A|).",
        "pages/6_State_space_models.py",
        {"init": "lin", "dt_min": "0.01", "dt_max": "0.1"},
    ),
    Exercise(
        "selective_delta",
        "Selective state spaces",
        "A selective SSM channel has A = −1 and updates its state by x ← e^(ΔA)·x + Δ·B·u. Which step Δ "
        "keeps a stored value for 100 steps, i.e. leaves 1/e of it after 100 steps of noise?",
        lambda: selective.keep_delta(-1.0, 100),
        0.01,
        "Each step multiplies the state by e^(ΔA), so 100 steps keep e^(100·Δ·A) = e^(−1): Δ = 1/100. A larger "
        "Δ on a data token writes it (and forgets the old state); a small Δ on noise lets the state pass.",
        "pages/7_Selective_state_spaces.py",
    ),
    Exercise(
        "delta_capacity",
        "Associative recall",
        "A memory S of size dk × dv with dk = 16 stores pairs by the delta rule with β = 1 (random unit keys and "
        "values, each written once). Up to how many pairs n is the expected RMS retrieval error below 0.5?",
        lambda: recall.pairs_below(16, 0.5, "delta"),
        0.0,
        "Read the delta rule's dashed curve at dk = 16 where it crosses 0.5; the closed form is "
        "lrd_core.theory.delta_memory_error. An additive memory would need (n − 1)/16 < 0.25: fewer pairs.",
        "pages/10_Associative_recall.py",
        {"mem_dk": "16"},
    ),
)
