"""Closed forms the pages draw over their measurements."""

from __future__ import annotations

import numpy as np

from lrd_core.validate import as_float_array, check_float, check_int

ADDING_BASELINE_MSE = 1.0 / 6.0
"""MSE of always predicting 1 on the adding problem: Var(U1 + U2) = 2/12."""


def signal_magnitude(rho, L, alpha: float = 1.0):
    """Learning signal reaching a dependency of length L: S(L) = alpha * rho**(L - 1).

    ``rho`` > 0 is the per-step gain (spectral radius of W, a forget gate f, or
    1 - z), ``L`` >= 1 the dependency length (scalar or array). Returns a float
    for scalar L, else a numpy array of L's shape. Underflow gives exactly 0.
    """
    rho = check_float("rho", rho, 0.0, np.inf, lo_open=True)
    alpha = check_float("alpha", alpha, 0.0, np.inf)
    try:
        L_arr = as_float_array("L", L)
    except (TypeError, ValueError):
        raise ValueError(f"L must be a number >= 1 or an array of them (dependency length), got {L!r}") from None
    if L_arr.size and (not np.all(np.isfinite(L_arr)) or L_arr.min() < 1):
        raise ValueError(f"L must be finite and >= 1 (dependency length), got {L!r}")
    with np.errstate(over="ignore", under="ignore"):
        # alpha = 0 carries no signal at any length (and 0 * inf would be NaN)
        out = alpha * np.power(float(rho), L_arr - 1.0) if alpha > 0 else np.zeros_like(L_arr)
    return float(out) if np.ndim(L) == 0 else out


def length_below(rho: float, threshold: float, alpha: float = 1.0) -> float:
    """Smallest L with alpha * rho**(L-1) < threshold (inf when rho >= 1 never decays)."""
    rho = check_float("rho", rho, 0.0, np.inf, lo_open=True)
    threshold = check_float("threshold", threshold, 0.0, np.inf, lo_open=True)
    alpha = check_float("alpha", alpha, 0.0, np.inf, lo_open=True)
    if alpha < threshold:
        return 1.0
    if rho >= 1.0:
        return float("inf")
    # alpha * rho**(L-1) < threshold  <=>  L - 1 > log(threshold/alpha) / log(rho)
    return float(np.floor(np.log(threshold / alpha) / np.log(rho)) + 2)


# --- Receptive fields of causal convolution stacks (the "Convolutions" page) ---


MAX_RF_DEPTH = 62  # layers / blocks accepted by the closed forms below (results stay exact Python ints)


def receptive_field(kernel_size: int, top_layer: int) -> int:
    """R(k, d) = (k - 1)(2^(d+1) - 1) + 1: inputs one output of a dilated causal stack can see.

    Layers l = 0..d, layer l with kernel k and dilation 2^l. An output at t can
    reach t - sum_l m_l 2^l with m_l in {0..k-1}: the largest lag is
    (k - 1) * sum_l 2^l = (k - 1)(2^(d+1) - 1), and counting t itself adds 1.
    """
    k = check_int("kernel_size", kernel_size, 1, 1024)
    d = check_int("top_layer", top_layer, 0, MAX_RF_DEPTH)
    return (k - 1) * (2 ** (d + 1) - 1) + 1


def undilated_receptive_field(kernel_size: int, top_layer: int) -> int:
    """(k - 1)(d + 1) + 1: the same d + 1 layers with dilation 1 everywhere grow only linearly."""
    k = check_int("kernel_size", kernel_size, 1, 1024)
    d = check_int("top_layer", top_layer, 0, MAX_RF_DEPTH)
    return (k - 1) * (d + 1) + 1


def tcn_receptive_field(kernel_size: int, n_blocks: int, convs_per_block: int = 2) -> int:
    """1 + c(k - 1)(2^n - 1): residual TCN (Bai et al. 2018) of n blocks, block i = c convs of dilation 2^i.

    The 1x1 convolution on the skip path looks at one step only, so the skip
    connections add no reach: each block extends the lag by c(k - 1) 2^i.
    """
    k = check_int("kernel_size", kernel_size, 1, 1024)
    n = check_int("n_blocks", n_blocks, 1, MAX_RF_DEPTH)
    c = check_int("convs_per_block", convs_per_block, 1, 16)
    return 1 + c * (k - 1) * (2**n - 1)


