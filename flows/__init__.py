"""Everything Prefect: the nightly flow and its tasks, task runners (threads, processes, Dask),
cached results, artifacts, the Prefect API a local run reports to, and the ``run`` and ``demo``
commands that drive them. Thin orchestration over ``analyzer.pipeline``, which never imports
this package (the commands reach the CLI through an entry point)."""
