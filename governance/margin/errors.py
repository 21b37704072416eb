"""Errors of the margin engine. Each carries a code and the HTTP status an API maps it to."""


class MarginError(Exception):
    code = "margin_error"
    http_status = 400

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class InvalidInput(MarginError):
    """A position or parameter the engine cannot accept (negative quantity, unknown side, a float...)."""

    code = "invalid_input"
    http_status = 400


class InvalidSchedule(MarginError):
    """Tiers that cannot price anything: not starting at 0, not contiguous, maintenance >= initial."""

    code = "invalid_schedule"
    http_status = 400


class NotionalBeyondTiers(MarginError):
    """A valid position whose notional lies above the last tier's cap: never extrapolated."""

    code = "notional_beyond_tiers"
    http_status = 422
