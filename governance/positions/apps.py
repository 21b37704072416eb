from django.apps import AppConfig


class PositionsConfig(AppConfig):
    name = "governance.positions"
    label = "positions"
    verbose_name = "Isolated positions"

    def ready(self) -> None:
        from governance.positions import receivers  # noqa: F401  (activation starts a rollout)
