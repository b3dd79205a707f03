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
MAX_SECONDS_PER_RUN = 300.0  # compute seconds one model's training loop may use (lrd_core.train)
MAX_RUN_CPU_SECONDS = 300.0  # CPU seconds one press of Start may use, all its series together (engine)
MAX_PROBE_BYTES = 64 * 2**20  # working memory one probe may allocate at once (larger ones stream in chunks)
MAX_QUEUED_RUNS = 24  # runs waiting for a worker; past this a visitor is told the server is busy

# Temporal convolutions (the "Convolutions" page)
MAX_TCN_KERNEL = 8  # k: taps per causal convolution
MAX_TCN_TOP_LAYER = 10  # d: layers (or residual blocks) l = 0..d with dilation 2**l
MAX_TCN_CHANNELS = 128  # C: channels of every convolution layer
MAX_TCN_PROBE_LEN = 40_000  # T for the receptive-field probe: above the largest R(k, d) the caps allow
MAX_TCN_TRAIN_SEQ_LEN = 3264  # T for live lag-parity training: MAX_LAG + 64 scored steps (the cost is linear in T)
MAX_LAG = 3200  # lag of the lag-parity task: past the largest R the Convolutions page allows (3,067)

# Attention (the "Attention" page)
MAX_SEQ2SEQ_SYMBOLS = 64  # V: alphabet of the reversal / copy task
MAX_SEQ2SEQ_LEN = 400  # T of a source sequence for the encoder-gradient probe
MAX_SEQ2SEQ_TRAIN_LEN = 60  # T for live reversal training (Python loops over encoder and decoder steps)
MAX_ATTENTION_COST_LEN = 4096  # L for timing self-attention (its L x L matrix: 64 MiB in float32 at 4096)

# State-space models (the "State-space models" page)
MAX_SSM_STATE = 256  # N: complex modes per channel of a diagonal SSM (A, C are [H, N])
MAX_SSM_CHANNELS = 256  # H: channels of an S4D layer
MAX_SSM_LAYERS = 6  # S4D layers in a model
MAX_SSM_KERNEL_LEN = 16_384  # L of an s4d_kernel (the kernel is an H x N x L Vandermonde product)
MAX_SSM_TRAIN_SEQ_LEN = 1000  # T of live delayed-recall training (the LSTM baseline loops over t)

# LayerNorm placement (the "LayerNorm placement" page)
MAX_TRANSFORMER_LAYERS = 48  # N: Transformer blocks in one stack
MAX_TRANSFORMER_D_MODEL = 256  # d_model: width of the residual stream
MAX_TRANSFORMER_HEADS = 16  # attention heads per block (must divide d_model)
MAX_TRANSFORMER_D_FF = 1024  # hidden units of the MLP in each block
MAX_TRANSFORMER_SEQ_LEN = 1024  # T fed to a Transformer stack (its T x T attention matrix per head)

# Long context (the "Long context" page)
MAX_BPE_VOCAB = 8192  # V: entries of a trained byte-level BPE vocabulary (256 bytes + merges)
MAX_CODE_CORPUS_CHARS = 600_000  # characters of standard-library source read for the code corpus
MAX_CODE_FILE_CHARS = 20_000  # characters kept from each source file (so no one file dominates)
MAX_TOKENIZE_CHARS = 1_000_000  # characters tokenized piece by piece in one call
MAX_HELD_OUT_CHARS = 40_000  # held-out characters of each corpus on which tokenizers are measured
MAX_PASTED_CHARS = 4000  # characters a visitor may paste into the tokenizer box
MAX_SEGMENT_LEN = 128  # S: tokens per segment of the segment-level Transformer
MAX_MEMORY_LEN = 256  # M: cached hidden states per layer attended as extra keys/values
MAX_SEGMENTS = 8  # segments in one sequence of segment-level training (the sequence is S × segments long)

# Associative recall (the "Associative recall" page)
MAX_MQAR_PAIRS = 64  # n: key-value pairs of one MQAR sequence (3n tokens)
MAX_RECALL_STEPS = 3000  # optimiser steps of one racer in the MQAR race
MAX_MEMORY_DK = 128  # dk of the fixed-size memory demonstration
MAX_MEMORY_LOAD = 8  # n/dk: pairs per key dimension stored in that memory at most
MAX_FORM_LEN = 2048  # L of the linear-attention forms' timing (the parallel form's L × L scores: 32 MB at 2048)
