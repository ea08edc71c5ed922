r"""The port of InfluxDB 3's line-protocol parser (tests/support/lp3_parser.py) passes the crate's own tests.

Each case cites the test it comes from: influxdata/influxdb
`core/influxdb_line_protocol/src/lib.rs` at tag v3.10.1, by function name and line
(`L1543` = the `#[test]` function starting at line 1543). Tests of Rust-only API
(`EscapedStr`, `Display`, hashing) are left out; every parsing test is here.
"""

from __future__ import annotations

import pytest

from .support.lp3_parser import (
    LIMIT_1M,
    LIMIT_64K,
    LineProtocolError,
    ParsedLine,
    Value,
    parse_lines,
    parse_part,
    split_lines,
    trim_leading,
    validation_error,
    would_store,
)


def _ok(text: str, limit: int = LIMIT_64K) -> list[ParsedLine]:
    results = parse_lines(text, limit)
    assert all(isinstance(result, ParsedLine) for result in results), results
    return results  # type: ignore[return-value]


def _error(text: str, limit: int = LIMIT_64K) -> LineProtocolError:
    (result,) = [result for result in parse_lines(text, limit) if isinstance(result, LineProtocolError)]
    return result


# better_error_messages, L1227: every message, as the crate displays it.
@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("measurement", "Expected at least one space character, got end of input"),
        (",", "Invalid measurement was provided"),
        ("J,#", "Tag set malformed: could not find equals sign in `#`"),
        ("J," + "a" * 200, "Tag set malformed: could not find equals sign in `aaaaaaaaaa...`"),
        ("J,", "Expected tag key, got end of input"),
        ("testmeasure, bar=1i", "Expected tag key, got ` bar=1i`"),
        ("testmeasure, " + "b" * 200 + "=1i", "Expected tag key, got ` bbbbbbbbb...`"),
        ("0,,=", "Expected tag value, got end of input"),
        ("testmeasure,foo\\=\\,baz= bar=1i", "Expected tag value, got ` bar=1i`"),
        ("testmeasure,foo\\=\\,baz= bar=" + "1" * 100 + "i", "Expected tag value, got ` bar=11111...`"),
        ("testmeasure,foo=,baz= bar=1i", "Expected tag value, got `,baz= bar=...`"),
        (
            "metrics,bananas=,platanos=great value=1.000000 1725629157696678000",
            "Expected tag value, got `,platanos=...`",
        ),
        (
            "metrics,metrics_name=kube_node_spec_taint,node=10.0.213.170,itsEmpty=,effect=NoSchedule"
            " value=1.000000 1725628131752524000",
            "Expected tag value, got `,effect=No...`",
        ),
        ("testmeasure,foo= sed=1i", "Expected tag value, got ` sed=1i`"),
        ("testmeasure,foo=f bar=1i,baz=", "Could not parse entire line. Found trailing content: `baz=`"),
        (
            "testmeasure,foo=f bar=1i,ba" + "z" * 100 + "=",
            "Could not parse entire line. Found trailing content: `bazzzzzzzz...`",
        ),
        ("\x1b# /", "No fields were provided"),
        (":\x14\\", "Measurements, tag keys and values, and field keys may not end with a backslash"),
        (
            "testmeasure field=3.0 " + "1" + "8" * 71,
            "Unable to parse timestamp value `" + "1" + "8" * 71 + "`",
        ),
        (
            "testmeasure field=66666666666666666666666666666666666666666666668i",
            "Unable to parse integer value `66666666666666666666666666666666666666666666668`",
        ),
    ],
)
def test_error_messages_match_the_crate(line: str, message: str) -> None:
    assert str(_error(line)) == message


def test_only_the_bad_line_of_a_body_errs() -> None:
    # better_error_messages, L1227 (last case)
    body = (
        "goodline,tag1=one,tag2=2 value=1 123\n        badline,\n"
        "        anothergoodline,tag3=3,tag4=4 value=67 1234"
    )
    errors = [str(result) for result in parse_lines(body) if isinstance(result, LineProtocolError)]
    assert errors == ["Expected tag key, got end of input"]
    # parse_lines_returns_all_lines_even_when_a_line_errors, L1404
    results = parse_lines(",tag1=1,tag2=2 value=1 123\nm,tag1=one,tag2=2 value=1 123")
    assert isinstance(results[0], LineProtocolError)
    assert results[0].kind == "MeasurementValueInvalid"
    assert isinstance(results[1], ParsedLine)


