"""Plain YAML is converted straight from the node tree (fast); the result, the line of every key and
item, and the errors are those of the constructor path, which still reads everything unusual."""

from __future__ import annotations

import pytest
import yaml

from microgw.config.errors import ConfigError
from microgw.config.yamlfile import LineMap, _make_loader, load_yaml_documents
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
}


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*prefix, index))


def constructor_path(path):
    lines = LineMap()
    docs = [d for d in yaml.load_all(path.read_text(), Loader=_make_loader(str(path), lines)) if d is not None]
    return docs, lines


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
