"""Public path of the S4D functions (``lrd_core.ssm.s4d_kernel``, ``ssm_scan``, ``ssm_fft``, ...).

The code lives in :mod:`lrd_core.models.s4d`, next to the other architectures; this module re-exports its
public names so the documented import paths keep working.
"""

from lrd_core.models.s4d import (
    INITS,
    MAX_DT,
    METHODS,
    MIN_DT,
    S4D,
    S4DConfig,
    S4DKernel,
    S4DModel,
    discretize,
    log_uniform_dt,
    random_C,
    s4d_eigenvalues,
    s4d_kernel,
    s4d_parameters,
    ssm_fft,
    ssm_scan,
    time_constants,
)

__all__ = [
    "INITS",
    "MAX_DT",
    "METHODS",
    "MIN_DT",
    "S4D",
    "S4DConfig",
    "S4DKernel",
    "S4DModel",
    "discretize",
    "log_uniform_dt",
    "random_C",
    "s4d_eigenvalues",
    "s4d_kernel",
    "s4d_parameters",
    "ssm_fft",
    "ssm_scan",
    "time_constants",
]
