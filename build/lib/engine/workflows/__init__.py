"""Workflow files dbvend installs into an infrastructure repository (dbvend init)."""
