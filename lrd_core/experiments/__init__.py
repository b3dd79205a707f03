"""One module per page topic: the probes and training runs that page calls, and its
``demo(values, seed, device) -> Demo``: the only way a live run is built (page, tests, bench, scripts).
Registered, in page order, in :mod:`lrd_core.lecture`. Experiments return tidy frames and never draw.

Modules here never import each other; what several topics share lives in :mod:`lrd_core.gradients`,
:mod:`lrd_core.task_runs`, :mod:`lrd_core.train` and :mod:`lrd_core.models`.
"""
