"""One run's evaluation: the protocols (schemes, test sets, hold-out), training then scoring a run
(``experiment``), its metrics, report folder, plots and anomaly maps, and rescoring stored components.
"""
