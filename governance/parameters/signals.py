"""Signals other apps listen to without the parameter store depending on them."""
from django.dispatch import Signal

# Sent inside the activating transaction with `version`: receivers write in the same
# transaction (the rollout record), so an activation never commits without them.
version_activated = Signal()
