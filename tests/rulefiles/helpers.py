from governance.rulefiles import RuleSet, rulefile_parse, ruleset_validate

CONTRACT_SOURCE = "rules/contracts/TESTUSDT.yaml"


def ruleset_from_texts(*files: tuple[str, str]) -> RuleSet:
    """Validate (source, text) pairs as one rule set; contract files are named after their stem."""
    parsed = [
        rulefile_parse(text, source=source,
                       file_stem=source.rsplit("/", 1)[-1].removesuffix(".yaml") if "/contracts/" in source else None)
        for source, text in files
    ]
    return ruleset_validate(parsed)


def error_lines(*files: tuple[str, str]) -> list[str]:
    return [str(e) for e in ruleset_from_texts(*files).errors]