def forget_gate_product(forget_bias, L):
    """prod of L forget gates that all sit at their initial value sigmoid(b_f): sigmoid(b_f)**L.

    The cell-path gain dc_L/dc_0 of an LSTM whose gates ignore their inputs.
    Scalar or array L >= 0; underflow gives exactly 0.
    """
    b = check_float("forget_bias", forget_bias, -np.inf, np.inf)
    L_arr = as_float_array("L", L)
    if L_arr.size and (not np.all(np.isfinite(L_arr)) or L_arr.min() < 0):
        raise ValueError(f"L must be >= 0 (number of gates), got min {L_arr.min()}")
    with np.errstate(over="ignore", under="ignore"):  # exp(-b) = inf for b << 0 gives f = 0 exactly
        f = 1.0 / (1.0 + np.exp(-b))
        out = np.power(f, L_arr)
    return float(out) if np.ndim(L) == 0 else out


def copy_memory_loss(T: int, length: int, p_correct: float) -> float:
    """Mean cross-entropy per step on copy-memory when every blank is predicted perfectly and each
    recalled symbol gets probability ``p_correct``: length * (-log p) / (T + 2 * length).

    p_correct = 1 / n_symbols is the memoryless baseline (guessing); 0.9 is a "solved" level.
    """

    T = check_int("T", T, 1, 10**6)
    length = check_int("length", length, 1, 10**6)
    p = check_float("p_correct", p_correct, 0.0, 1.0, lo_open=True)
    return float(length * -np.log(p) / (T + 2 * length))


# --- The cost of self-attention (the "Attention" page) ---

ATTENTION_COST_EXPONENT = 2.0
"""Self-attention over L tokens builds an L x L score matrix: time and memory grow as L**2."""


def power_law_through(L, L_ref: float, y_ref: float, exponent: float = ATTENTION_COST_EXPONENT):
    """y = y_ref * (L / L_ref) ** exponent: the power law through one measured point (L_ref, y_ref).

    With the default exponent 2 it is the O(L²) prediction anchored at a
    measurement. Scalar or array L > 0; returns a float or an array of L's shape.
    """
    L_ref = check_float("L_ref", L_ref, 0.0, np.inf, lo_open=True)
    y_ref = check_float("y_ref", y_ref, 0.0, np.inf)
    exponent = check_float("exponent", exponent, -10.0, 10.0)
    L_arr = as_float_array("L", L)
    if L_arr.size and (not np.all(np.isfinite(L_arr)) or L_arr.min() <= 0):
        raise ValueError(f"L must be > 0, got min {L_arr.min()}")
    out = y_ref * (L_arr / L_ref) ** exponent
    return float(out) if np.ndim(L) == 0 else out


# --- State-space models page ---


def ssm_memory(L, tau):
    """exp(−L/τ): how much of an input an SSM mode with time constant τ (steps) still holds after L steps.

    A ZOH mode has |Ā| = exp(Δ Re A), so |Ā|^L = exp(−L/τ) with τ = 1/(Δ|Re A|). Scalar or array L >= 0.
    """
    tau = check_float("tau", tau, 0.0, np.inf, lo_open=True)
    L_arr = as_float_array("L", L)
    if L_arr.size and (not np.all(np.isfinite(L_arr)) or L_arr.min() < 0):
        raise ValueError(f"L must be finite and >= 0 (steps), got {L!r}")
    with np.errstate(under="ignore"):
        out = np.exp(-L_arr / tau)
    return float(out) if np.ndim(L) == 0 else out


def forget_time_constant(f: float) -> float:
    """τ = −1/ln f̄: the time constant of an LSTM cell whose forget gates sit at f̄, since f̄^L = exp(−L/τ)."""
    f = check_float("f", f, 0.0, 1.0, lo_open=True)
    if f >= 1.0:
        raise ValueError(f"f must be in (0, 1): with f = 1 nothing is ever forgotten (τ = ∞), got {f}")
    return float(-1.0 / np.log(f))


