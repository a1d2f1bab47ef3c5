"""Drives mistapi's update and delete of an org API token, unchanged, against the sandbox.

Run by tests/it/sdk_python_fidelity.rs with the pinned venv's python. Inputs come from the
environment: SANDBOX_MIST_URL, MIST_SANDBOX_TOKEN, MIST_ORG_ID, SITE_ID. mistapi only talks to
the Mist clouds over https: `sdk_support.send_mist_cloud_to` sends exactly its requests to the
sandbox instead (no SDK file or function is changed; any other destination is refused).

It creates a token, renames it and adds a site privilege with `updateOrgApiToken`, gets it,
deletes it with `deleteOrgApiToken`, then lists the tokens and gets the deleted one (404), and
prints one line `SDK_RESULT <json>`. No key is printed.
"""

import json
import os
import sys

import mistapi
from mistapi.api.v1.orgs import apitokens

from sdk_support import MIST_CLOUD, send_mist_cloud_to

send_mist_cloud_to(os.environ["SANDBOX_MIST_URL"])


def main() -> int:
    org_id = os.environ["MIST_ORG_ID"]
    site_id = os.environ["SITE_ID"]
    session = mistapi.APISession(
        host=MIST_CLOUD,
        apitoken=os.environ["MIST_SANDBOX_TOKEN"],
        console_log_level=40,
        show_cli_notif=False,
    )
    created = apitokens.createOrgApiToken(
        session,
        org_id,
        {"name": "sdk-update-probe", "privileges": [{"scope": "org", "role": "read"}]},
    )
    token_id = created.data["id"]
    updated = apitokens.updateOrgApiToken(
        session,
        org_id,
        token_id,
        {
            "name": "sdk-update-probe-renamed",
            "privileges": [
                {"scope": "org", "role": "read"},
                {"scope": "site", "site_id": site_id, "role": "write"},
            ],
        },
    )
    fetched = apitokens.getOrgApiToken(session, org_id, token_id)
    deleted = apitokens.deleteOrgApiToken(session, org_id, token_id)
    listed = apitokens.listOrgApiTokens(session, org_id)
    gone = apitokens.getOrgApiToken(session, org_id, token_id)

    print(
        "SDK_RESULT "
        + json.dumps(
            {
                "createStatus": created.status_code,
                "id": token_id,
                "updateStatus": updated.status_code,
                "fetched": {
                    "name": fetched.data.get("name"),
                    "privileges": fetched.data.get("privileges"),
                },
                "deleteStatus": deleted.status_code,
                "listedNames": sorted(t["name"] for t in listed.data),
                "goneStatus": gone.status_code,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
