"""``python -m nti_edu.testing FOLDER [--seed 0] [--widths small|sd15] [--device cpu|cuda]``: write the SD-1.5
stand-in into FOLDER."""
from .sd15_standin import main

main()
