"""Training the embedded model: ``python -m nti_edu.train`` (see ``--help``)."""
