"""Explanations and least-privilege remediation on top of the engine's reasons.

``explanation.explain`` turns an evaluation into findings (reason codes from
``registry``), fixes (``remediation``) and notes; ``output`` renders them in the
original tool's JSON shape.
"""
