"""What the collaboration fields cost the issue list: today's list against the list before them,
A/B in one process, interleaved (the machine is shared, so wall time drifts; alternating call by
call puts both sides under the same load).

    python -m bench.list_fields [--database-url URL] [--repeat 300]

"before" runs the list as it was before labels/assignee/comment counts: the page query alone
(issues + creator/editor names), the total and the attachments, rendered without the new fields.
"now" is `trackly.issues.service.list_issues` (one page query that also carries the assignee
name, labels and comment count). Both render the same 20 issues of the handler bench's list
(OPEN or TRIAGED, by severity) for a MAINTAINER, and are serialized to JSON.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from typing import Any

from bench.common import bench_url
from bench.inprocess import apply_environment, interleaved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.list_fields")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args(argv)
    apply_environment(bench_url(args.database_url))

    from pydantic import TypeAdapter
    from sqlalchemy import func, select

    from trackly import db
    from trackly.attachments import service as attachments
    from trackly.issues import service, workflow
    from trackly.issues.access import visible
    from trackly.issues.schemas import IssueListQuery, IssueOut
    from trackly.models import Issue, Role, User

    query = IssueListQuery.model_validate({"status": ["OPEN", "TRIAGED"], "sort": "-severity", "limit": 20})
    dump = TypeAdapter(list[IssueOut]).dump_json
    old_fields = {"assignee_id", "assignee_name", "labels", "comment_count"}

    # The page query as it was: issues with their creator's and last editor's names.
    before_rows = (
        select(Issue, service.Creator.full_name, service.Updater.full_name)
        .join(service.Creator, service.Creator.id == Issue.created_by)
        .outerjoin(service.Updater, service.Updater.id == Issue.updated_by)
    )

    with db.session_scope() as session:
        viewer = session.scalars(select(User).where(User.role == Role.MAINTAINER).limit(1)).one()
        session.expunge(viewer)  # loaded once: the rollbacks below do not expire it

        def before() -> bytes:
            # list_queries as it was: the page query over issues and creator/editor names only.
            where = service._filters(query, viewer)
            page_query = service.page_query(before_rows, query, viewer=viewer, where=where)
            count_query = visible(select(func.count()).select_from(Issue), viewer).where(*where)
            rows = session.execute(page_query).all()[: query.limit]
            from_counters = service.counter_total_query(query, viewer=viewer)
            session.scalar(count_query if from_counters is None else from_counters)
            files = attachments.active_for_issues([r[0].id for r in rows], session=session)
            preset = workflow.active_preset()
            items = [
                service._out(
                    service.IssueRow(issue, c_name, u_name, None, [], 0),
                    files[issue.id],
                    viewer=viewer,
                    preset=preset,
                )
                for issue, c_name, u_name in rows
            ]
            return dump(items, exclude=old_fields)  # type: ignore[arg-type]

        def now() -> bytes:
            page = service.list_issues(query, viewer=viewer, session=session)
            return dump(page.items)

        def fresh(fn: Callable[[], bytes]) -> Callable[[], bytes]:
            # No long-lived snapshot or identity map between calls: each call ends its
            # transaction (one ROLLBACK round trip, timed alike on both sides).
            def call() -> bytes:
                try:
                    return fn()
                finally:
                    session.rollback()

            return call

        cpu: list[list[float]] = []
        wall = interleaved([fresh(before), fresh(now)], args.repeat, warmup=20, cpu=cpu)
    out: dict[str, Any] = {
        name: {"wall_ms": statistics.median(wall[i]), "cpu_ms": statistics.median(cpu[i])}
        for i, name in enumerate(("before", "now"))
    }
    print(f"{'':8} {'median wall':>12} {'median CPU (app process)':>26}")
    for name, figures in out.items():
        print(f"{name:8} {figures['wall_ms']:10.2f} ms {figures['cpu_ms']:24.2f} ms")
    print(
        f"ratio    {out['now']['wall_ms'] / out['before']['wall_ms']:10.2f}x "
        f"{out['now']['cpu_ms'] / out['before']['cpu_ms']:24.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
