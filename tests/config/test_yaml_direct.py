"""Plain YAML is built straight from the parser's events (fast, no node tree); the result and the
errors are those of the constructor path, which still reads everything unusual. Lines are found in
the text when asked: the line of every key and item is the one the constructor saw."""

from __future__ import annotations

import pytest
import yaml

from microgw.config.errors import ConfigError
from microgw.config.yamlfile import _make_loader, load_yaml_documents
from support.gateway import REPO

TEXTS = {
    "plain": "ports:\n  http: 80\napis:\n  - name: a\n    version: 1.10\n    mock: {json: {x: [1, 2.5, true, null]}}\n",
    "anchors and aliases": "base: &b {a: 1}\nother: *b\nlist: [*b, *b]\n",
    "several documents": "a: 1\n---\nb: [x, y]\n---\n",
    "keys of other types": "1: one\ntrue: yes\n2.5: x\nnull: z\n",
    "a merge key (constructor path)": "base: &b {a: 1}\nother:\n  <<: *b\n  c: 2\n",
    "a vendor tag (constructor path)": "security_settings:\n  auth_servers:\n    - !<authServerAlias>\n      id: x\n",
    "an empty document": "---\n---\na: 1\n",
    "dates and numbers": "when: 2024-01-01\nhex: 0x1F\nversion: 2.0\napiVersion: 1.0\n",
    "explicit tags": "version: !!float 1.10\nname: !!str 12\nn: !!int '7'\nquoted: '1.0'\nflag: !!bool yes\n",
    "merge keys listed (constructor path)": "a: &a {x: 1, y: 1}\nb: &b {x: 2, z: 2}\nc:\n  <<: [*a, *b]\n  w: 3\n",
    "aliases of scalars and keys": "k: &k name\nv: &v 12\nm: {*k : 1}\nlist: [*v, *k]\n",
    "nested lists and flow style": "a:\n- - 1\n  - [2, {b: c}]\n-\n  d: e\n",
}


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*prefix, index))


class Recorded:
    """The oracle: lines recorded by the constructor itself, by the identity of each container."""

    def __init__(self) -> None:
        self.lines: dict[int, dict] = {}
        self.keep: list = []

    def record(self, container, key, line) -> None:
        self.lines.setdefault(id(container), {})[key] = line
        self.keep.append(container)

    def line_of(self, root, parts):
        line, node = None, root
        for part in parts:
            known = self.lines.get(id(node))
            if not known or part not in known:
                break
            line = known[part]
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                break
        return line


def constructor_path(path):
    recorded = Recorded()
    base = _make_loader(str(path))

    class Loader(base):
        def construct_mapping(self, node, deep=False):
            mapping = super().construct_mapping(node, deep=deep)
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    recorded.record(mapping, self.construct_object(key_node), key_node.start_mark.line + 1)
            return mapping

        def construct_sequence(self, node, deep=False):
            seq = super().construct_sequence(node, deep=deep)
            for index, item in enumerate(node.value):
                recorded.record(seq, index, item.start_mark.line + 1)
            return seq

        def construct_yaml_map(self, node):  # built in two steps: the lines move to the final object
            data: dict = {}
            yield data
            value = self.construct_mapping(node)
            data.update(value)
            recorded.lines[id(data)] = recorded.lines.pop(id(value), {})
            recorded.keep.append(data)

        def construct_yaml_seq(self, node):
            data: list = []
            yield data
            value = self.construct_sequence(node)
            data.extend(value)
            recorded.lines[id(data)] = recorded.lines.pop(id(value), {})
            recorded.keep.append(data)

    Loader.add_constructor("tag:yaml.org,2002:map", Loader.construct_yaml_map)
    Loader.add_constructor("tag:yaml.org,2002:seq", Loader.construct_yaml_seq)
    docs = [d for d in yaml.load_all(path.read_text(), Loader=Loader) if d is not None]
    return docs, recorded


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_same_documents_and_lines_as_the_constructor(tmp_path, name):
    path = tmp_path / "c.yml"
    path.write_text(TEXTS[name])
    docs, lines = load_yaml_documents(path)
    expected, expected_lines = constructor_path(path)
    assert docs == expected
    for doc, other in zip(docs, expected):
        for parts in paths(doc):
            assert lines.line_of(doc, list(parts)) == expected_lines.line_of(other, list(parts)), parts


@pytest.mark.parametrize("path", sorted((REPO / "samples").rglob("*.yml")), ids=lambda p: p.name)
def test_samples_read_alike(path):
    docs, lines = load_yaml_documents(path)
    expected, expected_lines = constructor_path(path)
    assert docs == expected
    for doc, other in zip(docs, expected):
        assert all(lines.line_of(doc, list(p)) == expected_lines.line_of(other, list(p)) for p in paths(doc))


def test_aliases_give_one_object_as_before(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text(TEXTS["anchors and aliases"])
    (doc,), _ = load_yaml_documents(path)
    assert doc["other"] is doc["base"] and doc["list"][0] is doc["base"]


def test_a_key_written_twice_is_named_with_both_lines(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("ports:\n  http: 1\napis: []\nports: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_yaml_documents(path)
    problem = caught.value.problems[0]
    assert problem.line == 4 and "key 'ports' is written twice in one mapping (first on line 1)" in problem.message


def test_lines_are_found_in_the_text_again_after_a_release(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("ports:\n  http: 80\napis:\n  - name: a\n    version: '1'\n  - name: b\n")
    (doc,), lines = load_yaml_documents(path)
    assert lines.line_of(doc, ["apis", 1, "name"]) == 6
    lines.release()
    assert lines.line_of(doc, ["apis", 1, "name"]) == 6
    assert lines.line_of(doc, ["apis", 1, "missing"]) == 6  # the deepest part the text holds
    assert lines.line_of({}, ["apis"]) is None  # a document this file did not give


@pytest.mark.parametrize("text, message, line", [
    ("a: &x 1\nb: &x 2\n", "second occurrence", 2),
    ("a: *nowhere\n", "found undefined alias", 1),
    ("a: [1, 2\nb: 3\n", "invalid YAML", 2),
])
def test_what_the_event_path_leaves_fails_as_before(tmp_path, text, message, line):
    path = tmp_path / "c.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_yaml_documents(path)
    problem = caught.value.problems[0]
    assert message in str(problem) and problem.source == str(path) and problem.line == line


def test_equal_strings_are_one_object(tmp_path):
    """10,000 applications write the same keys and API names 10,000 times: kept once each."""
    path = tmp_path / "c.yml"
    path.write_text("apps:\n- {id: a, apis: [x/1]}\n- {id: b, apis: ['x/1']}\n")
    (doc,), _ = load_yaml_documents(path)
    first, second = doc["apps"]
    assert [k1 is k2 for k1, k2 in zip(first, second)] == [True, True]
    assert first["apis"][0] is second["apis"][0]
