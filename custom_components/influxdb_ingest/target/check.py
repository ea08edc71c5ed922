"""What the setup check of a target says: the form error, the setting it is about, the entry's title.

The check is one write of no points (`InfluxClient.check_write_access`); its failures are
mapped here once, by type, to the translation keys of the setup forms (strings.json
`config.error`). An error about one setting (the database, the bucket, the organization)
belongs under that field; where a form lacks the field it stays on top.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import Any

from ..const import CONF_BUCKET, CONF_DATABASE, CONF_ORG, CONF_RETENTION_POLICY, VALIDATE_TIMEOUT, ApiVersion
from .influx_api import (
    CannotConnect,
    DatabaseLimit,
    DatabaseMissing,
    InfluxClient,
    InvalidAuth,
    NoWritePermission,
    OrgNotFound,
    RetentionPolicyMissing,
    SSLFailure,
    TargetNotFound,
    WrongServer,
)
from .influx_target import InfluxTarget
from .server_info import ServerInfo

_LOGGER = logging.getLogger(__name__)

# Between the target and the server in an entry's title; the device is named by the part before it.
TITLE_SEPARATOR = " · "


async def async_validate_target(client: InfluxClient) -> str | None:
    """Try an empty write; return the translation key of the form error, or None.

    The server that answered is left in `client.server` (for the title).
    """
    try:
        await client.check_write_access(VALIDATE_TIMEOUT)
    except SSLFailure:
        return "ssl_error"
    except CannotConnect:
        return "cannot_connect"
    except InvalidAuth:
        return "invalid_auth"
    except NoWritePermission:
        return "no_write_permission"
    except OrgNotFound:
        return "org_not_found"
    except DatabaseMissing:
        return "database_missing"
    except DatabaseLimit:
        return "database_limit"
    except WrongServer as err:  # says which one answered: "The database does not exist" misled
        _LOGGER.warning("%s", err)
        return f"server_is_influxdb{err.server.generation}"
    except RetentionPolicyMissing:
        return "retention_policy_not_found"
    except TargetNotFound:
        return "bucket_not_found" if client.target.api_version is ApiVersion.V2 else "database_not_found"
    except Exception:
        # Exception texts carry the server's message and the URL, never a credential.
        _LOGGER.exception("Unexpected error while checking %s", client.target.title)
        return "unknown"
    return None


def entry_title(target: InfluxTarget, server: ServerInfo | None) -> str:
    """What is written where, and to which server: "home_assistant @ nas:8181 · InfluxDB 3 Core 3.10.1".

    The port tells two servers on one host apart, the release two generations. 1.x and 2.x
    name no product, and "InfluxDB 1 OSS 1.8.10" says the generation twice: "InfluxDB 1.8.10".
    A server that names no version (a proxy, VictoriaMetrics) gets no server part.
    """
    if server is None or not server.version:
        return target.title
    named = server.is_influxdb3 and server.product not in ("", "InfluxDB 3")
    product = server.product if named else "InfluxDB"
    return f"{target.title}{TITLE_SEPARATOR}{product} {server.version}"


def device_name(title: str) -> str:
    """The entry's title without its server part: entity ids are made from it once, and stay."""
    return title.split(TITLE_SEPARATOR, 1)[0]


def policy_placeholder(data: Mapping[str, Any]) -> dict[str, str]:
    """Which retention policy a `retention_policy_not_found` error names (1.x's default: autogen)."""
    return {"retention_policy": str(data.get(CONF_RETENTION_POLICY) or "autogen")}


# Errors about one setting, and the field that holds it.
_FIELD_OF_ERROR = {
    "database_not_found": CONF_DATABASE,
    "database_not_found_unlisted": CONF_DATABASE,
    "database_missing": CONF_DATABASE,
    "bucket_not_found": CONF_BUCKET,
    "org_not_found": CONF_ORG,
    # A token is the whole credential (2.x, 3.x); 1.x's user and password stay on top.
    "invalid_auth": "token",  # homeassistant.const.CONF_TOKEN (this part imports no Home Assistant)
}


def on_fields(errors: dict[str, str], form: Any) -> dict[str, str]:
    """Move an error about one setting from the top of the form (a voluptuous schema) to its field."""
    error = errors.get("base")
    field = _FIELD_OF_ERROR.get(error or "")
    if field is None or field not in {str(marker) for marker in form.schema}:
        return errors
    return {field: str(error)}