def forget_bias_time_constant(bias: float) -> float:
    """τ(b) = −1/ln σ(b): the memory time constant, in steps, of an LSTM cell whose forget gate sits at its
    initial value σ(b) (input-independent part only). b = 1 gives 3.2 steps, b = 3 about 20, b = 5 about 149."""
    b = check_float("bias", bias, -30.0, 30.0)
    return forget_time_constant(float(1.0 / (1.0 + np.exp(-b))))


COST_MODELS = ("LSTM", "S4D (FFT)", "attention")
COST_AXES = ("L", "H")
DOMINANT_SHARE = 0.75
"""A slope is fitted only where the asymptotically leading terms make at least this share of the count."""

ASYMPTOTIC_EXPONENT = {  # (model, axis) -> exponent of the leading term(s) as L or H grows alone
    ("LSTM", "L"): 1.0,
    ("LSTM", "H"): 2.0,
    ("S4D (FFT)", "L"): 1.0,  # times log L from the FFT
    ("S4D (FFT)", "H"): 2.0,
    ("attention", "L"): 2.0,
    ("attention", "H"): 2.0,
}
LEADING_TERMS = {  # (model, axis) -> the terms that grow fastest along that axis (None: every term)
    ("LSTM", "L"): None,
    ("LSTM", "H"): None,
    ("S4D (FFT)", "L"): None,  # all terms grow like L (the FFT like L log L)
    ("S4D (FFT)", "H"): ("output projection",),
    ("attention", "L"): ("scores and A·V",),
    ("attention", "H"): ("projections",),
}


def _cost_args(model: str, L, H: int, N: int, batch: int, width: str = "H"):
    if model not in COST_MODELS:
        raise ValueError(f"model must be one of {list(COST_MODELS)}, got {model!r}")
    H = check_int(width, H, 1, 10**6)
    N = check_int("N", N, 1, 10**6)
    batch = check_int("batch", batch, 1, 10**6)
    L_arr = as_float_array("L", L)
    if L_arr.size and (not np.all(np.isfinite(L_arr)) or L_arr.min() < 1):
        raise ValueError(f"L must be >= 1, got {L!r}")
    return L_arr, H, N, batch


def sequence_cost_terms(model: str, L, H: int, N: int = 64, batch: int = 1) -> dict:
    """Multiply-adds of one forward pass of one layer over ``batch`` sequences of L steps, width H, term by term.

    LSTM (input size H): input projection W_ih·x_t, 4H x H per step (4·B·L·H²), and the recurrence
    W_hh·h_(t−1), the same again, one step after another. S4D (the ``S4D`` layer, N complex modes): the
    kernel from its modes (one real matmul over 2N per lag and channel: 2·N·H·L), the FFT convolution (rfft
    of each input row and of K, one irfft, each of length 2L: counted as 2L·log2(2L) per transform, so
    (2B + 1)·H·2L·log2(2L)) and the output projection (the GLU mix H -> 2H at every step: 2·B·L·H²).
    Attention (one head of width H with an output map): projections Q, K, V and output (4·B·L·H²) and the
    scores Q·Kᵀ with A·V (2·B·L²·H). Element-wise work (gates, softmax, GELU) is left out. Returns
    {term: float or array of L's shape}.
    """
    L_arr, H, N, B = _cost_args(model, L, H, N, batch)
    if model == "LSTM":
        terms = {"input projection": 4 * B * L_arr * H**2, "recurrence": 4 * B * L_arr * H**2}
    elif model == "S4D (FFT)":
        terms = {
            "kernel": 2 * N * H * L_arr,
            "FFT convolution": (2 * B + 1) * H * 2 * L_arr * np.log2(2 * L_arr),
            "output projection": 2 * B * L_arr * H**2,
        }
    else:
        terms = {"projections": 4 * B * L_arr * H**2, "scores and A·V": 2 * B * L_arr**2 * H}
    return {k: float(v) if np.ndim(L) == 0 else v for k, v in terms.items()}


