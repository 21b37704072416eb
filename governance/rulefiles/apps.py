from django.apps import AppConfig


class RulefilesConfig(AppConfig):
    name = "governance.rulefiles"
    label = "rulefiles"
    verbose_name = "Rule files"
