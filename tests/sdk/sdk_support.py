"""What the SDK scripts in this folder share; imported from the script's own folder.

- `send_mist_cloud_to(sandbox_url)`: mistapi has no setting for a custom host or scheme
  (`APISession(host=...)` accepts only the known Mist cloud hostnames and every URL is
  `https://{host}{path}`), so the session is pointed at `api.mist.com` and, below the SDK, the
  `requests` transport sends exactly those requests (same method, path, query, headers and
  body) to the sandbox over plain HTTP instead. No SDK file or function is changed, and any
  other destination is refused, so nothing can leave the machine.
- `mutation_types(response)`: the mutation kinds an Atlan save reported, as pyatlan parsed them.
"""

import urllib.parse

MIST_CLOUD = "api.mist.com"


def send_mist_cloud_to(sandbox_url):
    import requests.adapters

    sandbox = sandbox_url.rstrip("/")
    send = requests.adapters.HTTPAdapter.send

    def send_to_sandbox(adapter, request, *args, **kwargs):
        url = urllib.parse.urlsplit(request.url)
        if url.scheme != "https" or url.netloc != MIST_CLOUD:
            raise requests.exceptions.ConnectionError(
                f"refusing to send a request outside the sandbox: {url.scheme}://{url.netloc}"
            )
        request.url = sandbox + request.url[len(f"https://{MIST_CLOUD}") :]
        return send(adapter, request, *args, **kwargs)

    requests.adapters.HTTPAdapter.send = send_to_sandbox


def mutation_types(response):
    """The mutation kinds the server reported (UPDATE, CREATE, ...), as the SDK parsed them."""
    mutated = response.mutated_entities
    if mutated is None:
        return []
    return sorted(
        kind
        for kind in ("CREATE", "UPDATE", "PARTIAL_UPDATE", "DELETE")
        if getattr(mutated, kind)
    )