def sequence_cost(model: str, L, H: int, N: int = 64, batch: int = 1):
    """Total multiply-adds of :func:`sequence_cost_terms` (projections included). Float or array of L's shape."""
    return sum(sequence_cost_terms(model, L, H, N, batch).values())


def dominant_mask(terms: dict, leading=None, share: float = DOMINANT_SHARE):
    """Boolean array: where the ``leading`` terms (names; None: all) make at least ``share`` of the sum of
    ``terms`` ({name: array}), i.e. the sizes over which a slope measures the asymptotic exponent."""
    share = check_float("share", share, 0.0, 1.0)
    leading = tuple(terms) if leading is None else tuple(leading)
    missing = [k for k in leading if k not in terms]
    if missing:
        raise ValueError(f"leading must name terms of {list(terms)}, got {missing}")
    total = sum(np.asarray(v, dtype=float) for v in terms.values())
    return sum(np.asarray(terms[k], dtype=float) for k in leading) >= share * total


def attention_flops(L, D: int) -> dict:
    """Multiply-adds of one head of :func:`lrd_core.models.transformer.self_attention` (no output map), x (1, L, D):
    {"projections": 3·L·D² (Q, K, V), "scores and A·V": 2·L²·D}. Memory-efficient kernels do the same work."""
    L_arr, D, _, _ = _cost_args("attention", L, D, 1, 1, "D")
    out = {"projections": 3 * L_arr * D**2, "scores and A·V": 2 * L_arr**2 * D}
    return {k: float(v) if np.ndim(L) == 0 else v for k, v in out.items()}


ATTENTION_METHODS = ("naive", "sdpa")


def attention_saved_floats(L, D: int, method: str = "naive") -> dict:
    """Floats autograd keeps for the backward pass of one head, x (1, L, D) with W_q, W_k, W_v (D, D) fixed.

    Both keep the three weights (3·D², to carry the gradient back to x) and Q, K, V (3·L·D). "naive" keeps
    A = softmax(QKᵀ/√D) (L², read by the softmax's backward and by A·V's): O(L²). "sdpa", a memory-efficient
    kernel (FlashAttention, Dao et al. 2022; PyTorch's CPU flash kernel), never stores A: it keeps the
    output (L·D) and one log-sum-exp per row (L) and recomputes A block by block going backward: O(L).
    """
    if method not in ATTENTION_METHODS:
        raise ValueError(f"method must be one of {list(ATTENTION_METHODS)}, got {method!r}")
    L_arr, D, _, _ = _cost_args("attention", L, D, 1, 1, "D")
    if method == "naive":
        out = {"weights": np.full_like(L_arr, 3.0 * D**2), "Q, K, V": 3 * L_arr * D, "A (L x L)": L_arr**2}
    else:
        out = {"weights": np.full_like(L_arr, 3.0 * D**2), "Q, K, V and output": 4 * L_arr * D, "log-sum-exp": L_arr}
    return {k: float(v) if np.ndim(L) == 0 else v for k, v in out.items()}


# --- LayerNorm placement (the "LayerNorm placement" page) ---


def deepnorm_constants(n_layers: int) -> tuple[float, float]:
    """DeepNet (Wang et al. 2022) for a decoder-only (or encoder-only) stack of N layers:
    α = (2N)^(1/4) up-weights the residual, x_{l+1} = LN(α·x_l + F(x_l)), and β = (8N)^(−1/4)
    scales the initial value, output and MLP weights. Returns (α, β)."""
    N = check_int("n_layers", n_layers, 1, 10**6)
    return float((2 * N) ** 0.25), float((8 * N) ** -0.25)


