r"""InfluxDB 3's line-protocol parser, ported to Python: what 3.x reads from a line we write.

A port of the nom parser in influxdata/influxdb `core/influxdb_line_protocol/src/lib.rs`
at v3.10.1 (identical at v3.9.0; earlier 3.x releases took the crate from the
influxdb3_core repository at a pinned revision, which this mirror does not hold). Each
function is named after the Rust function it ports, with the lines it comes from, and
keeps its quirks: a tab ends every name, NUL ends a measurement, a backslash before a
character that needs no escape stays, a name that ends with a backslash is refused, a line
that starts with `#` is a comment, tag keys may hold commas.

`would_store` adds what the write validator refuses among lines the parser accepts
(`influxdb3_write/src/write_buffer/validator.rs` v3.10.1 lines 191-262 and the catalog's
`column_or_create`, `influxdb3_catalog/src/catalog/versions/v2/update.rs` v3.10.1 line 1935).
A test fixture: clarity over speed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

# lib.rs v3.10.1 lines 104-111: 64 KiB, 1 MiB with the `large-strings` feature (3.9 and later).
LIMIT_64K = 65_536
LIMIT_1M = 1_048_576
_CONTEXT_CHARS = 10  # lib.rs MAX_ERROR_CONTEXT_CHARS


def _truncate(text: str) -> str:
    """lib.rs `maybe_truncate_context` (lines 116-128): bytes are compared, chars kept."""
    return f"{text[:_CONTEXT_CHARS]}..." if len(text.encode()) > _CONTEXT_CHARS else text


class LineProtocolError(Exception):
    """lib.rs `enum Error` (lines 130-236): `kind` is the variant, str() its display text."""

    def __init__(self, kind: str, message: str, context: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.context = context  # the `context(...)` of nom, for `Context` errors


def _error(kind: str, **values: str) -> LineProtocolError:
    got = values.get("input", "")
    shown = f"`{_truncate(got)}`" if got else "end of input"
    messages = {
        "MeasurementValueInvalid": "Invalid measurement was provided",
        "FieldSetMissing": "No fields were provided",
        "EndsWithBackslash": (
            "Measurements, tag keys and values, and field keys may not end with a backslash"
        ),
        "CannotParseEntireLine": f"Could not parse entire line. Found trailing content: `{_truncate(got)}`",
        "TagSetMalformed": "Tag set malformed",
        "TagSetMalformedWithContext": (
            f"Tag set malformed: could not find {values.get('context')} in `{_truncate(got)}`"
        ),
        "ExpectedSpace": "Expected at least one space character, got "
        + (f"`{got}`" if got else "end of input"),
        "ExpectedTagKey": f"Expected tag key, got {shown}",
        "ExpectedTagValue": f"Expected tag value, got {shown}",
        "IntegerValueInvalid": f"Unable to parse integer value `{values.get('value')}`",
        "UIntegerValueInvalid": f"Unable to parse unsigned integer value `{values.get('value')}`",
        "TimestampValueInvalid": f"Unable to parse timestamp value `{values.get('value')}`",
        "GenericParsingError": "A generic parsing error occurred",
        "Context": f"Expected {values.get('context')}",
    }
    if kind == "FieldStringValueTooLarge":
        large = values.get("limit") == str(LIMIT_1M)
        return LineProtocolError(kind, f"String is greater than {'1MB' if large else '64KB'}")
    return LineProtocolError(kind, messages[kind], values.get("context"))


class _Fail(Exception):
    """A nom error: `fatal` is nom's `Failure` (no alternative is tried), else `Error`."""

    def __init__(self, error: LineProtocolError, *, fatal: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.fatal = fatal


@dataclass(frozen=True, slots=True)
class Value:
    """lib.rs `FieldValue`: kind is "i64", "u64", "f64", "string" or "bool"."""

    kind: str
    value: int | float | str | bool


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """lib.rs `ParsedLine`: names unescaped, tags None when the line has none."""

    measurement: str
    tags: list[tuple[str, str]] | None
    fields: list[tuple[str, Value]]
    timestamp: int | None


type _Result[T] = tuple[str, T]

_WHITESPACE = " \t\n"  # lib.rs is_whitespace_boundary_char (line 946)


def _digits(text: str) -> int:
    """How many ASCII digits `text` starts with (nom `digit1`)."""
    count = 0
    while count < len(text) and "0" <= text[count] <= "9":
        count += 1
    return count


class Parser:
    """The parser, with the string limit of a release (64 KiB up to 3.8, 1 MiB from 3.9)."""

    def __init__(self, string_limit: int = LIMIT_1M) -> None:
        self.limit = string_limit

    # lib.rs lines 570-605
    def parse_lines(self, text: str) -> Iterator[ParsedLine | LineProtocolError]:
        """Every line's parse, or its error, in order; comments and blank lines give nothing."""
        for line in split_lines(text):
            rest = trim_leading(line)
            if not rest:
                continue
            try:
                remaining, parsed = self._parse_line(rest)
            except _Fail as failure:
                yield failure.error
                continue
            if remaining:
                yield _error("CannotParseEntireLine", input=remaining)
            else:
                yield parsed

    # lib.rs lines 671-683
    def _parse_line(self, i: str) -> _Result[ParsedLine]:
        i, (measurement, tags) = self._series(i)
        i = _whitespace(i)
        i, fields = self._field_set(i)
        timestamp = None
        try:  # opt(preceded(whitespace, terminated(timestamp, opt(whitespace))))
            after, timestamp = _timestamp(_whitespace(i))
            i = after.lstrip(" ")
        except _Fail as failure:
            if failure.fatal:
                raise
        return i, ParsedLine(measurement, tags, fields, timestamp)

    # lib.rs lines 685-728
    def _series(self, i: str) -> _Result[tuple[str, list[tuple[str, str]] | None]]:
        i, measurement = self._measurement(i)
        if not i.startswith(","):
            return i, (measurement, None)
        remainder = i[1:]
        try:
            i, tags = self._tag_set(remainder)
        except _Fail as failure:
            if not failure.fatal:
                raise _Fail(_error("TagSetMalformed"), fatal=True) from None
            if failure.error.kind == "Context":
                context = str(failure.error.context)
                raise _Fail(
                    _error("TagSetMalformedWithContext", input=remainder, context=context), fatal=True
                ) from None
            raise
        if not tags:
            raise _Fail(_error("TagSetMalformed"), fatal=False)
        return i, (measurement, tags)

    # lib.rs lines 730-745
    def _measurement(self, i: str) -> _Result[str]:
        try:
            return self._escape_or_fallback(i, lambda c: c not in _WHITESPACE and c not in "\0,\\", ", \\")
        except _Fail as failure:
            if failure.fatal:
                raise
            raise _Fail(_error("MeasurementValueInvalid"), fatal=False) from None

    # lib.rs lines 747-754: every part of a tag is cut (an error there is a Failure)
    def _tag_set(self, i: str) -> _Result[list[tuple[str, str]]]:
        def one_tag(i: str) -> _Result[tuple[str, str]]:
            i, key = _cut(self._tag_key, i)
            if not i.startswith("="):  # context("equals sign", cut(tag("=")))
                raise _Fail(_error("Context", context="equals sign"), fatal=True)
            i, value = _cut(self._tag_value, i[1:])
            return i, (key, value)

        return _separated_list(i, one_tag)

    # lib.rs lines 756-767
    def _tag_key(self, i: str) -> _Result[str]:
        try:
            return self._escape_or_fallback(i, lambda c: c not in _WHITESPACE and c not in "=\\", "\\,= ")
        except _Fail as failure:
            if failure.fatal:
                raise
            raise _Fail(_error("ExpectedTagKey", input=i), fatal=False) from None

    # lib.rs lines 769-780
    def _tag_value(self, i: str) -> _Result[str]:
        try:
            return self._escape_or_fallback(i, lambda c: c not in _WHITESPACE and c not in ",\\", "\\,= ")
        except _Fail as failure:
            if failure.fatal:
                raise
            raise _Fail(_error("ExpectedTagValue", input=i), fatal=False) from None

    # lib.rs lines 782-790
    def _field_set(self, i: str) -> _Result[list[tuple[str, Value]]]:
        try:
            rest, first = self._one_field(i)
        except _Fail as failure:
            if failure.fatal:
                raise
            raise _Fail(_error("FieldSetMissing"), fatal=False) from None
        if not rest.startswith(","):
            return rest, [first]
        # parameterized_separated_list1 hands what follows the comma to the list, which
        # starts with a field: a trailing comma is consumed.
        rest, others = _separated_list(rest[1:], self._one_field)
        return rest, [first, *others]

    def _one_field(self, i: str) -> _Result[tuple[str, Value]]:
        i, key = self._escape_or_fallback(i, lambda c: c not in _WHITESPACE and c not in "=\\", "\\,= ")
        if not i.startswith("="):
            raise _Fail(_error("GenericParsingError"), fatal=False)
        i, value = self._field_value(i[1:])
        return i, (key, value)

    # lib.rs lines 798-806: alt((int, uint, float, string, bool))
    def _field_value(self, i: str) -> _Result[Value]:
        for parse in (_integer, _uinteger, _float, self._string, _boolean):
            try:
                return parse(i)
            except _Fail as failure:
                if failure.fatal:
                    raise
        raise _Fail(_error("GenericParsingError"), fatal=False)

    # lib.rs lines 874-902
    def _string(self, i: str) -> _Result[Value]:
        if not i.startswith('"'):
            raise _Fail(_error("GenericParsingError"), fatal=False)
        position, parts = 1, []
        while position < len(i) and i[position] != '"':
            if i.startswith('\\"', position):
                parts.append('"')
                position += 2
            elif i.startswith("\\\\", position):
                parts.append("\\")
                position += 2
            elif i[position] == "\\":
                parts.append("\\")
                position += 1
            else:
                end = position
                while end < len(i) and i[end] not in '\\"':
                    end += 1
                parts.append(i[position:end])
                position = end
        if position >= len(i):
            raise _Fail(_error("GenericParsingError"), fatal=False)
        value = "".join(parts)
        if len(value.encode("utf-8", "surrogatepass")) > self.limit:
            raise _Fail(_error("FieldStringValueTooLarge", limit=str(self.limit)), fatal=True)
        return i[position + 1 :], Value("string", value)

    # lib.rs lines 975-1055: escape_or_fallback and escape_or_fallback_inner
    def _escape_or_fallback(self, i: str, normal: Callable[[str], bool], escapable: str) -> _Result[str]:
        result: list[str] = []
        head = i
        while True:
            count = 0
            while count < len(head) and normal(head[count]):
                count += 1
            if count:
                result.append(head[:count])
                head = head[count:]
                continue
            if head.startswith("\\"):
                after = head[1:]
                if after and after[0] in escapable:
                    result.append(after[0])
                    head = after[1:]
                    continue
                # "The Go parser assumes that *any* unknown escaped character is valid."
                result.append("\\")
                head = after
                if not head:
                    break
                result.append(head[0])
                head = head[1:]
                continue
            if len(head) == len(i):  # nothing parsed
                raise _Fail(_error("GenericParsingError"), fatal=False)
            break
        text = "".join(result)
        if text.endswith("\\"):
            raise _Fail(_error("EndsWithBackslash"), fatal=True)
        if len(text.encode("utf-8", "surrogatepass")) > self.limit:
            raise _Fail(_error("FieldStringValueTooLarge", limit=str(self.limit)), fatal=True)
        return head, text


def _cut[T](parse: Callable[[str], _Result[T]], i: str) -> _Result[T]:
    """nom `cut`: an Error becomes a Failure."""
    try:
        return parse(i)
    except _Fail as failure:
        raise _Fail(failure.error, fatal=True) from None


def _separated_list[T](i: str, parse: Callable[[str], _Result[T]]) -> _Result[list[T]]:
    """lib.rs `parameterized_separated_list` (lines 1057-1119), separator `,`."""
    items: list[T] = []
    try:
        i, item = parse(i)
    except _Fail as failure:
        if failure.fatal:
            raise
        return i, items
    items.append(item)
    while i.startswith(","):
        try:
            after, item = parse(i[1:])
        except _Fail as failure:
            if failure.fatal:
                raise
            return i, items
        items.append(item)
        i = after
    return i, items


def _whitespace(i: str) -> str:
    """lib.rs `whitespace` (lines 941-944): at least one space (only a space)."""
    rest = i.lstrip(" ")
    if rest == i:
        raise _Fail(_error("ExpectedSpace", input=i), fatal=False)
    return rest


def _signed(i: str) -> int:
    """How long the `-?digits` at the start of `i` is (lib.rs integral_value_signed), 0 if none."""
    sign = 1 if i.startswith("-") else 0
    digits = _digits(i[sign:])
    return sign + digits if digits else 0


def _integer(i: str) -> _Result[Value]:
    """lib.rs lines 808-813: `-?digits` then `i`, an i64."""
    length = _signed(i)
    if not length or not i[length:].startswith("i"):
        raise _Fail(_error("GenericParsingError"), fatal=False)
    value = int(i[:length])
    if not -(2**63) <= value < 2**63:
        raise _Fail(_error("IntegerValueInvalid", value=i[:length]), fatal=True)
    return i[length + 1 :], Value("i64", value)


def _uinteger(i: str) -> _Result[Value]:
    """lib.rs lines 815-820: digits then `u`, a u64."""
    length = _digits(i)
    if not length or not i[length:].startswith("u"):
        raise _Fail(_error("GenericParsingError"), fatal=False)
    value = int(i[:length])
    if value >= 2**64:
        raise _Fail(_error("UIntegerValueInvalid", value=i[:length]), fatal=True)
    return i[length + 1 :], Value("u64", value)


def _exponent(i: str) -> int:
    """lib.rs exponential_value (lines 851-858): digits [eE] [-+]? digits; its length or 0."""
    mantissa = _digits(i)
    if not mantissa or i[mantissa : mantissa + 1] not in ("e", "E"):
        return 0
    position = mantissa + 1
    if i[position : position + 1] in ("-", "+"):
        position += 1
    digits = _digits(i[position:])
    return position + digits if digits else 0


def _float(i: str) -> _Result[Value]:
    """lib.rs lines 822-866: the four float forms, tried in the crate's order."""
    whole = _signed(i)
    after_point = i[whole + 1 :] if whole and i[whole : whole + 1] == "." else None
    sign = 1 if i.startswith("-") else 0
    candidates = (
        whole + 1 + _exponent(after_point) if after_point and _exponent(after_point) else 0,
        sign + _exponent(i[sign:]) if _exponent(i[sign:]) else 0,
        whole + 1 + _digits(after_point) if after_point and _digits(after_point) else 0,
        whole,
    )
    for length in candidates:
        if length:
            return i[length:], Value("f64", float(i[:length]))
    raise _Fail(_error("GenericParsingError"), fatal=False)


def _boolean(i: str) -> _Result[Value]:
    """lib.rs lines 904-922: the crate's spellings, in its order (`t` before `false`)."""
    for text, value in (
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("t", True),
        ("T", True),
        ("false", False),
        ("False", False),
        ("FALSE", False),
        ("f", False),
        ("F", False),
    ):
        if i.startswith(text):
            return i[len(text) :], Value("bool", value)
    raise _Fail(_error("GenericParsingError"), fatal=False)


def _timestamp(i: str) -> _Result[int]:
    """lib.rs lines 868-872: `-?digits`, an i64."""
    length = _signed(i)
    if not length:
        raise _Fail(_error("GenericParsingError"), fatal=False)
    value = int(i[:length])
    if not -(2**63) <= value < 2**63:
        raise _Fail(_error("TimestampValueInvalid", value=i[:length]), fatal=True)
    return i[length:], value


def trim_leading(i: str) -> str:
    """lib.rs `trim_leading` (lines 925-939): leading whitespace and whole comment lines go."""
    while True:
        i = i.lstrip(_WHITESPACE)
        if not i.startswith("#"):
            return i
        newline = i.find("\n")
        i = i[newline:] if newline >= 0 else ""


def split_lines(text: str) -> list[str]:
    """lib.rs `split_lines` (lines 613-669), a port of Go's scanLine: newlines outside quotes."""
    lines, start = [], 0
    quoted = fields = in_escape = False
    equals = commas = 0
    for position, char in enumerate(text):
        if in_escape:
            in_escape = False
            continue
        if char == "\\":
            in_escape = True
            continue
        if char == " ":
            fields = True
            continue
        if fields:
            if not quoted and char == "=":
                equals += 1
                continue
            if not quoted and char == ",":
                commas += 1
                continue
            if char == '"' and equals > commas:
                quoted = not quoted
                continue
        if char == "\n" and not quoted:
            lines.append(text[start:position])
            start = position + 1
            quoted = fields = False
            equals = commas = 0
    lines.append(text[start:])
    return lines


def parse_lines(text: str, string_limit: int = LIMIT_1M) -> list[ParsedLine | LineProtocolError]:
    """Every line's parse or error, as 3.x reads the body `text`."""
    return list(Parser(string_limit).parse_lines(text))


def validation_error(line: ParsedLine) -> str | None:
    """Why the 3.x write validator refuses a line the parser took, or None.

    validator.rs v3.10.1 lines 248-259: a field key twice ("multiple instances of ... field
    found"); the catalog's `column_or_create` refuses a column of another type
    (InvalidColumnType, update.rs v3.10.1 line 1935): a name that is a tag and a field of
    the line, or `time` (the table's timestamp column) as either.
    """
    tags = {key for key, _ in line.tags or ()}
    fields: set[str] = set()
    for key, _ in line.fields:
        if key in fields:
            return f"invalid line protocol - multiple instances of '{key}' field found"
        fields.add(key)
    if clash := (tags & fields) | ((tags | fields) & {"time"}):
        return f"invalid column type for {sorted(clash)[0]!r}"
    return None


def would_store(body: str, string_limit: int = LIMIT_1M) -> list[ParsedLine]:
    """The lines 3.x would store from `body`; raises AssertionError naming any it would not."""
    stored = []
    for result in parse_lines(body, string_limit):
        reason = str(result) if isinstance(result, LineProtocolError) else validation_error(result)
        if reason is not None:
            raise AssertionError(f"InfluxDB 3 refuses the line: {reason}")
        stored.append(result)  # type: ignore[arg-type]  # not an error, as reason is None
    return stored


def parse_part(part: str, text: str, string_limit: int = LIMIT_64K) -> tuple[str, str]:
    """One of lib.rs's name parsers on its own (as the crate's unit tests call them): (rest, name)."""
    parser = Parser(string_limit)
    parsers = {
        "measurement": parser._measurement,  # the port's own parts
        "tag_key": parser._tag_key,
        "tag_value": parser._tag_value,
        "field_key": lambda i: parser._escape_or_fallback(
            i, lambda c: c not in _WHITESPACE and c not in "=\\", "\\,= "
        ),
    }
    try:
        return parsers[part](text)
    except _Fail as failure:
        raise failure.error from None
