"""What personal access tokens and rate limits cost a request, as ratios measured in one run.

    python -m bench.tokens [--database-url URL] [--issues 10000] [--repeat 300]

In-process through the FunctionApp (bench.inprocess), interleaved call by call so load from
other processes hits every variant alike:

- get issue and list issues authenticated by a personal access token vs by a session token
  (rate limits on for both);
- the same requests with rate limits on vs RATE_LIMIT_ENABLED=false. With limits off the
  request path is the code before this feature (the session statement without the count, no
  headers), so "off" is the before stand-in.

Statements per request are counted for every variant (they must be equal: the token lookup,
`last_used_at` and the count ride in the statement that loads the user). Results go to
bench/results/tokens.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import apply_environment, bench_url
from bench.inprocess import InProcessApp, bench_users, interleaved

RESULTS = Path(__file__).parent / "results" / "tokens.json"


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 (one linear script)
    parser = argparse.ArgumentParser(prog="python -m bench.tokens")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--issues", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args(argv)
    url = bench_url(args.database_url)
    from bench.run import ensure_seeded

    ensure_seeded(url, args.issues, exact=False)
    apply_environment(url)

    from datetime import timedelta

    from sqlalchemy import select

    import trackly.config
    from trackly import clock, db
    from trackly.auth.policy import Scope
    from trackly.models import Issue, User
    from trackly.tokens import service as tokens
    from trackly.tokens.schemas import TokenCreateIn

    on = trackly.config.get_settings()
    os.environ["RATE_LIMIT_ENABLED"] = "false"
    trackly.config.reset_settings()
    off = trackly.config.get_settings()
    real_get_settings = trackly.config.get_settings

    def use(settings: trackly.config.Settings) -> None:
        # The endpoint layer reads `trackly.config.get_settings()` per request: swap the object
        # it answers, without rebuilding settings inside the timed call.
        trackly.config.get_settings = lambda: settings  # type: ignore[assignment]

    app = InProcessApp()
    users = bench_users()
    session_token = users.tokens["maintainer"]
    with db.session_scope() as session:
        owner = session.get(User, users.maintainer.id)
        assert owner is not None
        pat = tokens.issue(
            owner,
            TokenCreateIn(name="bench", scopes=list(Scope), expires_at=clock.now() + timedelta(days=1)),
            session=session,
            settings=on,
        ).token
        issue_id = str(session.scalars(select(Issue.id).order_by(Issue.created_at.desc()).limit(1)).one())

    def request(kind: str, token: str, settings: trackly.config.Settings) -> Callable[[], Any]:
        path, params = (f"issues/{issue_id}", None) if kind == "get" else ("issues", [("limit", "20")])

        def call() -> Any:
            use(settings)
            response = app.request("GET", path, token=token, params=params)
            assert response.status == 200, (response.status, response.body[:300])
            return response

        return call

    variants = {
        f"{kind} {name}": request(kind, token, settings)
        for kind in ("get", "list")
        for name, token, settings in (
            ("session", session_token, on),
            ("token", pat, on),
            ("limits off", session_token, off),
        )
    }
    statements = {}
    for name, fn in variants.items():
        app.recorder.start()
        fn()
        statements[name] = len(app.recorder.stop())
    cpu: list[list[float]] = []
    samples = interleaved(list(variants.values()), args.repeat, cpu=cpu)
    use(on)
    trackly.config.get_settings = real_get_settings  # type: ignore[assignment]
    medians = {name: statistics.median(s) for name, s in zip(variants, samples, strict=True)}
    cpus = {name: statistics.median(c) for name, c in zip(variants, cpu, strict=True)}
    results: dict[str, Any] = {
        "repeat": args.repeat,
        "statements": statements,
        "median_ms": medians,
        "cpu_ms": cpus,
    }
    ratios = {}
    for kind in ("get", "list"):
        ratios[f"{kind}: token / session"] = medians[f"{kind} token"] / medians[f"{kind} session"]
        ratios[f"{kind}: limits on / off"] = medians[f"{kind} session"] / medians[f"{kind} limits off"]
        ratios[f"{kind}: token / session (cpu)"] = cpus[f"{kind} token"] / cpus[f"{kind} session"]
        ratios[f"{kind}: limits on / off (cpu)"] = cpus[f"{kind} session"] / cpus[f"{kind} limits off"]
    results["ratios"] = ratios
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'variant':<18} {'statements':>10} {'median ms':>10} {'cpu ms':>8}")
    for name in variants:
        print(f"{name:<18} {statements[name]:>10} {medians[name]:>10.2f} {cpus[name]:>8.2f}")
    for name, value in ratios.items():
        print(f"{name:<32} {value:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
