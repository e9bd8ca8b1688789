"""Schemathesis extensions for fuzzing Galley's contract (loaded by scripts/fuzz.sh through
SCHEMATHESIS_HOOKS).

One check of our own: "every error is problem+json". Schemathesis' content_type_conformance
already compares a response's type with what the contract documents for that status, but a
status the contract documents as problem+json could still carry a body that is not an RFC 9457
problem, and content_type_conformance says nothing about the members. This check asks of every
4xx/5xx answer: `application/problem+json`, a JSON object with a non-empty `type`, `title` and
`detail`, and a `status` member equal to the HTTP status.

The one documented exception is the GraphQL endpoint, whose refusals (400 not a GraphQL
request or a query that does not validate, 413, 415) are GraphQL responses, as GraphQL over
HTTP prescribes, so that GraphQL clients can read them; its 405 is a problem like any other.
"""

import json

import schemathesis

# (path, status) pairs whose error body is a GraphQL response, by contract (api/openapi.yaml).
GRAPHQL_ERRORS = {("/graphql", 400), ("/graphql", 413), ("/graphql", 415)}

PROBLEM_TYPE = "application/problem+json"


@schemathesis.check
def error_is_problem_json(ctx, response, case):
    """Every 4xx/5xx answer is an RFC 9457 problem (the GraphQL refusals above excepted)."""
    status = response.status_code
    if status < 400 or (case.operation.path, status) in GRAPHQL_ERRORS:
        return None
    content_type = ";".join(response.headers.get("content-type", [""])).split(";")[0].strip().lower()
    if content_type != PROBLEM_TYPE:
        raise AssertionError(f"a {status} answered with Content-Type {content_type or '(none)'!r}, not {PROBLEM_TYPE}")
    # HEAD answers carry the headers of the GET answer and no body.
    if case.method.upper() == "HEAD":
        return None
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"a {status} problem whose body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise AssertionError(f"a {status} problem whose body is not a JSON object")
    missing = [m for m in ("type", "title", "detail") if not (isinstance(body.get(m), str) and body[m])]
    if missing:
        raise AssertionError(f"a {status} problem without {', '.join(missing)}")
    if body.get("status") != status:
        raise AssertionError(f"a {status} problem whose `status` member is {body.get('status')!r}")
    return None
