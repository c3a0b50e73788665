"""``python -m analyzer`` runs the CLI (the same as ``access-undenied``)."""

from analyzer.cli import entry

entry()
