"""Loading rule sets from disk: directories, the process pool for large sets, unreadable files."""
import shutil
from pathlib import Path

from django.conf import settings

from governance.rulefiles import loading, rule_paths_collect, ruleset_load


def _broken_tree(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(settings.RULES_DIR, rules)
    eth = rules / "contracts" / "ETHUSDT.yaml"
    eth.write_text(eth.read_text().replace("max_leverage: 75", "max_leverage: 150"))
    (rules / "contracts" / "NOTES.txt").write_text("not a rule file")
    return rules


def test_parallel_and_serial_loading_agree(tmp_path, monkeypatch):
    rules = _broken_tree(tmp_path)
    serial = ruleset_load([rules])
    monkeypatch.setattr(loading, "PARALLEL_MIN_FILES", 1)
    parallel = ruleset_load([rules])
    assert [str(e) for e in parallel.errors] == [str(e) for e in serial.errors]
    assert parallel.contracts == serial.contracts
    assert len(serial.errors) == 2  # leverage rises against the tier before, and exceeds the policy bound
    assert sorted(parallel.contracts) == sorted(set(serial.contracts))


def test_directories_expand_to_yaml_files_only(tmp_path):
    rules = _broken_tree(tmp_path)
    names = [p.name for p in rule_paths_collect([rules])]
    assert "NOTES.txt" not in names
    assert names[-2:] == ["exchange.yaml", "policy.yaml"]
    assert len(names) == 16


def test_unreadable_path_is_an_error_not_an_exception(tmp_path):
    ruleset = ruleset_load([tmp_path / "gone.yaml"])
    assert [e.message for e in ruleset.errors] == ["cannot read file: No such file or directory"]


def test_a_pipe_or_a_device_is_an_error_not_a_read_that_never_ends(tmp_path):
    import os

    fifo = tmp_path / "BTCUSDT.yaml"
    os.mkfifo(fifo)  # nobody writes to it: reading would wait forever
    ruleset = ruleset_load([fifo, Path("/dev/zero")])
    assert sorted((e.source, e.message) for e in ruleset.errors) == [
        ("/dev/zero", "cannot read file: not a regular file"), (str(fifo), "cannot read file: not a regular file")]
