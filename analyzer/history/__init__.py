"""Time travel: the policies in force when a request was denied, and the change that did it.

* ``changes``: successful CloudTrail policy-change events recognised as ``PolicyChange``s,
  each a list of ``Edit``s to one piece of policy state (a ``Slot``);
* ``timeline``: a snapshot plus the changes around it rebuilt into the snapshot in force
  at any time t (``PolicyTimeline.state_at``), with what cannot be known marked as gaps;
* ``root_cause``: for each denial, the change after which the decision flipped from allowed
  to denied, and the later change that allowed it again.
"""
