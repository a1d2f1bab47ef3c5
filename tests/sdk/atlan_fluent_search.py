"""Drives pyatlan's search and save paths, unchanged, against the warrant sandbox's Atlan simulator.

Run by tests/it/sdk_python_fidelity.rs with the pinned venv's python. Inputs come from the
environment: ATLAN_BASE_URL, ATLAN_API_KEY, CONNECTION_QN, CONNECTION_NAME, DESCRIPTION.

It runs a FluentSearch over active Connections with `include_on_results(Connection.ADMIN_USERS)`
(how the API token connection admin package reads admins), finds a connection with
`find_connections_by_name` (whose type-name term is upper case), saves a description on the
connection with `Connection.updater` (an attribute the sandbox does not model), reads it back
with `get_by_guid`, and prints one line `SDK_RESULT <json>`. The API key is never printed.
"""

import json
import os
import sys

from pyatlan.client.atlan import AtlanClient
from pyatlan.model.assets import Connection
from pyatlan.model.enums import AtlanConnectorType
from pyatlan.model.fluent_search import CompoundQuery, FluentSearch

from sdk_support import mutation_types


def main() -> int:
    client = AtlanClient(
        base_url=os.environ["ATLAN_BASE_URL"], api_key=os.environ["ATLAN_API_KEY"]
    )
    qualified_name = os.environ["CONNECTION_QN"]
    name = os.environ["CONNECTION_NAME"]

    request = (
        FluentSearch()
        .where(CompoundQuery.active_assets())
        .where(CompoundQuery.asset_type(Connection))
        .include_on_results(Connection.ADMIN_USERS)
        .page_size(2)
    ).to_request()
    searched = {
        asset.qualified_name: sorted(asset.admin_users or [])
        for asset in client.asset.search(request)
    }

    one = (
        FluentSearch()
        .where(CompoundQuery.active_assets())
        .where(CompoundQuery.asset_type(Connection))
        .where(Connection.QUALIFIED_NAME.eq(qualified_name))
        .include_on_results(Connection.ADMIN_USERS)
    ).to_request()
    narrowed = [asset.guid for asset in client.asset.search(one)]

    found = client.asset.find_connections_by_name(
        name=name, connector_type=AtlanConnectorType.SNOWFLAKE, attributes=["adminUsers"]
    )

    update = Connection.updater(qualified_name=qualified_name, name=name)
    update.description = os.environ["DESCRIPTION"]
    saved = client.asset.save(update)
    again = client.asset.save(update)
    fetched = client.asset.get_by_guid(found[0].guid, asset_type=Connection)

    print(
        "SDK_RESULT "
        + json.dumps(
            {
                "searched": searched,
                "narrowed": narrowed,
                "found": [
                    {"guid": c.guid, "adminUsers": sorted(c.admin_users or [])}
                    for c in found
                ],
                "saveTypes": mutation_types(saved),
                "againTypes": mutation_types(again),
                "fetched": {
                    "description": fetched.description,
                    "adminUsers": sorted(fetched.admin_users or []),
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