def test_trim_leading_drops_whitespace_and_comment_lines() -> None:
    # test_trim_leading, L1471
    assert trim_leading("") == ""
    assert trim_leading("  a b c ") == "a b c "
    assert trim_leading("  a ") == "a "
    assert trim_leading("\n  a ") == "a "
    assert trim_leading("\t  a ") == "a "
    assert trim_leading("  #comment\n a ") == "a "
    assert trim_leading("#comment\tcomment") == ""
    assert trim_leading("#comment\n #comment2\n#comment\na") == "a"


@pytest.mark.parametrize(
    ("body", "lines"),
    [  # test_split_lines, L1485
        ("", [""]),
        ("foo", ["foo"]),
        ("foo\nbar", ["foo", "bar"]),
        ("foo\nbar\nbaz", ["foo", "bar", "baz"]),
        ("foo\\nbar\nbaz", ["foo\\nbar", "baz"]),
        ("meas tag=val field=1\nnext\n", ["meas tag=val field=1", "next", ""]),
        ('meas tag=val field="\nval"\nnext', ['meas tag=val field="\nval"', "next"]),
        ('meas tag=val field=\\"\nval"\nnext', ['meas tag=val field=\\"', 'val"', "next"]),
        ('meas tag=val field=1,field="\nval"\nnext', ['meas tag=val field=1,field="\nval"', "next"]),
        ('meas tag=val field=1,field=\\"\nval"\nnext', ['meas tag=val field=1,field=\\"', 'val"', "next"]),
    ],
)
def test_lines_split_on_newlines_outside_quoted_strings(body: str, lines: list[str]) -> None:
    assert split_lines(body) == lines


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("testmeasure,foo= bar=1i", "ExpectedTagValue"),  # parse_tag_no_value, L1543
        ("testmeasure, bar=1i", "ExpectedTagKey"),  # parse_no_tagset, L1550
        (",tag1=1,tag2=2 value=1 123", "MeasurementValueInvalid"),  # parse_no_measurement, L1556
        ("field=1 1234", "FieldSetMissing"),  # parse_no_measurement, L1556
        ("\0 field=1 1234", "MeasurementValueInvalid"),  # parse_null_measurement, L1578
        ("\0,tag1=1,tag2=2 value=1 123", "MeasurementValueInvalid"),  # parse_null_measurement, L1578
        ("foo 1234", "FieldSetMissing"),  # parse_no_fields, L1599
        ("m,tag1=one,tag2=2 value=\0 123", "FieldSetMissing"),  # parse_null_in_field_value, L1606
        ("m0 field=-1u 99", "CannotParseEntireLine"),  # parse_negative_uinteger, L1831
        ("m0 field=99999999999999999999999999999999i 99", "IntegerValueInvalid"),  # L1932
        ("m0 field=99999999999999999999999999999999u 99", "UIntegerValueInvalid"),  # L1939
        ("m0 field=1i 99999999999999999999999999999999", "TimestampValueInvalid"),  # L2041
        # parse_scientific_float, L1838 (negative cases)
        ("m0 field=-1.234456e 1615869152385000000", "CannotParseEntireLine"),
        ("m0 field=-1.234456e+ 1615869152385000000", "CannotParseEntireLine"),
        ("m0 field=-1.234456E 1615869152385000000", "CannotParseEntireLine"),
        ("m0 field=-1.234456E+ 1615869152385000000", "CannotParseEntireLine"),
        ("m0 field=-1.234456E-", "CannotParseEntireLine"),
    ],
)
def test_refused_lines_fail_as_in_the_crate(line: str, kind: str) -> None:
    assert _error(line).kind == kind


