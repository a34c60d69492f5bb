"""rtguard: which version of my detector should I ship, and what does each speed-up cost me?"""

__version__ = "0.1.0"
