"""``python -m nti_edu``: the same as the ``nti-edu`` command."""
from .cli import main

raise SystemExit(main())
