"""The pure evaluation engine: no I/O, no boto3.

``evaluation.evaluate(Request, PolicySet, rcp_services) -> Evaluation`` decides a
request as AWS does and returns the reasons (policy, statement, level) behind
the decision; ``model`` holds those types. The building blocks (``matching``,
``variables``, ``conditions``, ``principals``) are also what ``analyzer.engine.policy``
compiles documents with, which is why this package imports nothing eagerly.
"""
