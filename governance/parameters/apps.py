from django.apps import AppConfig


class ParametersConfig(AppConfig):
    name = "governance.parameters"
    label = "parameters"
    verbose_name = "Margin parameters"

    def ready(self) -> None:
        # The project's Celery app becomes the current app wherever Django runs, so shared
        # tasks bind to it. (Not imported from governance/__init__: governance.margin must
        # stay importable without Django or Celery.)
        import governance.celery  # noqa: F401
