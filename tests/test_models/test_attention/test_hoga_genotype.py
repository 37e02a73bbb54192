"""Genotype: the published default, every accepted form, round trips and errors."""
import json
import re
from pathlib import Path

import pytest

from autola_mm.models import DEFAULT_GENOTYPE, PRIMITIVES, Genotype

PUBLISHED_FLAT = [['skip_connect', 0], ['sep_conv_3x3_spatial', 0], ['sep_conv_3x3', 1],
                  ['CBAM', 0], ['skip_connect', 2], ['sep_conv_3x3', 1], ['sep_conv_3x3', 0],
                  ['skip_connect', 1], ['sep_conv_3x3', 3], ['dil_conv_3x3', 2]]
PUBLISHED_TEXT = ('skip_connect:0 | sep_conv_3x3_spatial:0 sep_conv_3x3:1 | CBAM:0 '
                  'skip_connect:2 sep_conv_3x3:1 | sep_conv_3x3:0 skip_connect:1 '
                  'sep_conv_3x3:3 dil_conv_3x3:2')
THREE_GROUPS = 'SE:0 | CBAM:1 none:0 | SE_A_M:2 skip_connect:0 dil_conv_3x3_spatial:1'


def test_default_is_the_published_genotype():
    assert DEFAULT_GENOTYPE.edges == tuple((op, slot) for op, slot in PUBLISHED_FLAT)
    assert [len(node) for node in DEFAULT_GENOTYPE.nodes] == [1, 2, 3, 4]
    assert DEFAULT_GENOTYPE.num_edges == 10
    assert str(DEFAULT_GENOTYPE) == PUBLISHED_TEXT
    assert Genotype.build() is DEFAULT_GENOTYPE


def test_every_form_builds_the_same_genotype(tmp_path):
    path = tmp_path / 'searched' / 'genotype.json'
    DEFAULT_GENOTYPE.to_json(path, meta=dict(epoch=50))
    extensionless = tmp_path / 'searched' / 'genotype'
    extensionless.write_text(path.read_text())
    forms = [None, DEFAULT_GENOTYPE, PUBLISHED_FLAT, tuple(map(tuple, PUBLISHED_FLAT)),
             PUBLISHED_TEXT, PUBLISHED_TEXT.replace(' ', ', ').replace('|,', '|'), path,
             str(path), str(extensionless)]
    for form in forms:
        genotype = Genotype.build(form)
        assert genotype == DEFAULT_GENOTYPE and hash(genotype) == hash(DEFAULT_GENOTYPE)
    nested = [[tuple(e) for e in PUBLISHED_FLAT[a:b]] for a, b in ((0, 1), (1, 3), (3, 6),
                                                                  (6, 10))]
    assert Genotype(nested) == DEFAULT_GENOTYPE


def test_string_round_trip_for_three_groups():
    genotype = Genotype.build(THREE_GROUPS, groups=3)
    assert str(genotype) == THREE_GROUPS
    assert Genotype.parse(str(genotype)) == genotype
    assert repr(genotype) == f'Genotype({THREE_GROUPS!r})'
    assert genotype.num_edges == 6 and genotype.nodes[1] == (('CBAM', 1), ('none', 0))


def test_json_round_trip_carries_the_search_space(tmp_path):
    genotype = Genotype.build(THREE_GROUPS, groups=3)
    path = tmp_path / 'g.json'
    genotype.to_json(path, meta=dict(alpha=[[0.1] * 9] * 6))
    content = json.loads(path.read_text())
    assert content['format'] == 'autola_mm.genotype' and content['version'] == 1
    assert content['search_space'] == dict(primitives=list(PRIMITIVES), num_nodes=3)
    assert content['nodes'][2] == [['SE_A_M', 2], ['skip_connect', 0],
                                   ['dil_conv_3x3_spatial', 1]]
    assert Genotype.from_json(path) == genotype
    assert Genotype.build(path, groups=3) == genotype


