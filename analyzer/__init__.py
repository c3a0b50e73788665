"""Access Undenied: explain AWS access denials and propose least-privilege fixes.

The package is split along the data flow (see README "Architecture"):
``policy`` (parsed policy documents), ``engine`` (pure evaluation, no I/O),
``cases`` (the evaluation-case file format) and ``cli`` (commands).
"""

__version__ = "0.1.0"
