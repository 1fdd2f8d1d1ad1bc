"""Checkov at the edge: the gate client (gate.py) and the worker it runs with checkov's Python (worker.py)."""
