"""The JSONPath subset: what a path selects, checked against a plain recursive reference on generated
documents (the fast walker must select the same members, each once), and the changes masking makes."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgw.policies.jsonpath import compile_path, locate, remove_all, replace_all, set_path

KEYS = st.sampled_from(["a", "b", "card", "cvv"])
DOCUMENTS = st.recursive(
    st.none() | st.integers(0, 9) | st.sampled_from(["x", "4111"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=25,
)
STEPS = st.one_of(
    KEYS.map(lambda k: "." + k),
    KEYS.map(lambda k: f"['{k}']"),
    st.integers(-2, 2).map(lambda i: f"[{i}]"),
    st.sampled_from([".*", "[*]", "..*"]),
    KEYS.map(lambda k: ".." + k),
)
PATHS = st.lists(STEPS, min_size=1, max_size=4).map(lambda parts: "$" + "".join(parts))


def reference(document, steps):
    """Every (container, key) selected, by plain recursion over (container, key) pairs."""

    def children(value):
        if isinstance(value, dict):
            return [(value, k) for k in value]
        if isinstance(value, list):
            return [(value, i) for i in range(len(value))]
        return []

    def below(value):
        out = []
        for container, key in children(value):
            out.append((container, key))
            out += below(container[key])
        return out

    current = [({"$": document}, "$")]
    for kind, arg in steps:
        found = []
        for container, key in current:
            value = container[key]
            if kind == "key" and isinstance(value, dict) and arg in value:
                found.append((value, arg))
            elif kind == "index" and isinstance(value, list) and -len(value) <= arg < len(value):
                found.append((value, arg % len(value)))
            elif kind == "all":
                found += children(value)
            elif kind == "desc":
                found += [(c, k) for c, k in below(value) if arg is None or (isinstance(c, dict) and k == arg)]
        unique = {}
        for container, key in found:
            unique.setdefault((id(container), key), (container, key))
        current = list(unique.values())
    return current


@settings(max_examples=400, deadline=None)
@given(DOCUMENTS, PATHS)
def test_selects_what_the_reference_selects_each_once(document, path):
    steps = compile_path(path)
    found = locate(document, steps)
    keys = [(id(c), k) for c, k in found]
    assert len(keys) == len(set(keys)), path
    assert set(keys) == {(id(c), k) for c, k in reference(document, steps)}, path


def test_order_and_changes():
    document = {"a": [{"cvv": 1, "n": {"cvv": 2}}, {"cvv": 3}], "cvv": 0}
    assert [c[k] for c, k in locate(document, compile_path("$..cvv"))] == [0, 1, 2, 3]  # a node before its descendants
    assert locate(document, compile_path("$.a[-1].cvv"))[0][0] is document["a"][1]
    masked = copy.deepcopy(document)
    assert replace_all(masked, compile_path("$..cvv"), "***") == 4
    assert masked == {"a": [{"cvv": "***", "n": {"cvv": "***"}}, {"cvv": "***"}], "cvv": "***"}
    assert remove_all(masked, compile_path("$.a[*]")) == 2 and masked == {"a": [], "cvv": "***"}
    deep = {"x": 1}
    for _ in range(5000):  # far deeper than Python's recursion limit: the walk is iterative
        deep = {"d": deep}
    assert replace_all(deep, compile_path("$..x"), 0) == 1
    assert set_path(document, compile_path("$.meta.via"), "gw") and document["meta"] == {"via": "gw"}


@pytest.mark.parametrize("path", ["a.b", "$", "$[?(@.a)]", "$[0:2]"])
def test_unsupported_paths_are_refused(path):
    with pytest.raises(ValueError):
        compile_path(path)