def sqrt_depth_law(N, N_ref: float, y_ref: float):
    """y_ref·√(N / N_ref): the √N growth of the Post-LN / Pre-LN gradient ratio at the last layer,
    anchored at one measured point. Pre-LN's last layers see a residual stream whose size grows like
    √N, and the final LayerNorm divides their gradient by it; Post-LN's do not (Xiong et al. 2020)."""
    N_ref = check_float("N_ref", N_ref, 0.0, np.inf, lo_open=True)
    y_ref = check_float("y_ref", y_ref, 0.0, np.inf)
    N_arr = as_float_array("N", N)
    if N_arr.size and (not np.all(np.isfinite(N_arr)) or N_arr.min() <= 0):
        raise ValueError(f"N must be > 0 (number of blocks), got {N!r}")
    return power_law_through(N, N_ref, y_ref, exponent=0.5)


# --- Tokenization and context reach (the "Long context" page) ---


def _lengths(name: str, value):
    """``value`` (a number or an array of them) as a float array of finite values >= 0, else ValueError naming it."""
    arr = as_float_array(name, value)
    if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return arr


def tokens_for_chars(D, chars_per_token: float):
    """Tokens spanned by a dependency from one character to the one D characters later, under a tokenizer
    with c characters per token: L = 1 + D / c (both ends included; D + 1 for characters). Scalar D gives
    a float, an array an array."""
    c = check_float("chars_per_token", chars_per_token, 0.0, 1e6, lo_open=True)
    out = 1.0 + _lengths("D", D) / c
    return float(out) if np.ndim(D) == 0 else out


def signal_over_chars(rho: float, D, chars_per_token: float, alpha: float = 1.0):
    """The recurrent learning signal α·ρ^(L−1) = α·ρ^(D/c) across D characters, L = :func:`tokens_for_chars`:
    longer tokens (larger c) mean fewer steps, so fewer factors ρ."""
    return signal_magnitude(rho, tokens_for_chars(D, chars_per_token), alpha)


def window_reach_chars(window_tokens, chars_per_token: float):
    """Characters a window of W tokens covers on average: W·c."""
    c = check_float("chars_per_token", chars_per_token, 0.0, 1e6, lo_open=True)
    out = _lengths("window_tokens", window_tokens) * c
    return float(out) if np.ndim(window_tokens) == 0 else out


