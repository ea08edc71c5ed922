"""InfluxDB 3's caches for our data: the last value of each entity, and which entities and domains exist.

A last-value cache keyed by `entity_id` answers "the current value of each entity" from memory
(`last_cache()` in SQL); a distinct-value cache of `entity_id` and `domain` answers what Grafana's
variables ask (`distinct_cache()`). Both are created on a table that exists (the catalog refuses a
cache on a missing table), so after the first write.

Endpoints (influxdb3_server/src/http.rs at v3.10.1): `POST /api/v3/configure/last_cache`
(configure_last_cache_create, line 1559; route line 2802) with `LastCacheCreateRequest` `{db, table,
name, key_columns, value_columns, count, ttl}`, and `POST /api/v3/configure/distinct_cache`
(configure_distinct_cache_create, line 1464; route line 2796) with `DistinctCacheCreateRequest`
`{db, table, name, columns, max_cardinality, max_age}` (influxdb3_types/src/http.rs at v3.10.1, lines
106 and 155). Both answer 201 with the catalog batch as JSON; an existing cache is `AlreadyExists`,
409 (http.rs `impl IntoResponse for CatalogError`, line 657); a missing table 404.
The query functions are `last_cache(table, name)` (influxdb3_cache/src/last_cache/table_function.rs
line 31) and `distinct_cache(table, name)` (distinct_cache/table_function.rs line 26).
"""

from __future__ import annotations

from dataclasses import dataclass

from .client import QueryClient, QueryError

LAST_VALUE_CACHE = "ha_last_value"
DISTINCT_VALUE_CACHE = "ha_entities"
_ALREADY_EXISTS = "already exists"


@dataclass(frozen=True, slots=True)
class CacheOutcome:
    """What became of one cache: created now, or there already."""

    name: str
    created: bool


async def _create(client: QueryClient, path: str, payload: dict[str, object]) -> CacheOutcome:
    name = str(payload["name"])
    try:
        await client.configure(path, payload)
    except QueryError as err:
        if _ALREADY_EXISTS in str(err) or "HTTP 409" in str(err):
            return CacheOutcome(name, created=False)
        raise
    return CacheOutcome(name, created=True)


async def create_last_value_cache(client: QueryClient, table: str) -> CacheOutcome:
    """The last value of each entity (`key_columns: [entity_id]`, one row each), every field."""
    payload: dict[str, object] = {
        "db": client.target.database,
        "table": table,
        "name": LAST_VALUE_CACHE,
        "key_columns": ["entity_id"],
        "count": 1,
    }
    return await _create(client, "api/v3/configure/last_cache", payload)


async def create_distinct_value_cache(client: QueryClient, table: str) -> CacheOutcome:
    """Which entity ids and domains the table holds (server defaults for size and age)."""
    payload: dict[str, object] = {
        "db": client.target.database,
        "table": table,
        "name": DISTINCT_VALUE_CACHE,
        "columns": ["domain", "entity_id"],
    }
    return await _create(client, "api/v3/configure/distinct_cache", payload)
