"""The application: the API every interface calls (imessenger.app.api), and what it is
made of: the door and its policy (``api``, ``access``), the work done here (``here``: one
class of actions per concern, on ``services``), another host's API over the wire
(``remote``, ``wire``), and the plain values it returns (``values``).
"""
