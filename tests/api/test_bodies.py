"""The per-process store of built answers, by ETag."""
from governance.api.selectors import Bodies


def test_a_body_is_built_once_per_key_and_the_oldest_goes_first():
    built = []
    bodies = Bodies(size=2)

    def build(name):
        return lambda: built.append(name) or {"name": name}

    assert bodies.get(("a",), build("a")) == {"name": "a"}
    assert bodies.get(("a",), build("a again")) == {"name": "a"}
    bodies.get(("b",), build("b"))
    bodies.get(("a",), build("a once more"))  # a is the most recent now
    bodies.get(("c",), build("c"))  # b goes
    bodies.get(("b",), build("b again"))
    assert built == ["a", "b", "c", "b again"]