def segment_reach(segment_len: int, memory_len: int, n_layers: int, position: int | None = None) -> int:
    """Farthest token (steps back) that the token at ``position`` p (0-based, default S − 1) of a segment
    can draw on through N layers of segment recurrence with memory M, given enough earlier segments.

    Layer 1 reads the M cached inputs before the segment, reaching p + M back. Layer n reads cached
    states of layer n − 1, and each of those was computed, one segment earlier, with a memory of its
    own; so every further layer adds a whole segment (Dai et al. 2019, Fig. 2: the reach grows as
    O(N·S)). For M <= S this is p + (N − 1)·S + M; M = 0 (sliding window) gives p. For M > S the same
    walk is taken step by step: a state at absolute position a, in the segment starting at ⌊a/S⌋·S,
    reaches back to ⌊a/S⌋·S − M.
    """
    S = check_int("segment_len", segment_len, 1, 10**6)
    M = check_int("memory_len", memory_len, 0, 10**6)
    N = check_int("n_layers", n_layers, 1, 10**6)
    p = S - 1 if position is None else check_int("position", position, 0, S - 1)
    if M == 0:
        return p
    start = N * S  # the query's segment starts here; N earlier segments are enough for the walk
    earliest = start - M  # layer 1
    for _ in range(N - 1):
        earliest = (earliest // S) * S - M
    return start + p - earliest


def layernorm_projection_distance(d_model: int) -> float:
    """√(2/D): ||I − P||_F / ||I||_F for the projection P that LayerNorm's Jacobian removes at each position.

    LN(y) = (y − mean)/σ has the Jacobian (1/σ)(I − 11ᵀ/D − ŷŷᵀ/D): it discards the mean direction and the
    direction of y itself, 2 of the D directions. A block J = J_LN·(αI + J_F) with α·x dominating is then
    I − P plus a small rest, so DeepNorm's blocks sit near this distance from the identity.
    """
    D = check_int("d_model", d_model, 2, 10**6)
    return float(np.sqrt(2.0 / D))


# --- A memory of fixed size (the "Associative recall" page) ---

MAX_MEMORY_PAIRS = 4096  # n accepted by the memory closed forms below


def additive_memory_error(n_pairs, dk: int):
    """(n − 1)/dk: expected squared retrieval error, per pair and relative to |v|² = 1, of an additive memory
    S = Σ_j k_j v_jᵀ holding n pairs with independent uniform unit keys in R^dk and unit values.

    Reading key i returns v_i + Σ_{j≠i} (k_j·k_i) v_j; the values are independent with mean 0, so the cross
    terms add in square, and E[(k_j·k_i)²] = 1/dk for two independent unit vectors. It grows without bound:
    past n ≈ dk + 1 the noise is larger than the value. Scalar or array n >= 1.
    """
    dk = check_int("dk", dk, 1, 10**6)
    n = as_float_array("n_pairs", n_pairs)
    if n.size and (not np.all(np.isfinite(n)) or n.min() < 1):
        raise ValueError(f"n_pairs must be >= 1, got {n_pairs!r}")
    out = (n - 1) / dk
    return float(out) if np.ndim(n_pairs) == 0 else out


def delta_memory_pair_errors(n_pairs: int, dk: int) -> np.ndarray:
    """Expected squared retrieval error of each pair i = 1..n (written in that order) after all n writes of
    the delta rule with β = 1, S_t = S_{t−1} + k_t (v_t − S_{t−1}ᵀ k_t)ᵀ, keys and values as in
    :func:`additive_memory_error`. Exact expectations, no approximation:

    Each write leaves S unchanged on the complement of k_t, so a read of key i changes by a_t δ_t with
    a_t = k_i·k_t and the surprise δ_t = v_t − S_{t−1}ᵀ k_t, and e_i = 0 right after pair i is written. With
    q = 1 − 1/dk, E[k kᵀ] = I/dk and the fourth moment E[(x·k)² kᵀAk] = (|x|² tr A + 2xᵀAx)/(dk(dk + 2)):

        F_t = E|S_t|²_F = dk (1 − q^t)                                  (the state fills up to |S|² = dk)
        c ← c − (1 + c)/dk                                              (c = E[v_i·e_i]: 1 + c = q^m)
        E ← E − 2(c + E)/dk + 1/dk + (F_{t−1} + 2(1 + 2c + E)) / (dk(dk + 2))     (E = E|e_i|²)

    for every later write t. The newest pair is exact, the oldest are forgotten: E -> 2 (a read-out
    unrelated to v_i) as t grows, never beyond. Returns a float array of length n.
    """
    n = check_int("n_pairs", n_pairs, 1, MAX_MEMORY_PAIRS)
    dk = check_int("dk", dk, 1, 10**6)
    q = 1.0 - 1.0 / dk
    E, c = np.zeros(n), np.zeros(n)  # pair i's error and overlap, updated by every write after it
    for t in range(2, n + 1):  # write t (1-based) moves pairs 1..t−1, with the state of t − 1 writes
        F_prev = dk * (1.0 - q ** (t - 1))
        old_E, old_c = E[: t - 1], c[: t - 1]
        E[: t - 1] = (
            old_E
            - 2.0 * (old_c + old_E) / dk
            + 1.0 / dk
            + (F_prev + 2.0 * (1.0 + 2.0 * old_c + old_E)) / (dk * (dk + 2))
        )
        c[: t - 1] = old_c - (1.0 + old_c) / dk
    return E


def delta_memory_error(n_pairs, dk: int):
    """Mean over the n pairs of :func:`delta_memory_pair_errors`: the delta rule's counterpart of
    :func:`additive_memory_error` (squared retrieval error per pair, relative to |v|² = 1). Scalar or
    sequence of n."""
    ns = np.atleast_1d(as_float_array("n_pairs", n_pairs))
    out = np.array([float(delta_memory_pair_errors(int(n), dk).mean()) if n == int(n) else np.nan for n in ns])
    if np.isnan(out).any():
        raise ValueError(f"n_pairs must be whole numbers, got {n_pairs!r}")
    return float(out[0]) if np.ndim(n_pairs) == 0 else out