def test_measurement_may_hold_equals_and_nulls_elsewhere_are_kept() -> None:
    # parse_measurement_with_eq, L1567
    assert _ok("tag1=1 field=1 1234")[0].measurement == "tag1=1"
    assert _ok("tag1=1,tag2=2 value=1 123")[0].tags == [("tag2", "2")]
    # parse_where_nulls_accepted, L1587
    body = (
        "m,tag\x001=one,tag2=2 value=1 123\n            m,tag1=o\0ne,tag2=2 value=1 123\n"
        "            m,tag1=one,tag2=\0 value=1 123\n            m,tag1=one,tag2=2 val\0ue=1 123\n"
        '            m,tag1=one,tag2=2 value="v\0" 123'
    )
    assert len(_ok(body)) == 5


@pytest.mark.parametrize(
    ("line", "fields", "timestamp"),
    [
        ("foo asdf=23i 1234", [("asdf", Value("i64", 23))], 1234),  # parse_single_field_integer, L1612
        ("foo asdf=23u 1234", [("asdf", Value("u64", 23))], 1234),  # parse_single_field_unteger, L1623
        ("foo asdf=44 546", [("asdf", Value("f64", 44.0))], 546),  # ..._float_no_decimal, L1634
        ("foo asdf=3.74 123", [("asdf", Value("f64", 3.74))], 123),  # ..._float_with_decimal, L1648
        ('foo asdf="the string value" 1234', [("asdf", Value("string", "the string value"))], 1234),  # L1662
        ("foo asdf=true 1234", [("asdf", Value("bool", True))], 1234),  # parse_single_field_bool, L1673
        ("foo asdf=23i,bar=5i 1234", [("asdf", Value("i64", 23)), ("bar", Value("i64", 5))], 1234),  # L1744
        ("foo asdf=23u,bar=5u 1234", [("asdf", Value("u64", 23)), ("bar", Value("u64", 5))], 1234),  # L1759
        (
            "foo asdf=23.1,bar=5 1234",
            [("asdf", Value("f64", 23.1)), ("bar", Value("f64", 5.0))],
            1234,
        ),  # L1774
        (  # parse_mixed_field_types, L1795
            'foo asdf=23.1,bar=-5i,qux=9u,baz="the string",frab=false 1234',
            [
                ("asdf", Value("f64", 23.1)),
                ("bar", Value("i64", -5)),
                ("qux", Value("u64", 9)),
                ("baz", Value("string", "the string")),
                ("frab", Value("bool", False)),
            ],
            1234,
        ),
        ("m0 field=-1i 99", [("field", Value("i64", -1))], 99),  # parse_negative_integer, L1822
        ("m0 field2=-1 99", [("field2", Value("f64", -1.0))], 99),  # parse_negative_float, L1920
        ("foo value1=1i -123", [("value1", Value("i64", 1))], -123),  # parse_negative_timestamp, L2030
        ("foo,tag0=value1 asdf=23.1,bar=5i", [("asdf", Value("f64", 23.1)), ("bar", Value("i64", 5))], None),
        ("  measurement  a=1i  123  ", [("a", Value("i64", 1))], 123),  # L2064
        ("foo,tag=val value1=1i 123\n", [("value1", Value("i64", 1))], 123),  # L2016
    ],
)
def test_fields_and_timestamps_parse_as_in_the_crate(
    line: str, fields: list[tuple[str, Value]], timestamp: int | None
) -> None:
    # parse_no_time (L2303) is the case without a timestamp
    (parsed,) = _ok(line)
    assert parsed.fields == fields
    assert parsed.timestamp == timestamp


@pytest.mark.parametrize(
    ("line", "number"),
    [  # parse_scientific_float, L1838 (positive cases)
        ("m0 field=-1.234456e+06 1615869152385000000", -1.234456e06),
        ("m0 field=-1.234456E+3 1615869152385000000", -1.234456e3),
        ("m0 field=1.234456e+02 1615869152385000000", 1.234456e02),
        ("m0 field=1.234456E+16 1615869152385000000", 1.234456e16),
        ("m0 field=1.234456E-16", 1.234456e-16),
        ("m0 field=1.234456e-03", 1.234456e-03),
        ("m0 field=1.234456e-0", 1.234456),
        ("m0 field=1e-0", 1.0),
        ("m0 field=-1e-0", -1.0),
        ("m0 field=-1.234456e06 1615869152385000000", -1.234456e06),
        ("m0 field=1.234456e06 1615869152385000000", 1.234456e06),
        ("m0 field=-1.234456E06 1615869152385000000", -1.234456e06),
        ("m0 field=1.234456E06 1615869152385000000", 1.234456e06),
        # parse_out_of_range_float, L1946
        (f"m0 field={'9' * 200}.{'9' * 200} 99", 1e200),
        (f"m0 field={'9' * 1000}.{'9' * 1000} 99", float("inf")),
    ],
)
def test_floats_parse_as_in_the_crate(line: str, number: float) -> None:
    (parsed,) = _ok(line)
    assert parsed.fields[0][1].kind == "f64"
    assert parsed.fields[0][1].value == pytest.approx(number, rel=1e-6)


