"""Drives the official pyatlan SDK, unchanged, against the warrant sandbox's Atlan simulator.

Run by tests/it/sdk_python.rs with the pinned venv's python. Inputs come from the environment:
ATLAN_BASE_URL, ATLAN_API_KEY, TOKEN_NAME, CONNECTION_QN. It looks the token up by name (and by
clientId and GUID), reads the Connection by qualifiedName, saves it with the token's service
account appended to the admin users, saves the same again (a no-op), and prints one line `SDK_RESULT <json>` on stdout for the Rust test to assert on. The API key
is never printed.
"""

import json
import os
import sys

from pyatlan.client.atlan import AtlanClient
from pyatlan.model.assets import Connection

from sdk_support import mutation_types


def main() -> int:
    client = AtlanClient(
        base_url=os.environ["ATLAN_BASE_URL"], api_key=os.environ["ATLAN_API_KEY"]
    )

    token = client.token.get_by_name(os.environ["TOKEN_NAME"])
    if token is None:
        raise SystemExit(f"no API token named {os.environ['TOKEN_NAME']}")
    service_account = f"service-account-{token.client_id}"
    # The other two lookups pyatlan offers (by clientId, and by GUID with sort=createdAt).
    by_id = client.token.get_by_id(token.client_id)
    by_guid = client.token.get_by_guid(token.guid)

    connection = client.asset.get_by_qualified_name(
        os.environ["CONNECTION_QN"], Connection
    )
    admins_before = sorted(connection.admin_users or [])

    # Only the fields the server needs, so the save cannot clobber anything else.
    update = connection.trim_to_required()
    update.admin_users = set(admins_before) | {service_account}
    response = client.asset.save(update)
    updated = response.assets_updated(asset_type=Connection)
    created = response.assets_created(asset_type=Connection)

    # Saving the same admins again changes nothing: the server answers without mutations.
    again = connection.trim_to_required()
    again.admin_users = set(admins_before) | {service_account}
    repeat = client.asset.save(again)

    print(
        "SDK_RESULT "
        + json.dumps(
            {
                "token": {
                    "displayName": token.display_name,
                    "clientId": token.client_id,
                    "guid": token.guid,
                },
                "byIdGuid": by_id.guid if by_id else None,
                "byGuidClientId": by_guid.client_id if by_guid else None,
                "serviceAccount": service_account,
                "connection": {
                    "guid": connection.guid,
                    "qualifiedName": connection.qualified_name,
                    "name": connection.name,
                    "adminUsersBefore": admins_before,
                },
                "mutation": {
                    "updated": [a.guid for a in updated],
                    "created": [a.guid for a in created],
                    "types": mutation_types(response),
                },
                "repeat": {
                    "types": mutation_types(repeat),
                    "guidAssignments": sorted((repeat.guid_assignments or {}).values()),
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
