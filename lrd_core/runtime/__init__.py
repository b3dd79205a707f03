"""What a server needs and a notebook does not: the process-wide run engine (worker threads, FIFO queue, CPU
budgets, snapshots), the foreground gate that pauses training while a visitor's page is built, and the glibc
heap settings of a long-lived shared process. Nothing here decides a run's numbers: a Demo does
(:mod:`lrd_core.demo`)."""
