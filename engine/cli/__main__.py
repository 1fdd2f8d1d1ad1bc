"""`python -m engine.cli`: the `dbvend` command."""

from engine.cli import main

main()
