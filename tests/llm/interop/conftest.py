"""The drivers are scripts run by the interop venv's python (they import libraries the project's
venv lacks, and run at import): pytest neither collects them nor imports them for doctests."""

collect_ignore = ["drivers"]
