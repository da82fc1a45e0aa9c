"""nti_edu: DDIM inversion and null-text inversion, written out by hand for teaching."""
__version__ = "0.1.0"
