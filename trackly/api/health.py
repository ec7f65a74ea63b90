"""GET /api/health."""

import azure.functions as func

import trackly
from trackly.health import service
from trackly.http import Call, Reply, endpoint
from trackly.ratelimit.policies import Policy

bp = func.Blueprint()


@endpoint(
    bp,
    "GET",
    "health",
    auth=False,
    rate_limit=Policy.PUBLIC,
    summary="Service health",
    tags=["meta"],
    response=service.Health,
    extra_responses={503: "Degraded: database unreachable or migrations behind"},
)
def health(call: Call[None, None, None]) -> Reply:
    """200 when the database answers and its schema is at the migration head, otherwise 503."""
    try:
        report = service.check(session=call.session)
    except Exception:  # engine could not even be built (e.g. no DATABASE_URL)
        report = service.Health(
            status="degraded",
            database="unreachable",
            migrations=service.MigrationState(current=None, head=service.migration_head()),
            version=trackly.__version__,
        )
    return Reply(report, status=200 if report.status == "ok" else 503, headers={"Cache-Control": "no-store"})
