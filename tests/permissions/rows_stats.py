"""Permission rows for the statistics endpoints: staff read, only an ADMIN runs the aggregation."""

from tests.permissions.framework import Row, expect

STAFF_READ = expect(anonymous=401, reporter=403, maintainer=200, admin=200)

ROWS = [
    Row("daily_stats", STAFF_READ, query={"limit": "30"}),
    Row("stats_summary", STAFF_READ),
    Row("stats_trends", STAFF_READ, query={"days": "7"}),
    Row("aggregate_stats", expect(anonymous=401, reporter=403, maintainer=403, admin=200)),
    Row(
        "aggregate_stats",
        expect(anonymous=401, reporter=403, maintainer=403, admin=200),
        variant="rebuild",
        json={"from": "2026-01-01", "to": "2026-01-31"},
    ),
]
