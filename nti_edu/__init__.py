"""nti_edu: DDIM inversion and null-text inversion, written out by hand for teaching."""
from . import threads as _threads

__version__ = "0.2.0"

_threads.configure()  # before torch starts its OpenMP pool, where nti_edu is imported first (nti_edu/threads.py)
