"""One module per page topic: the probes and training runs that page calls, and nothing else.

Modules here never import each other; what several topics share lives in :mod:`lrd_core.gradients`,
:mod:`lrd_core.task_runs`, :mod:`lrd_core.train` and :mod:`lrd_core.models`.
"""
