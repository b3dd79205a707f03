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
