"""Tests for playbooks.spec.yaml_loader: parsing with positions, refusals, and round trips."""

import random
import string
import textwrap

import pytest

from playbooks.spec.yaml_loader import SpecYAMLError, spec_parse_yaml, spec_to_yaml

SPEC_YAML = textwrap.dedent(
    """\
    name: Notes
    tools: [tools.studio.files.read]
    steps:
      - id: read
        tool: tools.studio.files.read
        args:
          path: notes.txt
      - id: summarise
        llm: {prompt: "Summarise {{ steps.read.output.content }}"}
    """
)


def parse_error(text: str) -> SpecYAMLError:
    with pytest.raises(SpecYAMLError) as raised:
        spec_parse_yaml(text)
    return raised.value


def test_parse_returns_the_data():
    spec, _positions = spec_parse_yaml(SPEC_YAML)
    assert spec["steps"][1] == {
        "id": "summarise",
        "llm": {"prompt": "Summarise {{ steps.read.output.content }}"},
    }


def test_positions_map_json_pointers_to_one_based_line_and_column():
    _spec, positions = spec_parse_yaml(SPEC_YAML)
    assert positions[""] == (1, 1)
    assert positions["/name"] == (1, 7)
    assert positions["/tools/0"] == (2, 9)
    assert positions["/steps/0"] == (4, 5)
    assert positions["/steps/0/tool"] == (5, 11)
    assert positions["/steps/0/args/path"] == (7, 13)
    assert positions["/steps/1/llm/prompt"] == (9, 19)


def test_positions_escape_pointer_tokens_as_rfc_6901_says():
    _spec, positions = spec_parse_yaml("outputs:\n  a/b: 1\n  m~n: 2\n")
    assert positions["/outputs/a~1b"] == (2, 8)
    assert positions["/outputs/m~0n"] == (3, 8)


def test_a_bad_indent_reports_its_line_and_column():
    error = parse_error("name: x\nsteps:\n  - id: a\n   tool: t\n")
    assert (error.line, error.column) == (4, 4)
    assert "expected <block end>" in error.message


def test_an_unclosed_flow_sequence_reports_where_it_broke():
    error = parse_error("name: [a, b\nsteps: []\n")
    assert (error.line, error.column) == (2, 6)
    assert "flow sequence" in error.message


def test_a_tab_indent_is_reported_at_the_tab():
    error = parse_error("name: x\n\tsteps: 1\n")
    assert (error.line, error.column) == (2, 1)
    assert "'\\t'" in error.message


def test_the_error_text_names_the_line_and_column():
    assert str(parse_error("a: [\n")).endswith("(line 2, column 1)")


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_the_top_level_must_be_a_mapping(text):
    error = parse_error(text)
    assert (error.line, error.column, error.message) == (
        1,
        1,
        "the spec must be a mapping of keys to values",
    )


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_an_empty_document_is_refused(text):
    assert parse_error(text).message == "the spec is empty"


def test_aliases_are_refused_where_the_anchor_is():
    error = parse_error("name: x\nsteps: &s [1]\nagain: *s\n")
    assert (error.line, error.column) == (2, 8)
    assert "anchors and aliases" in error.message


def test_a_billion_laughs_document_is_refused_without_expanding_it():
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
    assert "anchors and aliases" in parse_error("\n".join(lines)).message


def test_a_document_over_one_mebibyte_is_refused():
    error = parse_error("name: " + "x" * (1024 * 1024))
    assert error.message == "the spec is larger than 1 MiB"
    assert error.line is None


def test_nesting_deeper_than_one_hundred_levels_is_refused():
    error = parse_error("a: " + "[" * 150 + "]" * 150 + "\n")
    assert "nested more than 100 levels" in error.message
    assert error.line == 1


def test_duplicate_keys_are_refused_at_the_second_one():
    error = parse_error("name: a\nsteps: []\nname: b\n")
    assert (error.line, error.column, error.message) == (3, 1, "duplicate key 'name'")


@pytest.mark.parametrize(
    "text",
    ["a: !!binary aGVsbG8=\n", "a: !!set {x: null}\n", "a: !!python/object:os.system x\n"],
)
def test_non_json_tags_are_refused(text):
    assert parse_error(text).line == 1


def test_a_control_character_is_reported_with_its_position():
    error = parse_error("name: x\nb: \x07\n")
    assert (error.line, error.column) == (2, 4)


def test_integers_too_long_to_read_are_an_error_not_a_crash():
    assert "cannot be read" in parse_error("a: " + "9" * 5000 + "\n").message


def test_non_string_input_is_refused():
    assert parse_error(None).message == "the spec must be YAML text"  # type: ignore[arg-type]


def test_dates_stay_strings_and_keys_stay_as_written():
    spec, _positions = spec_parse_yaml("when: 2024-01-01\noutputs: {on: yes, 200: ok, null: 1}\n")
    assert spec == {"when": "2024-01-01", "outputs": {"on": True, "200": "ok", "null": 1}}


def test_complex_keys_are_refused():
    error = parse_error("? [a, b]\n: 1\n")
    assert (error.line, error.message) == (1, "mapping keys must be plain text")


def test_round_trip_gives_an_equal_spec():
    spec, _positions = spec_parse_yaml(SPEC_YAML)
    assert spec_parse_yaml(spec_to_yaml(spec))[0] == spec


def test_to_yaml_keeps_key_order_and_writes_multi_line_text_as_a_block():
    text = spec_to_yaml({"name": "N", "steps": [{"id": "a", "llm": {"prompt": "line 1\nline 2"}}]})
    assert text.splitlines()[0] == "name: N"
    assert "prompt: |-\n" in text


def test_to_yaml_never_writes_anchors_for_shared_values():
    shared = {"type": "string"}
    spec = {"name": "N", "inputs": {"properties": {"a": shared, "b": shared}}, "steps": []}
    text = spec_to_yaml(spec)
    assert "&" not in text
    assert spec_parse_yaml(text)[0] == spec


def _random_text(rng: random.Random) -> str:
    alphabet = string.printable + "é☃\u2028\u2029\x85\ufeff~/"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))


def _random_value(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 3 or roll < 0.4:
        tricky = ["on", "null", "~", "2024-01-01", "0x10", "1e3", "- x", "a: b", "#", " lead"]
        scalars = [_random_text(rng), rng.randint(-(10**12), 10**12), rng.random(), True, None]
        return rng.choice(tricky + scalars + ["a\nb\n", "x\n\n", " \n x", "tab\tin"])
    if roll < 0.7:
        return {_random_text(rng): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]


def test_round_trip_holds_for_random_json_values():
    rng = random.Random(20240601)
    for _ in range(300):
        value = {_random_text(rng): _random_value(rng) for _ in range(rng.randint(1, 4))}
        assert spec_parse_yaml(spec_to_yaml(value))[0] == value
