"""rtguard: which version of my detector should I ship, and what does each speed-up cost me?"""

from rtguard.version import __version__

__all__ = ["Detector", "open_run", "__version__"]


def __getattr__(name: str):
    """Re-exports the notebook API (rtguard.api) on first use, so `import rtguard` stays light."""
    if name in ("open_run", "Detector"):
        from rtguard import api

        return getattr(api, name)
    raise AttributeError(f"module 'rtguard' has no attribute {name!r}")
