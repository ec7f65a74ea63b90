"""GET /api/health (public, cheap) and GET /api/health/ready (the operator's deeper check)."""

import hmac

import azure.functions as func

import trackly
from trackly.auth.policy import Action, require
from trackly.errors import ServiceUnavailable
from trackly.health import readiness, service
from trackly.http import Call, Reply, endpoint
from trackly.http.timers import SCHEDULES, resolve_schedule
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


@endpoint(
    bp,
    "GET",
    "health/ready",
    auth=False,
    summary="Readiness for the operator",
    tags=["meta"],
    response=readiness.Readiness,
    errors=(401, 403),
    extra_responses={
        503: "Not ready (problem+json; its `readiness` member is the report): a dependency is "
        "unreachable, migrations are behind or a timer is late"
    },
)
def health_ready(call: Call[None, None, None]) -> Reply:
    """Database, migrations, Blob Storage, Web PubSub, outbox lag and each timer's last success:
    200 with the report when everything is ready, otherwise 503 (problem+json with the report).

    Not public: send `X-Readiness-Key` (the READINESS_KEY setting) or an ADMIN's bearer token."""
    key = call.settings.READINESS_KEY
    supplied = call.header("X-Readiness-Key")
    if not (key and supplied and hmac.compare_digest(supplied.encode(), key.encode())):
        from trackly.auth.current import authenticate  # the ORM loads with the first call

        user, _claims = authenticate(
            call.header("Authorization"), session=call.session, settings=call.settings
        )
        require(user, Action.OPS_READINESS)
    schedules = {name: resolve_schedule(s, call.settings) for name, s in SCHEDULES.items()}
    report = readiness.check(session=call.session, settings=call.settings, schedules=schedules)
    if report.status != "ok":
        raise ServiceUnavailable(
            f"Not ready: {readiness.summary(report)}.",
            headers={"Cache-Control": "no-store"},
            readiness=report.model_dump(mode="json"),
        )
    return Reply(report, headers={"Cache-Control": "no-store"})