@pytest.mark.parametrize(
    ("quoted", "value"),
    [  # parse_string_values, L1684
        ('""', ""),
        ('"str val"', "str val"),
        ('"The \\"string\\" val"', 'The "string" val'),
        ('"The \\"string w/ single double quote"', 'The "string w/ single double quote'),
        ('"too hot/cold"', "too hot/cold"),
        ('"too hot\\cold"', "too hot\\cold"),
        ('"too hot\\\\cold"', "too hot\\cold"),
        ('"too hot\\\\\\cold"', "too hot\\\\cold"),
        ('"too hot\\\\\\\\cold"', "too hot\\\\cold"),
        ('"too hot\\\\\\\\\\cold"', "too hot\\\\\\cold"),
        ('"too hot\\\\\\\\\\\\cold"', "too hot\\\\\\cold"),
    ],
)
def test_string_values_unescape_as_in_the_crate(quoted: str, value: str) -> None:
    (parsed,) = _ok(f"foo asdf={quoted}")
    assert parsed.tags is None
    assert parsed.fields == [("asdf", Value("string", value))]


@pytest.mark.parametrize(
    ("text", "value"),
    [  # parse_bool_values, L1717
        *((spelling, True) for spelling in ("t", "T", "true", "True", "TRUE")),
        *((spelling, False) for spelling in ("f", "F", "false", "False", "FALSE")),
    ],
)
def test_booleans_parse_as_in_the_crate(text: str, value: bool) -> None:
    assert _ok(f"foo asdf={text}")[0].fields == [("asdf", Value("bool", value))]


def test_tags_lines_blanks_and_comments_parse_as_in_the_crate() -> None:
    # parse_tag_set_included_in_series, L1966
    assert _ok("foo,tag1=1,tag2=2 value=1 123")[0].tags == [("tag1", "1"), ("tag2", "2")]
    # parse_multiple_lines_become_multiple_points, L1982; ..._measurements_..., L1999
    lines = _ok("foo value1=1i 123\nbar value2=2i 123")
    assert [(line.measurement, line.fields[0][0]) for line in lines] == [("foo", "value1"), ("bar", "value2")]
    assert _ok("") == []  # parse_empty, L1535
    assert _ok("\n\n\n") == []  # parse_blank_lines_are_ignored, L2048
    assert _ok("# comment") == []  # parse_commented_lines_are_ignored, L2056


def test_parsing_goes_on_after_a_bad_line() -> None:
    # parse_advance_after_error, L2324
    results = parse_lines("foo,tag0=value1 asdf=23.1.22,jkl=4\nfoo,tag0=value2 asdf=22.1,jkl=5")
    assert isinstance(results[0], LineProtocolError)
    assert str(results[0]) == "Could not parse entire line. Found trailing content: `.22,jkl=4`"
    assert isinstance(results[1], ParsedLine)
    assert results[1].tags == [("tag0", "value2")]
    assert results[1].fields == [("asdf", Value("f64", 22.1)), ("jkl", Value("f64", 5.0))]


@pytest.mark.parametrize("part", ["measurement", "tag_key", "tag_value", "field_key"])
@pytest.mark.parametrize(
    ("text", "name", "rest"),
    [  # <part>_allows_escaping_* / _allows_backslash_with_unknown_escape / _literal_newline (L2088-L2300)
        ("wea\\,ther", "wea,ther", ""),
        ("wea\\ ther", "wea ther", ""),
        ("\\\\wea\\\\ther", "\\wea\\ther", ""),
        ("\\wea\\ther", "\\wea\\ther", ""),
        ("weat\\\nher", "weat\\\nher", ""),
        ("weat\nher", "weat", "\nher"),
    ],
)
def test_names_unescape_as_in_the_crate(part: str, text: str, name: str, rest: str) -> None:
    assert parse_part(part, text) == (rest, name)


