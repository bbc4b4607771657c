import json

from hypothesis import given
from hypothesis import strategies as st

from exports.tabular import MAX_COLUMNS, columns_within_cap, flatten, keyed_by_ids, safe_cell


def test_nested_fields_deeper_than_three_levels_stay_json_text():
    row = flatten({"a": {"b": {"c": {"d": 1}}}})
    assert row == {"a.b.c": json.dumps({"d": 1})}


def test_objects_keyed_by_ids_stay_json_text_in_one_column():
    media_metadata = {"3k2f8x9yz1ab1": {"s": {"u": "x"}}, "9zz1q2w3e4r5t": {"s": {"u": "y"}}}
    row = flatten({"media_metadata": media_metadata, "preview": {"enabled": True}})
    assert row == {"media_metadata": json.dumps(media_metadata), "preview.enabled": True}


def test_field_names_are_not_mistaken_for_ids():
    assert not keyed_by_ids({"created_utc": 1, "title": "x", "url": "y", "over_18": False})
    assert keyed_by_ids({"1234567": 1, "7654321": 2})


def test_the_widest_fields_are_folded_until_the_row_fits():
    columns = [f"wide.{i}" for i in range(500)] + ["narrow.a", "narrow.b", "title"]
    assert columns_within_cap(columns) == frozenset({"wide"})
    assert columns_within_cap(["a", "b.c"]) == frozenset()


@given(st.text())
def test_no_cell_can_start_a_formula(text):
    cell = safe_cell(text)
    assert cell == text or cell == "'" + text
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(text)
        except ValueError:
            assert cell.startswith("'")


def test_numbers_stay_numbers():
    assert safe_cell("-12.5") == "-12.5"
    assert safe_cell("+3") == "+3"
    assert safe_cell(-4) == -4
    assert safe_cell("-") == "'-"
    assert MAX_COLUMNS == 400
