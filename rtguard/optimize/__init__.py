"""Optimize stage: export the reference once, then build every configured recipe as a variant (the stage: optimize/stage.py).

Importing the package imports torch (passes that retrain); the serving path never imports it.
"""

from rtguard.optimize.stage import optimize_run, pass_context, with_operating_point

__all__ = ["optimize_run", "pass_context", "with_operating_point"]
