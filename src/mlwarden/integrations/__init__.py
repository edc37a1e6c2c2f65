"""Clients of the tools teams already run beside mlwarden (MLflow's tracking server and model
registry), over their documented HTTP APIs: no SDK of theirs at run time. They sit beside
``incidents`` in the layers: they use ``schema`` and ``errors``; the CLI and the server's jobs
use them."""
