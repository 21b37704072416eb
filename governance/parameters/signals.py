"""Signals other apps listen to without the parameter store depending on them."""
from django.dispatch import Signal

# Sent inside the activating transaction with `version`: receivers write in the same
# transaction (the rollout record), so an activation never commits without them.
version_activated = Signal()

# Sent inside the submitting transaction with `version`: receivers ask for what the version
# would do (the impact preview) when it commits.
version_submitted = Signal()
