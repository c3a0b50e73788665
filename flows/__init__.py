"""Prefect flows: thin orchestration over ``analyzer.pipeline`` (no analysis logic here)."""
