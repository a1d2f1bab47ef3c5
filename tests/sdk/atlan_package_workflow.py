"""Runs the API token connection admin package the way Atlan's docs (the seeds) show it, with
pyatlan 10.0.0 (the last pyatlan with `client.workflow`), against the warrant sandbox.

Run by tests/it/sdk_python_workflows.rs with the pyatlan 10.0.0 venv's python. Two modes:

  sdk   the docs' Python code, verbatim in its calls: configure + to_workflow() + run() and
        monitor(workflow_name=...) as RUNNER; find_by_type(prefix=..., max_results=5),
        rerun(existing[0]) and rerun(existing[0], idempotent=True) as TOKEN_USER (an API
        token, so pyatlan takes the `workflows/...` routes, where RUNNER takes
        `package-workflows/...`); then a run by RUNNER on a connection it does not administer.
  rest  the docs' "Raw REST" calls: POST workflows/indexsearch with the `prefix` query, then
        POST workflows/submit for the first hit, then runs/indexsearch until the run ends.

Inputs come from the environment (ATLAN_BASE_URL, RUNNER_KEY, TOKEN_USER_KEY, CONNECTION_QN,
TOKEN_GUID, OUTSIDER_CONNECTION_QN). SDK_TIME_SCALE (default 1) scales pyatlan's own sleeps
(5 s between monitor polls, 10 s before an idempotent rerun looks for a current run), so the
suite does not wait 15 s for nothing; the calls and their order are unchanged. One line
`SDK_RESULT <json>` goes to stdout for the Rust test. No key is ever printed.
"""

import json
import os
import sys
import time
import urllib.request
import warnings


def scale_pyatlan_sleeps():
    scale = float(os.environ.get("SDK_TIME_SCALE", "1"))
    if scale == 1:
        return
    import pyatlan.client.workflow as workflow_module

    real_sleep = time.sleep
    workflow_module.sleep = lambda seconds: real_sleep(seconds * scale)


def run_name(response):
    return response.metadata.name if response and response.metadata else None


def phase_of(response):
    status = getattr(response, "status", None)
    return status.phase.value if status and status.phase else None


def sdk_mode():
    # pyatlan 10.0.0 warns that this surface is legacy; that is the point of the test.
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyatlan.client.atlan import AtlanClient
    from pyatlan.model.enums import WorkflowPackage
    from pyatlan.model.packages import APITokenConnectionAdmin

    scale_pyatlan_sleeps()
    base_url = os.environ["ATLAN_BASE_URL"]
    result = {}

    def configure_run_and_monitor(client, connection_qualified_name):
        """The docs' configuration snippet, then waiting for the run (docs: "Workflows run
        asynchronously")."""
        workflow = (
            APITokenConnectionAdmin()
            .config(
                connection_qualified_name=connection_qualified_name,
                api_token_guid=os.environ["TOKEN_GUID"],
            )
            .to_workflow()
        )
        response = client.workflow.run(workflow)
        phase = client.workflow.monitor(workflow_name=response.metadata.name)
        return {
            "template": response.metadata.name,
            "phase": phase.value if phase else None,
        }

    runner = AtlanClient(base_url=base_url, api_key=os.environ["RUNNER_KEY"])
    result["run"] = configure_run_and_monitor(runner, os.environ["CONNECTION_QN"])

    # Re-run the existing workflow, as an API token.
    client = AtlanClient(base_url=base_url, api_key=os.environ["TOKEN_USER_KEY"])
    existing = client.workflow.find_by_type(
        prefix=WorkflowPackage.API_TOKEN_CONNECTION_ADMIN, max_results=5
    )
    result["found"] = [w.source.metadata.name for w in existing]
    response = client.workflow.rerun(existing[0])
    result["rerun"] = {"run": run_name(response), "phase": phase_of(response)}
    # Idempotent: joins the run just submitted, which is still going.
    response = client.workflow.rerun(existing[0], idempotent=True)
    result["idempotent"] = {"run": run_name(response), "phase": phase_of(response)}
    phase = client.workflow.monitor(workflow_name=existing[0].source.metadata.name)
    result["rerunFinal"] = phase.value if phase else None

    # The same runner, on a connection it does not administer.
    result["outsider"] = configure_run_and_monitor(
        runner, os.environ["OUTSIDER_CONNECTION_QN"]
    )
    return result


def post(path, body):
    request = urllib.request.Request(
        os.environ["ATLAN_BASE_URL"] + path,
        data=json.dumps(body).encode(),
        headers={
            "Authorization": "Bearer " + os.environ["TOKEN_USER_KEY"],
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def rest_mode():
    found = post(
        "/api/service/workflows/indexsearch",
        {
            "from": 0,
            "size": 5,
            "query": {
                "bool": {
                    "filter": [
                        {
                            "nested": {
                                "path": "metadata",
                                "query": {
                                    "prefix": {
                                        "metadata.name.keyword": {
                                            "value": "csa-api-token-connection-admin"
                                        }
                                    }
                                },
                            }
                        }
                    ]
                }
            },
            "sort": [
                {
                    "metadata.creationTimestamp": {
                        "nested": {"path": "metadata"},
                        "order": "desc",
                    }
                }
            ],
            "track_total_hits": True,
        },
    )
    hits = found["hits"]["hits"]
    source = hits[0]["_source"]
    submitted = post(
        "/api/service/workflows/submit",
        {
            "namespace": source["metadata"]["namespace"],
            "resourceKind": "WorkflowTemplate",
            "resourceName": source["metadata"]["name"],
        },
    )
    template = source["metadata"]["name"]
    final = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = post(
            "/api/service/runs/indexsearch",
            {
                "from": 0,
                "size": 1,
                "query": {
                    "bool": {
                        "filter": [
                            {
                                "nested": {
                                    "path": "spec",
                                    "query": {
                                        "term": {
                                            "spec.workflowTemplateRef.name.keyword": {
                                                "value": template
                                            }
                                        }
                                    },
                                }
                            }
                        ]
                    }
                },
                "sort": [{"status.startedAt": {"order": "desc"}}],
            },
        )["hits"]["hits"]
        if runs and runs[0]["_id"] == submitted["metadata"]["name"]:
            status = runs[0]["_source"]["status"]
            if status["phase"] not in ("Pending", "Running"):
                final = {"phase": status["phase"], "message": status.get("message")}
                break
        time.sleep(0.1)
    return {
        "total": found["hits"]["total"]["value"],
        "found": [h["_id"] for h in hits],
        "template": template,
        "submitted": {
            "run": submitted["metadata"]["name"],
            "phase": submitted["status"]["phase"],
            "templateRef": submitted["spec"]["workflowTemplateRef"]["name"],
        },
        "final": final,
    }


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "sdk"
    result = sdk_mode() if mode == "sdk" else rest_mode()
    print("SDK_RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
