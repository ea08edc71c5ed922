"""InfluxDB 3 Core's own write-path tests, ported, run against the stand-in at their releases.

Each test names its source: the test function, file and tag(s) of influxdata/influxdb
(`git show <tag>:<file>`), with the line it starts at. A test that exists at several tags runs
at every modelled release it covers; where the answer changed, the test says at which release.
Tests that need what the stand-in does not model (the query API, `create_table`) check the
same through the stand-in's store instead; that is said where it happens.

The second half checks what changed between releases (standin3_release.py), each against
the source line it was read from.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
import gzip
import json
from typing import Any

import aiohttp
import pytest

from .support.standin3_catalog import field_family, validate_db_name
from .support.standin3_release import RELEASES, Release
from .support.standin_influxdb3 import InfluxDB3StandIn

BEARER = {"Authorization": "Bearer test-token"}
WRITE_RS = "influxdb3/tests/server/write.rs"
SINCE_3_10 = [name for name in RELEASES if Release(name).since("3.10")]


@pytest.fixture
async def client() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    client: aiohttp.ClientSession,
    url: str,
    body: bytes | str,
    params: list[tuple[str, str]] | dict[str, str] | None = None,
    headers: dict[str, str] | None = BEARER,
) -> tuple[int, str]:
    data = body.encode() if isinstance(body, str) else body
    async with client.post(url, params=params, data=data, headers=headers) as response:
        return response.status, await response.text()


def as_json(text: str) -> Any:
    return json.loads(text)


# --- influxdb3/tests/server/write.rs ------------------------------------------------------------


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_api_v1_write_request_parsing(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """`api_v1_write_request_parsing`, write.rs v3.5.0:9, v3.9.0:9, v3.10.1:9."""
    cases: list[tuple[str | None, str | None, str | None, int]] = [
        (None, None, None, 400),
        ("foo", None, None, 204),
        ("foo", "s", None, 204),
        ("foo", "ms", None, 204),
        ("foo", "u", "autogen", 204),
        ("foo", "us", None, 204),
        ("foo", "n", "autogen", 204),
        ("foo", "ns", None, 204),
        ("foo", "invalid", None, 400),
        ("foo", None, "bar", 204),
        ("foo", None, "default", 204),
        ("foo", None, "autogen", 204),
    ]
    for db, precision, rp, expected in cases:
        params = [(k, v) for k, v in (("db", db), ("rp", rp), ("precision", precision)) if v is not None]
        status, body = await post(client, f"{influxdb3_empty.url}/write", "cpu,host=a usage=0.5", params)
        assert status == expected, (db, precision, rp, body)


@pytest.mark.parametrize("influxdb3_release", RELEASES)
@pytest.mark.parametrize(("path", "db_param"), [("/write", "db"), ("/api/v2/write", "bucket")])
async def test_api_write_round_trip(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession, path: str, db_param: str
) -> None:
    """`api_v1_write_round_trip` (write.rs :125) and `api_v2_write_round_trip` (:263), at v3.5.0,
    v3.9.0 and v3.10.1. The source reads back with InfluxQL; here the stand-in's store is read.
    The indented lines are as in the source: leading whitespace is not part of a line.
    """
    body = (
        "cpu,host=a usage=0.5 2998574931\n"
        "            cpu,host=a usage=0.6 2998574932\n"
        "            cpu,host=a usage=0.7 2998574933"
    )
    status, text = await post(
        client, f"{influxdb3_empty.url}{path}", body, {db_param: "foo", "precision": "s"}
    )

    assert (status, text) == (204, "")
    # 2065-01-07T17:28:51 .. :53, as the source's expected table says
    assert influxdb3_empty.rows("foo", "cpu") == [
        {"host": "a", "usage": usage, "time": seconds * 10**9}
        for usage, seconds in ((0.5, 2998574931), (0.6, 2998574932), (0.7, 2998574933))
    ]


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_api_v2_write_request_parsing(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """`api_v2_write_request_parsing`, write.rs v3.5.0:165, v3.9.0:165, v3.10.1:165."""
    cases: list[tuple[str | None, str | None, str | None, int]] = [
        (None, None, None, 400),
        (None, "foo", None, 204),
        ("bar", "foo", None, 204),
        *((None, "foo", precision, 204) for precision in ("s", "ms", "us", "u", "n", "ns")),
    ]
    for org, bucket, precision, expected in cases:
        params = [
            (k, v) for k, v in (("bucket", bucket), ("org", org), ("precision", precision)) if v is not None
        ]
        status, body = await post(
            client, f"{influxdb3_empty.url}/api/v2/write", "cpu,host=a usage=0.5", params
        )
        assert status == expected, (org, bucket, precision, body)


@pytest.mark.parametrize("influxdb3_release", SINCE_3_10)
@pytest.mark.parametrize("token", [None, "apiv3_nonexistent_token"])
async def test_api_v2_write_without_or_with_invalid_token_returns_unauthorized(
    influxdb3: InfluxDB3StandIn, client: aiohttp.ClientSession, token: str | None
) -> None:
    """`api_v2_write_without_token_returns_unauthorized` (write.rs v3.10.1:303) and
    `api_v2_write_invalid_token_returns_unauthorized` (v3.10.1:333); neither exists at v3.9.0.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, body = await post(
        client, f"{influxdb3.url}/api/v2/write", "cpu,host=a usage=0.5", {"bucket": "home"}, headers
    )

    assert status == 401
    assert as_json(body) == {"error": "the request was not authenticated"}


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_writes_with_different_schema_should_fail(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """`writes_with_different_schema_should_fail` (issue 25006), write.rs v3.5.0:306, v3.10.1:367.

    `write_lp_to_db` is influxdb3_client's `/api/v3/write_lp`, partial writes accepted.
    """
    url, params = f"{influxdb3_empty.url}/api/v3/write_lp", {"db": "foo", "precision": "second"}
    first = "t0,t0_tag0=initTag t0_f0=0i\nt0,t0_tag0=initTag t0_f0=1i 2998574931"
    second = "t0,t0_tag0=initTag t0_f0=0u 2998574930\nt0,t0_tag0=initTag t0_f0=1u 2998574931"

    assert await post(client, url, first, params) == (204, "")
    status, _ = await post(client, url, second, params)

    assert status == 400


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_duplicate_field_names_should_fail(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """`duplicate_field_names_should_fail`, write.rs v3.5.0:348, v3.10.1:409."""
    status, body = await post(
        client,
        f"{influxdb3_empty.url}/api/v3/write_lp",
        "cpu,host=a usage=0.5,usage=0.6",
        {"db": "foo", "precision": "nanosecond"},
    )

    assert status == 400
    assert "multiple instances of 'usage' field found" in body


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_api_no_sync_param(influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession) -> None:
    """`api_no_sync_param`, write.rs v3.5.0:379, v3.10.1:441: every endpoint takes `no_sync`."""
    url = influxdb3_empty.url
    for path, db_param in (("/write", "db"), ("/api/v2/write", "bucket"), ("/api/v3/write_lp", "db")):
        status, body = await post(
            client, f"{url}{path}", "cpu,host=a usage=0.5", {db_param: "foo", "no_sync": "true"}
        )
        assert status == 204, (path, body)


def _v2_error(status_and_body: tuple[int, str]) -> tuple[int, str, str]:
    status, body = status_and_body
    parsed = as_json(body)
    assert set(parsed) == {"code", "message"}
    assert parsed["message"]
    return status, parsed["code"], parsed["message"]


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_api_v2_write_error_responses(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """The `/api/v2/write` error format tests of write.rs, at v3.5.0 / v3.10.1:
    `api_v2_write_error_response_format` (:428 / :490), `..._parameter_validation_v2_format`
    (:469 / :531), `..._error_response_conflicting_schema` (:517 / :579),
    `api_v2_write_empty_body_error` (:571 / :633), `..._malformed_line_protocol_error`
    (:611 / :673) and `api_v2_write_success_no_error_response` (:651 / :713).
    """
    url = f"{influxdb3_empty.url}/api/v2/write"
    bucket = {"bucket": "test_bucket"}

    assert _v2_error(await post(client, url, "invalid_line_protocol_syntax", bucket))[:2] == (400, "invalid")
    status, code, message = _v2_error(await post(client, url, "cpu,host=a usage=0.5"))
    assert (status, code) == (400, "invalid")
    assert "org" in message or "bucket" in message
    assert await post(client, url, "measurement,tag=value field=42i", bucket) == (204, "")
    status, code, message = _v2_error(
        await post(client, url, 'measurement,tag=value field="string_value"', bucket)
    )
    assert (status, code) == (400, "invalid")
    assert any(word in message for word in ("parsing", "field", "type", "mismatch"))
    assert _v2_error(await post(client, url, "", bucket))[:2] == (400, "invalid")
    assert _v2_error(await post(client, url, ",tag=value field=1", bucket))[:2] == (400, "invalid")
    assert await post(client, url, "cpu,host=server01 usage=0.75", bucket) == (204, "")


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_special_characters_line_protocol_compatibility(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """`test_table_creation_with_special_characters_line_protocol_compatibility`, write.rs
    v3.5.0:677, v3.10.1:739. The source creates the table first (`create_table`, not modelled);
    here the first write creates it, and the store is read instead of `SELECT *` / `SHOW COLUMNS`.
    """
    url, params = (
        f"{influxdb3_empty.url}/api/v3/write_lp",
        {"db": "test_special_chars", "precision": "nanosecond"},
    )
    lp = (
        r"metrics,normal_tag=value1,tag\ with\ spaces=value2,tag\,with\,commas=value3,"
        r"tag\=with\=equals=value4,tag\ with\ spaces\,and\=all=value5 normal_field=1.0,"
        r'field\ with\ spaces=42i,field\,with\,commas="test",field\=with\=equals=true,'
        r"field\ with\ all\,special\=chars=100u 1000000000"
    )
    lp2 = (
        r"metrics,normal_tag=value1,tag\ with\ spaces=value\ with\ spaces "
        r"normal_field=2.0,field\ with\ spaces=84i 2000000000"
    )

    assert await post(client, url, lp, params) == (204, "")
    assert await post(client, url, lp2, params) == (204, "")

    assert influxdb3_empty.schema("test_special_chars", "metrics") == {
        "normal_tag": "tag",
        "tag with spaces": "tag",
        "tag,with,commas": "tag",
        "tag=with=equals": "tag",
        "tag with spaces,and=all": "tag",
        "normal_field": "float",
        "field with spaces": "integer",
        "field,with,commas": "string",
        "field=with=equals": "boolean",
        "field with all,special=chars": "uinteger",
        "time": "time",
    }
    second = influxdb3_empty.rows("test_special_chars", "metrics")[1]
    assert second == {
        "normal_tag": "value1",
        "tag with spaces": "value with spaces",
        "normal_field": 2.0,
        "field with spaces": 84,
        "time": 2000000000,
    }


# --- influxdb3_server http tests and the write buffer's validator tests ------------------------


@pytest.mark.parametrize("influxdb3_release", ["3.9", "3.10", "3.11"])
def test_validate_db_name(influxdb3_release: str) -> None:
    """`test_validate_db_name`, influxdb3_server/src/http/tests.rs v3.9.0:43, v3.10.1:45."""
    longest = Release(influxdb3_release).max_db_name

    def ok(name: str) -> bool:
        return validate_db_name(name, longest) is None

    for name in ("foo/bar", "foo-bar", "foo_bar", "f", "1", "1/2", "1/-", "1/_", "1" * longest):
        assert ok(name), name
    assert validate_db_name("1" * (longest + 1), longest) == f"db name too long: max {longest}"
    for name in ("foo/bar/baz", "foo/", "foo///"):
        assert "invalid retention policy" in (validate_db_name(name, longest) or ""), name
    for name in ("foo?bar", "foo#bar", "foo@bar/baz"):
        assert (validate_db_name(name, longest) or "").startswith("invalid character"), name
    for name in ("_foo", "-foo", "/"):
        assert validate_db_name(name, longest) == "db name did not start with a number or letter", name
    assert validate_db_name("", longest) == "db name cannot be empty"


def test_validate_db_name_at_3_5() -> None:
    """`test_validate_db_name`, influxdb3_server/src/http.rs v3.5.0:2474: `accept_rp` decides."""
    invalid_char = (
        "invalid character in database name: must be ASCII, containing only letters, numbers, "
        "underscores, or hyphens"
    )
    assert validate_db_name("foo/bar", accept_rp=False) == invalid_char
    assert validate_db_name("foo/bar", accept_rp=True) is None
    assert "invalid retention policy" in (validate_db_name("foo/bar/baz", accept_rp=True) or "")
    assert "invalid retention policy" in (validate_db_name("foo/", accept_rp=True) or "")
    assert validate_db_name("foo/bar/baz", accept_rp=False) == invalid_char
    assert validate_db_name("_foo", accept_rp=False) == "db name did not start with a number or letter"
    assert validate_db_name("", accept_rp=False) == "db name cannot be empty"


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_write_validator_v1(influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession) -> None:
    """`write_validator_v1`: influxdb3_write/src/write_buffer/validator.rs v3.5.0:440,
    validator/tests.rs v3.9.0 and v3.10.1:14. Three writes with `accept_partial=false`: a new
    table, the same again, then a new field; none refused, the columns grow by one.
    """
    url, params = f"{influxdb3_empty.url}/api/v3/write_lp", {"db": "test", "accept_partial": "false"}

    for lp in ('cpu,tag1=foo val1="bar" 1234', 'cpu,tag1=foo val1="bar" 1235'):
        assert await post(client, url, lp, params) == (204, "")
        assert influxdb3_empty.schema("test", "cpu") == {"tag1": "tag", "val1": "string", "time": "time"}
    assert await post(client, url, 'cpu,tag1=foo val1="bar",val2=false 1236', params) == (204, "")
    assert influxdb3_empty.schema("test", "cpu")["val2"] == "boolean"
    assert len(influxdb3_empty.rows("test", "cpu")) == 3


# --- what changed between releases ------------------------------------------------------------


@pytest.mark.parametrize("influxdb3_release", RELEASES)
@pytest.mark.parametrize(("path", "db_param"), [("/write", "db"), ("/api/v2/write", "bucket")])
async def test_compatibility_endpoints_never_write_part_of_a_request(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession, path: str, db_param: str
) -> None:
    """influxdb3_types/src/http.rs `From<iox_http::write::WriteParams>`: `accept_partial: false`
    in every release (v3.5.0:410, v3.9.0:434, v3.10.1:455). One bad line: 400, one error, nothing
    stored, no schema change.
    """
    url = f"{influxdb3_empty.url}{path}"
    assert await post(client, url, "m v=1 1", {db_param: "d"}) == (204, "")

    status, body = await post(client, url, "m v=2 2\nm v=3i 3\nm w=1 4", {db_param: "d"})

    at = influxdb3_empty.at
    reason = (
        "invalid column type for column 'v', expected iox::column_type::field::float, "
        "got iox::column_type::field::integer"
    )
    assert status == 400
    if path == "/write":
        assert as_json(body)["error"] == at.parse_error
        assert as_json(body)["data"]["line_number"] == 2
        assert as_json(body)["data"]["error_message"] == reason
    else:
        assert as_json(body) == {
            "code": "invalid",
            "message": f"write buffer error: {at.v2_parse_message(reason)}",
        }
    assert [row["v"] for row in influxdb3_empty.rows("d", "m")] == [1.0]
    assert "w" not in influxdb3_empty.schema("d", "m")


@pytest.mark.parametrize(
    ("influxdb3_release", "error", "message"),
    [
        (
            "3.5",
            "parsing failed for write_lp endpoint",
            "write buffer error: parsing for line protocol failed",
        ),
        (
            "3.9",
            "parsing failed for write_lp endpoint",
            "write buffer error: line protocol parse failed: No fields were provided",
        ),
        (
            "3.10",
            "line protocol parsing error",
            "write buffer error: line protocol parse failed: No fields were provided",
        ),
    ],
)
async def test_one_line_error_texts_by_release(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession, error: str, message: str
) -> None:
    """write_buffer/mod.rs `ParseError` Display (v3.5.0:66, v3.9.0 and v3.10.1:70) and http.rs's
    `WriteBuffer(ParseError)` arm (v3.5.0:534, v3.10.1:752)."""
    url = influxdb3_empty.url
    _, v1 = await post(client, f"{url}/write", "m v=", {"db": "d"})
    _, v2 = await post(client, f"{url}/api/v2/write", "m v=", {"bucket": "d"})
    _, v3 = await post(client, f"{url}/api/v3/write_lp", "m v=", {"db": "d", "accept_partial": "false"})

    assert as_json(v1)["error"] == as_json(v3)["error"] == error
    assert as_json(v2)["message"] == message


@pytest.mark.parametrize(
    ("influxdb3_release", "too_large", "bad_body"), [("3.5", 500, 500), ("3.9", 500, 500), ("3.10", 413, 400)]
)
async def test_request_errors_by_release(
    client: aiohttp.ClientSession, influxdb3_release: str, too_large: int, bad_body: int
) -> None:
    """http.rs `impl IntoResponse for Error`: 413 and 400 arms since v3.10 (v3.10.1:948-962);
    `/api/v2/write` answers 413 and 400 in every release (`V2WriteApiError::to_code`)."""
    server = InfluxDB3StandIn(release=influxdb3_release, max_request_bytes=20)
    await server.start()
    gz = {**BEARER, "Content-Encoding": "gzip"}
    try:
        answers = [
            await post(client, f"{server.url}{path}", body, {param: "d"}, headers)
            for path, param in (("/api/v3/write_lp", "db"), ("/write", "db"), ("/api/v2/write", "bucket"))
            for body, headers in (
                ("m value=1234567890123456", BEARER),
                (b"not gzip", gz),
                (b"m v=\xff", BEARER),
            )
        ]
    finally:
        await server.stop()

    statuses = [status for status, _ in answers]
    assert statuses == [too_large, bad_body, bad_body] * 2 + [413, 400, 400]
    assert answers[0][1] == "max request size (20 bytes) exceeded"


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_string_limit_by_release(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """64 KiB to 3.8, 1 MiB since 3.9 (core/influxdb_line_protocol/src/lib.rs v3.9.0:108-111)."""
    limit, too_long = influxdb3_empty.at.string_limit
    url, params = f"{influxdb3_empty.url}/api/v3/write_lp", {"db": "d"}

    assert await post(client, url, f'm s="{"x" * limit}"', params) == (204, "")
    status, body = await post(client, url, f'm s="{"x" * (limit + 1)}"', params)

    assert status == 400
    assert as_json(body)["data"][0]["error_message"] == too_long


@pytest.mark.parametrize(("influxdb3_release", "tags"), [("3.5", 256), ("3.9", 256), ("3.10", 4096)])
async def test_tag_column_limit_by_release(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession, tags: int
) -> None:
    """versions/v2.rs `TagId::MAX + 1` (v3.5.0:76), versions/v3.rs 4096 (v3.10.1:23)."""
    influxdb3_empty.max_columns_per_table = 10_000
    url, params = f"{influxdb3_empty.url}/api/v3/write_lp", {"db": "d"}
    tag_set = ",".join(f"t{i}=x" for i in range(tags))

    assert await post(client, url, f"m,{tag_set} v=1", params) == (204, "")
    status, body = await post(client, url, f"m,{tag_set},one_more=x v=1", params)

    assert status == 422  # http.rs: a partial write whose rejected lines hit a limit
    assert as_json(body)["data"][0]["error_message"] == (
        f"Update to schema would exceed number of tag columns per table limit of {tags} columns"
    )


@pytest.mark.parametrize(("influxdb3_release", "fields"), [("3.5", 499), ("3.9", 499), ("3.10", 500)])
async def test_column_limit_counts_time_until_3_10(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession, fields: int
) -> None:
    """versions/v2/update.rs `num_columns` = tags + fields + 1 (v3.5.0:1509-1511); versions/v3/
    schema/table.rs `columns.len()` (v3.10.1:358): 500 tags and fields, `time` not counted."""
    url, params = f"{influxdb3_empty.url}/api/v3/write_lp", {"db": "d"}
    field_set = ",".join(f"f{i}=1" for i in range(fields))

    assert await post(client, url, f"m {field_set}", params) == (204, "")
    status, body = await post(client, url, f"m {field_set},one_more=1", params)

    assert status == 422  # http.rs: a partial write whose rejected lines hit a limit
    assert "columns per table limit of 500 columns" in body


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_timestamp_overflow_by_release(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """Refused since 3.6 (influxdb3_types/src/write.rs v3.10.1:55-57); 3.5 wraps (validator.rs
    v3.5.0:406-423, release build)."""
    url, params = f"{influxdb3_empty.url}/api/v3/write_lp", {"db": "d", "precision": "second"}
    status, body = await post(client, url, "m v=1 9223372037", params)

    if influxdb3_empty.at.refuses_timestamp_overflow:
        assert status == 400
        assert as_json(body)["data"][0]["error_message"] == (
            "timestamp, 9223372037, out of range for precision: Second"
        )
    else:
        assert status == 204
        assert influxdb3_empty.rows("d", "m")[0]["time"] < 0


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_original_line_and_table_limit_texts_by_release(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """`original_line` cut to 20 bytes since 3.6; error.rs `TooManyTables` reworded in v3.9.0:56-60."""
    influxdb3_empty.max_tables = 1
    url, params = f"{influxdb3_empty.url}/api/v3/write_lp", {"db": "d"}
    await post(client, url, "first v=1", params)

    _, body = await post(client, url, "a_rather_long_table_name v=1", params)

    (error,) = as_json(body)["data"]
    cut = influxdb3_empty.at.truncate_original_line
    assert error["original_line"] == ("a_rather_long_table_" if cut else "a_rather_long_table_name v=1")
    expected = (
        "Update to schema would exceed number of tables limit: attempted to create table but "
        "already have 1 table(s) (limit: 1)"
        if influxdb3_empty.at.since("3.9")
        else "Update to schema would exceed number of tables limit of 1 tables"
    )
    assert error["error_message"] == expected


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_db_name_length_by_release(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """http.rs `MAXIMUM_DATABASE_NAME_LENGTH`: 64 (v3.9.0:2147), 511 (v3.10.0:2353)."""
    url = f"{influxdb3_empty.url}/api/v3/write_lp"
    longest = 511 if influxdb3_empty.at.since("3.10") else 64

    assert (await post(client, url, "m v=1", {"db": "d" * longest}))[0] == 204
    assert await post(client, url, "m v=1", {"db": "d" * (longest + 1)}) == (
        400,
        f'{{"error":"db name too long: max {longest}"}}',
    )


@pytest.mark.parametrize(
    ("influxdb3_release", "answer"), [("3.5", 401), ("3.9", 401), ("3.10", 403), ("3.11", 403)]
)
async def test_v2_write_without_write_permission_by_release(
    client: aiohttp.ClientSession, influxdb3_release: str, answer: int
) -> None:
    """http.rs `V2WriteErrorCode::Forbidden` since v3.10 (v3.10.1:504-505, 538); `unauthorized`
    with the opaque "unauthorized access" before (v3.5.0:356-358, 415-421)."""
    server = InfluxDB3StandIn(release=influxdb3_release, read_only_token="reader")
    await server.start()
    try:
        status, body = await post(
            client, f"{server.url}/api/v2/write", "m v=1", {"bucket": "d"}, {"Authorization": "Token reader"}
        )
    finally:
        await server.stop()

    assert status == answer
    assert as_json(body)["code"] == ("forbidden" if answer == 403 else "unauthorized")
    assert server.rows("d", "m") == []


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_v2_write_while_the_node_stops(
    influxdb3: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """3.11 release notes: `/api/v2/write` answers 503 while the node stops."""
    influxdb3.stopping = True

    status, _ = await post(client, f"{influxdb3.url}/api/v2/write", "m v=1", {"bucket": "home"})

    assert status == (503 if influxdb3.at.since("3.11") else 204)


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_rejected_line_changes_schema_until_3_11(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """Release notes v3.11.2, "Partial schema changes from a rejected line": before, columns a
    rejected line added before it failed were committed (`accept_partial=true`)."""
    url, params = f"{influxdb3_empty.url}/api/v3/write_lp", {"db": "d"}
    await post(client, url, "m v=1", params)

    status, _ = await post(client, url, "m new=1,v=2i\nm v=3", params)

    assert status == 400
    assert [row["v"] for row in influxdb3_empty.rows("d", "m")][-1] == 3.0
    assert ("new" in influxdb3_empty.schema("d", "m")) is influxdb3_empty.at.rejected_line_changes_schema


async def test_gzip_body_round_trip_every_endpoint(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """http.rs `read_body`: a gzip body is decoded on every write endpoint (every release)."""
    gz = {**BEARER, "Content-Encoding": "gzip"}
    for path, param in (("/api/v3/write_lp", "db"), ("/write", "db"), ("/api/v2/write", "bucket")):
        assert await post(
            client, f"{influxdb3_empty.url}{path}", gzip.compress(b"m v=1"), {param: "d"}, gz
        ) == (
            204,
            "",
        )
    assert len(influxdb3_empty.rows("d", "m")) >= 1


def test_parse_field_name() -> None:
    """`test_parse_field_name`, influxdb3_catalog/src/catalog/versions/v2/field.rs v3.5.0:59
    (the aware cases: tables made by line protocol are field-family aware)."""
    assert field_family("field_fam::field_name") == "field_fam"
    assert field_family("field_fam::sub::field_name") == "field_fam"
    assert field_family("field::") is None
    assert field_family("::") is None
    assert field_family("simple_field") is None
    assert field_family("") is None


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_a_field_family_holds_100_fields(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """versions/v2/update.rs `add_field` v3.5.0:1386-1397, v3/transaction.rs v3.10.1:618-628."""
    url, params = f"{influxdb3_empty.url}/api/v3/write_lp", {"db": "d"}
    family = ",".join(f"fam::f{i}=1" for i in range(100))

    assert await post(client, url, f"m {family},plain_{0}=1", params) == (204, "")
    status, body = await post(client, url, "m fam::one_more=1,other::f=1", params)

    assert status == 400
    assert as_json(body)["data"][0]["error_message"] == (
        "Update to schema would exceed the field limit (100) for field family 'fam'"
    )


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_names_the_catalog_refuses(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """catalog/key.rs `is_valid` v3.5.0:24-39 (not in the v3 catalog of 3.10); `check_name`'s
    reserved columns (catalog.rs v3.5.0:38, v3.10.1:80)."""
    url, params = f"{influxdb3_empty.url}/api/v3/write_lp", {"db": "d", "accept_partial": "false"}

    control = await post(client, url, "m,t\x01ag=x v=1", params)
    reserved = await post(client, url, "m __chunk_order=1", params)

    if influxdb3_empty.at.since("3.10"):
        assert control == (204, "")
    else:
        assert as_json(control[1])["data"]["error_message"] == (
            "invalid configuration provided: tag key cannot contain control characters"
        )
    assert as_json(reserved[1])["data"]["error_message"] == "'__chunk_order' is a reserved column"


# --- influxdb3_server's own tests (src/lib.rs at v3.5.0, src/tests.rs from v3.9.0) -------------


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_write_lp_tests(influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession) -> None:
    """`write_lp_tests`: influxdb3_server/src/lib.rs v3.5.0:743, src/tests.rs v3.9.0:152,
    v3.10.1:153. The body's key order and `error` changed (3.6, 3.10); the rest did not."""
    url = f"{influxdb3_empty.url}/api/v3/write_lp"

    def params(db: str, accept_partial: bool) -> dict[str, str]:
        return {"db": db, "accept_partial": str(accept_partial).lower(), "precision": "nanosecond"}

    whole = await post(
        client, url, "cpu,host=a val= 123\ncpu,host=b val=5 124\ncpu,host=b val= 124", params("foo", False)
    )
    partial = await post(
        client, url, "cpu,host=b val=2 155\ncpu,host=a val= 123\ncpu,host=b val=5 199", params("foo", True)
    )

    refused = {
        "error_message": "No fields were provided",
        "line_number": 1,
        "original_line": "cpu,host=a val= 123",
    }
    ordered = list(refused) if influxdb3_empty.at.truncate_original_line else list(reversed(refused))
    assert whole[0] == 400
    assert whole[1] == json.dumps(
        {"error": influxdb3_empty.at.parse_error, "data": {key: refused[key] for key in ordered}},
        separators=(",", ":"),
    )
    assert partial[0] == 400
    assert as_json(partial[1]) == {
        "error": "partial write of line protocol occurred",
        "data": [refused | {"line_number": 2}],
    }
    # the refused request wrote nothing
    assert [(row["host"], row["time"], row["val"]) for row in influxdb3_empty.rows("foo", "cpu")] == [
        ("b", 155, 2.0),
        ("b", 199, 5.0),
    ]
    for db, error in (
        (
            "this#_is_fine",
            "invalid character in database or rp name: must be ASCII, containing only letters, "
            "numbers, underscores, or hyphens",
        ),
        ("?this_is_fine", "db name did not start with a number or letter"),
        ("", "db name cannot be empty"),
    ):
        status, body = await post(client, url, "cpu,host=b val=2 155\n", params(db, True))
        assert status == 400
        expected = error.replace(" or rp name", " name") if not influxdb3_empty.at.since("3.6") else error
        assert as_json(body) == {"error": expected}


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_write_lp_precision_tests(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """`write_lp_precision_tests`: influxdb3_server/src/lib.rs v3.5.0:889, src/tests.rs v3.10.1:299."""
    url = f"{influxdb3_empty.url}/api/v3/write_lp"
    writes = [
        ("cpu,host=b val=5 1708473600", "auto"),
        ("cpu,host=b val=5 1708473601000", "auto"),
        ("cpu,host=b val=5 1708473602000000", "auto"),
        ("cpu,host=b val=5 1708473603000000000", "auto"),
        ("cpu,host=b val=6 1708473604", "second"),
        ("cpu,host=b val=6 1708473605000", "millisecond"),
        ("cpu,host=b val=6 1708473606000000", "microsecond"),
        ("cpu,host=b val=6 1708473607000000000", "nanosecond"),
    ]
    for lp, precision in writes:
        assert await post(
            client, url, lp, {"db": "foo", "accept_partial": "false", "precision": precision}
        ) == (204, "")

    # 2024-02-21T00:00:00 .. :07
    assert [(row["time"], row["val"]) for row in influxdb3_empty.rows("foo", "cpu")] == [
        ((1708473600 + second) * 10**9, 5.0 if second < 4 else 6.0) for second in range(8)
    ]


def _gzip_members(*members: str) -> bytes:
    return b"".join(gzip.compress(member.encode()) for member in members)


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_write_lp_with_gzip_members(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """`test_write_lp_with_single_member_gzip`, `..._multi_member_gzip`, `..._empty_gzip_member`:
    src/tests.rs v3.9.0:416, 456, 539 (v3.10.1:417, 457, 540). Before 3.8 (`GzDecoder`, http.rs
    v3.5.0:992) only the first member is read: 204, and the rest is not written."""
    url, params = (
        f"{influxdb3_empty.url}/api/v3/write_lp",
        {"db": "foo", "accept_partial": "false", "precision": "nanosecond"},
    )
    gz = {**BEARER, "Content-Encoding": "gzip"}
    single = _gzip_members("cpu,host=a val=1i 100\ncpu,host=b val=2i 200\ncpu,host=c val=3i 300")
    multi = _gzip_members(
        "cpu,host=d val=4i 400\n",
        "mem,host=a used=500i 400\n",
        "disk,host=a free=1000i 500\ndisk,host=b free=2000i 600\n",
    )
    with_empty = _gzip_members("cpu,host=e val=5i 500\n", "", "mem,host=b used=600i 600\n")

    for body in (single, multi, with_empty):
        assert await post(client, url, body, params, gz) == (204, "")

    every = influxdb3_empty.at.gzip_every_member
    assert [row["host"] for row in influxdb3_empty.rows("foo", "cpu")] == ["a", "b", "c", "d", "e"]
    assert len(influxdb3_empty.rows("foo", "mem")) == (2 if every else 0)
    assert len(influxdb3_empty.rows("foo", "disk")) == (2 if every else 0)


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_an_overwrite_of_a_series_and_time(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    """Release notes v3.11.4: the last acknowledged write wins; before, either row could."""
    url, params = f"{influxdb3_empty.url}/api/v3/write_lp", {"db": "d"}
    await post(client, url, "m,t=a v=1 1000000000000000000", params)
    await post(client, url, "m,t=a v=2,w=3 1000000000000000000", params)

    (row,) = influxdb3_empty.rows("d", "m")
    assert row["v"] == (2.0 if influxdb3_empty.at.last_write_wins else 1.0)
    assert row["w"] == 3.0


@pytest.mark.parametrize("influxdb3_release", RELEASES)
@pytest.mark.parametrize(
    ("path", "db_param"), [("/api/v3/write_lp", "db"), ("/write", "db"), ("/api/v2/write", "bucket")]
)
async def test_a_cut_inside_a_character_drops_the_connection_on_3_6_to_3_9(
    influxdb3_empty: InfluxDB3StandIn, client: aiohttp.ClientSession, path: str, db_param: str
) -> None:
    """influxdb3_write/src/lib.rs v3.6.0:150 (to v3.9.3) `&original_line[..20]` panics inside a
    character; influxdb3_types/src/write.rs v3.10.1:179 cuts at a character boundary."""
    url = f"{influxdb3_empty.url}{path}"
    await post(client, url, "m,t=x v=1", {db_param: "d"})
    line = "m,tt=éééééééééééé v=2i"  # byte 20 is inside the 8th `é`; `v` is a float: refused

    try:
        status, body = await post(client, url, line, {db_param: "d"})
    except aiohttp.ServerDisconnectedError:
        status, body = 0, ""

    if influxdb3_empty.at.cut_inside_a_character_panics and path != "/api/v2/write":
        assert status == 0  # no answer: a client retries this write for ever
    else:
        assert status == 400
        if path != "/api/v2/write" and influxdb3_empty.at.truncate_original_line:
            assert '"original_line":"m,tt=ééééééé"' in body  # cut before the character at byte 20
