"""Drives the official mistapi SDK, unchanged, against the warrant sandbox's Mist simulator.

Run by tests/it/sdk_python.rs with the pinned venv's python. Inputs come from the environment:
SANDBOX_MIST_URL (like http://127.0.0.1:PORT), MIST_SANDBOX_TOKEN, MIST_ORG_ID, NEW_TOKEN_NAME.

mistapi only talks to the Mist clouds over https: the session is pointed at `api.mist.com` and
`sdk_support.send_mist_cloud_to` sends exactly its requests to the sandbox instead (no SDK file
or function is changed; any other destination is refused).

It lists the org's API tokens, creates one (the full key comes back once), gets it (masked key,
privileges), and prints one line `SDK_RESULT <json>` on stdout (mistapi's console log also
writes to stdout). No key is printed: only its length and masking shape.
"""

import json
import os
import sys

import mistapi
from mistapi.api.v1.orgs import apitokens

from sdk_support import MIST_CLOUD, send_mist_cloud_to

send_mist_cloud_to(os.environ["SANDBOX_MIST_URL"])


def key_shape(key):
    """How a key looks, without revealing it."""
    if not isinstance(key, str):
        return {"present": False}
    head, sep, tail = key.partition("...")
    return {
        "present": True,
        "length": len(key),
        "masked": bool(sep) and len(head) == 4 and len(tail) == 4,
    }


def summary(token):
    return {
        "id": token.get("id"),
        "name": token.get("name"),
        "org_id": token.get("org_id"),
        "key": key_shape(token.get("key")),
        "privileges": token.get("privileges"),
    }


def check(response, what):
    if response.status_code != 200:
        raise SystemExit(f"{what}: HTTP {response.status_code}: {response.data}")
    return response.data


def main() -> int:
    org_id = os.environ["MIST_ORG_ID"]
    # The constructor validates the token with GET /api/v1/self before using it.
    session = mistapi.APISession(
        host=MIST_CLOUD,
        apitoken=os.environ["MIST_SANDBOX_TOKEN"],
        console_log_level=40,
        show_cli_notif=False,
    )
    if session.get_cloud() != MIST_CLOUD:
        raise SystemExit("mistapi did not accept the cloud host")

    listed = check(apitokens.listOrgApiTokens(session, org_id), "list")
    body = {
        "name": os.environ["NEW_TOKEN_NAME"],
        "privileges": [{"scope": "org", "role": "read"}],
    }
    created = check(apitokens.createOrgApiToken(session, org_id, body), "create")
    fetched = check(apitokens.getOrgApiToken(session, org_id, created["id"]), "get")

    result = {
        "listed": [summary(t) for t in listed],
        "created": summary(created),
        "fetched": summary(fetched),
        "requestCount": session.get_request_count(),
    }
    print("SDK_RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
