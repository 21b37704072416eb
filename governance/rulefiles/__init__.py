"""Rule files: strict loading and validation of the YAML margin parameters. No database needed."""
from governance.rulefiles.documents import (
    ContractGroup,
    ContractRules,
    ExchangeRules,
    Guardrail,
    PolicyRules,
    TierRule,
    VolatilityBandRule,
)
from governance.rulefiles.errors import RuleError, RuleFilesInvalid, path_format
from governance.rulefiles.loading import (
    RuleFile,
    RuleSet,
    rule_paths_collect,
    rulefile_parse,
    rulefile_read,
    ruleset_load,
    ruleset_validate,
)
from governance.rulefiles.semantics import RuleContext

__all__ = [
    "ContractGroup", "ContractRules", "ExchangeRules", "Guardrail", "PolicyRules", "TierRule",
    "VolatilityBandRule", "RuleError", "RuleFilesInvalid", "path_format", "RuleFile", "RuleSet",
    "rule_paths_collect", "rulefile_parse", "rulefile_read", "ruleset_load", "ruleset_validate",
    "RuleContext",
]