def test_list_round_trip():
    genotype = Genotype.build(THREE_GROUPS, groups=3)
    assert Genotype.build([list(e) for e in genotype.edges], groups=3) == genotype
    assert Genotype(genotype.nodes) == genotype


def test_other_search_space_is_refused(tmp_path):
    path = tmp_path / 'other.json'
    DEFAULT_GENOTYPE.to_json(path)
    content = json.loads(path.read_text())
    content['search_space']['primitives'] = ['none', 'skip_connect', 'max_pool_3x3']
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match="another search space.*max_pool_3x3"):
        Genotype.from_json(path)
    content['search_space']['primitives'] = list(PRIMITIVES)
    content['search_space']['num_nodes'] = 3
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match='num_nodes=3 but holds 4 nodes'):
        Genotype.from_json(path)


@pytest.mark.parametrize('text', ['{"nodes": []}', 'not json'])
def test_foreign_json_is_refused(tmp_path, text):
    path = tmp_path / 'foreign.json'
    path.write_text(text)
    with pytest.raises(ValueError, match='foreign.json'):
        Genotype.from_json(path)


@pytest.mark.parametrize('name', ['genotype.json', 'genotype.jsno', 'genotype', ''])
def test_a_missing_file_is_not_found_not_a_parse_error(tmp_path, name):
    missing = str(tmp_path / 'nowhere' / name) if name else ''
    message = f'^genotype file not found: {re.escape(repr(missing))}'
    for spec in ((missing, Path(missing)) if name else (missing, )):
        with pytest.raises(FileNotFoundError, match=message):
            Genotype.build(spec)


def test_unknown_operation_is_a_key_error_listing_the_known_ones():
    with pytest.raises(KeyError, match="'sep_conv_5x5'.*none, skip_connect, sep_conv_3x3"):
        Genotype.build(PUBLISHED_TEXT.replace('dil_conv_3x3:2', 'sep_conv_5x5:2'))


@pytest.mark.parametrize('spec,groups,match', [
    (PUBLISHED_FLAT[:9], 4, 'has 9 edges; groups=4 needs 10'),
    (PUBLISHED_FLAT, 3, 'has 10 edges; groups=3 needs 6'),
    (PUBLISHED_TEXT, 3, 'has 4 nodes .10 edges.; groups=3 needs 3 nodes .6 edges.'),
    (THREE_GROUPS, 4, 'has 3 nodes .6 edges.; groups=4 needs 4 nodes .10 edges.'),
    ('skip_connect:0 | SE:0 | CBAM:0 SE:1 skip_connect:2', 4, 'node 2 has 1 edges'),
    ('skip_connect:0 | SE:0 CBAM:2', 2, 'slot 2 .* out of range for node 2: it reads slots 0..1'),
    ('skip_connect:0 | SE:1 CBAM:1', 2, r'node 2 reads slots \[1, 1\]'),
    ('skip_connect:0 | SE:0 CBAM', 2, "token 'CBAM'"),
    ('skip_connect:0 | SE:0 CBAM:-1', 2, "token 'CBAM:-1'"),
    ([('skip_connect', '0')], 1, "slot '0'"),
    ([('skip_connect', True)], 1, 'slot True'),
    ([('skip_connect', 0, 1)], 1, 'expected .op, slot.'),
    (['skip_connect'], 1, 'expected .op, slot.'),
    ([[('skip_connect', 0)]], 1, r"edge \[\('skip_connect', 0\)\] at node 1: expected .op, slot."),
    ('skip_connect:0 |', 2, 'node 2 has 0 edges'),
    (42, 4, 'genotype 42'),
    (None, 3, 'no default genotype for groups=3'),
    (None, 0, 'groups=0'),
])
def test_bad_genotypes_name_the_bad_value(spec, groups, match):
    with pytest.raises(ValueError, match=match):
        Genotype.build(spec, groups)
