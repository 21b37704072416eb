from django.apps import AppConfig


class ParametersConfig(AppConfig):
    name = "governance.parameters"
    label = "parameters"
    verbose_name = "Margin parameters"
