"""Hard caps on every user-chosen size, so one visitor cannot exhaust a shared host.

Widgets take their ranges from here and ``lrd_core`` functions enforce them
with ``ValueError``.
"""

MAX_SEQ_LEN = 1000  # T for probes and the adding problem
MAX_TRAIN_SEQ_LEN = 400  # T for live training (a Python loop per step)
MAX_HIDDEN = 256  # hidden units of a recurrent model
MAX_BATCH = 256  # sequences per batch
MAX_STEPS = 5000  # optimiser steps in one training run
MAX_SEED = 2**31 - 1  # seeds are plain non-negative ints
MAX_INPUT_SCALE = 10.0  # multiplier on the inputs of a probed RNN
MIN_RHO, MAX_RHO = 0.01, 3.0  # spectral radius / orthogonal scale of W
MAX_SECONDS_PER_RUN = 300.0  # wall-clock budget of one live training run

# Temporal convolutions (the "Convolutions" page)
MAX_TCN_KERNEL = 8  # k: taps per causal convolution
MAX_TCN_TOP_LAYER = 10  # d: layers (or residual blocks) l = 0..d with dilation 2**l
MAX_TCN_CHANNELS = 128  # C: channels of every convolution layer
MAX_TCN_PROBE_LEN = 40_000  # T for the receptive-field probe: above the largest R(k, d) the caps allow
MAX_TCN_TRAIN_SEQ_LEN = 1024  # T for live lag-parity training (no loop over t: the cost is linear in T)
MAX_LAG = 512  # lag of the lag-parity task