@pytest.mark.parametrize("part", ["tag_key", "tag_value", "field_key"])
def test_keys_and_tag_values_unescape_equals(part: str) -> None:
    # tag_key_allows_escaping_equal L2143, tag_value_... L2198, field_key_... L2253
    assert parse_part(part, "wea\\=ther") == ("", "wea=ther")


@pytest.mark.parametrize("part", ["measurement", "tag_key", "tag_value", "field_key"])
def test_names_ending_in_a_backslash_are_refused(part: str) -> None:
    # <part>_disallows_ending_in_backslash (L2130, L2185, L2240, L2295)
    with pytest.raises(LineProtocolError) as refused:
        parse_part(part, "weather\\")
    assert refused.value.kind == "EndsWithBackslash"


@pytest.mark.parametrize("limit", [LIMIT_64K, LIMIT_1M])
@pytest.mark.parametrize(
    "template",
    [
        "foo,tag1=normal,tag={} value=1i 123",  # test_large_tag_value, L2575 / _with_exact_maximum, L2584
        'foo value="{}" 123',  # test_large_field_value, L2628 / _with_exact_maximum, L2638
        "{} value=1i 123",  # test_large_measurement_name, L2666 / _exact_maximum_length, L2674
        "foo,{}=a value=1i 123",  # test_large_tag_name, L2686 / _exact_maximum_length, L2694
        "foo {}=1i 123",  # test_large_value_name, L2707 / _exact_maximum_length, L2715
    ],
)
def test_strings_and_names_up_to_the_limit_pass_one_byte_more_is_refused(template: str, limit: int) -> None:
    assert len(_ok(template.format("a" * limit), limit)) == 1
    assert _error(template.format("a" * (limit + 1)), limit).kind == "FieldStringValueTooLarge"


def test_one_oversized_line_of_a_body_is_refused_alone() -> None:
    # test_large_tag_value_in_one_line_of_multiple_line_protocol, L2599 (shortened to 3 lines)
    body = "\n".join(
        [
            "foo,tag1=very_long_value_is_okay,tag2=bar value=1i 123",
            f"foo,tag1={'a' * (LIMIT_64K + 1)}, tag2=bar value=7i 123",
            "foo,tag1=very_long_value_is_okay,tag2=bar value=8i 123",
        ]
    )
    kinds = [getattr(result, "kind", None) for result in parse_lines(body, LIMIT_64K)]
    assert kinds == [None, "FieldStringValueTooLarge", None]


def test_canonical_escapes_round_trip() -> None:
    # test_many_canonical_escape, L2728 (the first parse)
    (parsed,) = _ok("bananas,tag1=\\\\\\\\\\\\0 test=42i")
    assert parsed.tags == [("tag1", "\\\\\\0")]


# What the write validator refuses of what the parser takes
# (influxdb3_write/src/write_buffer/validator.rs v3.10.1 lines 248-259; catalog update.rs line 1935).


def test_a_field_key_twice_is_refused_by_the_validator() -> None:
    (parsed,) = _ok("m a=1,a=2 1")
    assert validation_error(parsed) == "invalid line protocol - multiple instances of 'a' field found"
    (escaped_twice,) = _ok("m a\\ b=1,a\\ b=2 1")
    assert validation_error(escaped_twice) is not None
    with pytest.raises(AssertionError, match="multiple instances"):
        would_store("m a=1,a=2 1\n")


def test_a_name_that_is_tag_and_field_or_time_is_refused_by_the_validator() -> None:
    (both,) = _ok("m,a=x a=1 1")
    assert validation_error(both) is not None
    (time_tag,) = _ok("m,time=x a=1 1")
    assert validation_error(time_tag) is not None
    (fine,) = _ok("m,b=x a=1 1")
    assert validation_error(fine) is None
    assert would_store("m,b=x a=1 1\n") == [fine]
