"""Run the benchmarks, print one table and write bench/results/latest.json.

    python -m bench.run [--sizes 10000,100000] [--repeat 50] [--only coldstart,handlers,...]

The main database (default postgresql://postgres@127.0.0.1:5432/trackly_bench, or
$BENCH_DATABASE_URL / --database-url) is seeded with 100,000 issues if it has no bench data.
Scaling runs use one database per size (<main database>_s<N> on the same server), seeded on first
use; 1,000,000 issues take about three minutes to seed: `--sizes 10000,100000,1000000`.
Every figure is a median with its interquartile range [p25-p75] and a baseline from the same run.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
from sqlalchemy.engine import make_url

from bench import coldstart, http_load, inprocess
from bench.common import BENCH_EMAIL_DOMAIN, app_environment, bench_url, ensure_database, fmt_ms
from bench.seed import seed

RESULTS = Path(__file__).resolve().parent / "results"
# The figures before issue 18 (cold start, handler cost): same bench, same machine, the code at
# the commit named inside; `make bench` prints them beside the new ones.
BEFORE = Path(__file__).resolve().parent / "before.json"
SECTIONS = ("coldstart", "handlers", "queries", "scaling", "http")


def issue_count(url: str) -> int | None:
    try:
        conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    except psycopg2.OperationalError:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('public.issues') IS NOT NULL")
            if not cur.fetchone()[0]:
                return None
            cur.execute("SELECT count(*) FROM users WHERE email LIKE %s", (f"%@{BENCH_EMAIL_DOMAIN}",))
            if cur.fetchone()[0] == 0:
                return None
            cur.execute("SELECT count(*) FROM issues")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def ensure_seeded(url: str, issues: int, *, exact: bool) -> None:
    count = issue_count(url)
    if count is None or (exact and abs(count - issues) > issues // 10):
        print(f"[seed] {make_url(url).database}: {count or 0} issues, seeding {issues:,} ...")
        seed(url, issues)
    else:
        ensure_database(url)


def size_url(base: str, size: int) -> str:
    # Named after the main bench database (trackly_bench -> trackly_bench_s10000), so two bench
    # databases on one server never share their scaling databases.
    parsed = make_url(base)
    return parsed.set(database=f"{parsed.database}_s{size}").render_as_string(hide_password=False)


# --- table -----------------------------------------------------------------------------------------


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.1f}x"


def _before(before: dict[str, Any] | None, *keys: Any) -> Any:
    """A figure from the reference run taken before issue 18's changes (None when absent)."""
    node: Any = before
    for key in keys:
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return None
    return node


def _was(value: Any, unit: str = " ms", digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}{unit}" if isinstance(value, float) else f"{value}{unit}"


def _ratio_text(r: dict[str, Any] | None) -> str:
    return f"{r['median']:.2f}x [{r['p25']:.2f}-{r['p75']:.2f}]" if r else ""


def _named(rows: list[dict[str, Any]] | None, key: str, name: str) -> dict[str, Any] | None:
    return next((r for r in rows or [] if r.get(key) == name), None)


def render(results: dict[str, Any], before: dict[str, Any] | None = None) -> str:  # noqa: PLR0915
    """One table per section; each figure next to the same figure from the reference run taken
    before issue 18's changes (bench/before.json), when there is one."""
    lines: list[str] = []
    add = lines.append
    add(f"# Trackly benchmarks — {results['date']} — {results['machine']}")
    if before:
        add(f'("before" columns: {before.get("label", "reference run")}, {before.get("date", "")})')
    add("")
    cs = results.get("coldstart")
    if cs:
        add("## Cold start (fresh interpreter, `import function_app`; app and floor probed in alternation)")
        add(
            "| | import time (wall) | ratio to floor (wall) | import CPU time | ratio to floor (CPU) "
            "| before: wall (ratio), CPU ratio | modules | heavy SDKs loaded |"
        )
        add("|---|---|---|---|---|---|---|---|")
        for key, label in (
            ("app", "function_app (bytecode shipped)"),
            ("app_no_bytecode", "function_app (no bytecode)"),
            ("floor", f"floor: {cs.get('floor_modules', '')}"),
        ):
            r = cs.get(key)
            if not r:
                continue
            ratio, cpu_ratio = r.get("ratio_to_floor"), r.get("cpu_ratio_to_floor")
            ratio_text, cpu_text = _ratio_text(ratio), _ratio_text(cpu_ratio)
            old = _before(before, "coldstart", key) or {}
            was = _was(_before(old, "import_ms", "median"), " ms", 0)
            was += f" ({old['ratio_to_floor']['median']:.2f}x)" if old.get("ratio_to_floor") else ""
            was += f", {old['cpu_ratio_to_floor']['median']:.2f}x" if old.get("cpu_ratio_to_floor") else ""
            add(
                f"| {label} | {fmt_ms(r['import_ms'], 0)} | {ratio_text} | "
                f"{fmt_ms(r.get('import_cpu_ms') or {}, 0)} | {cpu_text} | {was} | "
                f"{r['modules']['median']:.0f} | {', '.join(r['heavy_sdks_loaded']) or 'none'} |"
            )
        add(
            "| original FastAPI app (reference figure from another day, not this run) | 1870 ms "
            "| | | | | | blob SDK eager |"
        )
        fr = cs.get("first_request")
        if fr:
            old = _before(before, "coldstart", "first_request") or {}
            was = ", ".join(
                f"{k} {old[k]['median']:.0f} ms" for k in ("imported", "first", "warm") if old.get(k)
            )
            add("")
            add(
                "New instance to first response (bytecode shipped; import, index the functions, first "
                f"GET /issues/{{id}}): import {fmt_ms(fr['imported'], 0)}, first response at "
                f"{fmt_ms(fr['first'], 0)}, the next request {fmt_ms(fr['warm'], 1)}"
                + (f" (before: {was})" if was else "")
            )
        add("")
        over = cs.get("slowest_over_floor") or cs["slowest_imports"]
        add(
            "Ten slowest imports the app adds over the floor (self time, ms): "
            + ", ".join(f"{r['module']} {r['self_ms']:.1f}" for r in over)
        )
        add("")
    hc = results.get("handlers")
    if hc:
        add(
            "## Handler cost, warm, in-process (median [p25-p75]); "
            "baseline = same SQL via psycopg2 + json.dumps"
        )
        add(
            "| endpoint | app | raw SQL baseline | ratio (of medians; of minimums) | before: app (ratio) "
            "| CPU per request: app / raw (before: app) | queries | round trips (raw) "
            "| before: queries / round trips | original, reference figure (not this run) |"
        )
        add("|---|---|---|---|---|---|---|---|---|---|")
        for e in hc["endpoints"]:
            orig = f"{e['original_ms']:.1f} ms" if e.get("original_ms") else "-"
            note = " (replay rolled back)" if e["replay"] != "commit" else ""
            bad = f" UNEXPECTED {e['unexpected_statuses']}" if e.get("unexpected_statuses") else ""
            old = _named(_before(before, "handlers", "endpoints"), "name", e["name"]) or {}
            was = f"{old['app']['median']:.2f} ms ({old['ratio']:.1f}x)" if old.get("app") else "-"
            was_rt = f"{old.get('queries', '-')} / {old.get('round_trips', '-')}" if old else "-"
            cpu = (
                f"{e['app_cpu']['median']:.2f} / {e['raw_cpu']['median']:.2f} ms"
                + (f" ({old['app_cpu']['median']:.2f} ms)" if old.get("app_cpu") else "")
                if e.get("app_cpu")
                else "-"
            )
            add(
                f"| {e['name']}{bad} | {fmt_ms(e['app'])} | {fmt_ms(e['raw_sql'])}{note} | "
                f"{e['ratio']:.1f}x; {e.get('ratio_min') or 0:.1f}x | {was} | {cpu} | {e['queries']} | "
                f"{e.get('round_trips', '-')} "
                f"({e.get('raw_round_trips', '-')}) | {was_rt} | {orig} |"
            )
        lg = hc.get("login", {})
        if "login" in lg:
            old = _before(before, "handlers", "login") or {}
            was = (
                f"{old['login_excluding_argon2_median']:.2f} ms ({old['ratio_excluding_argon2']:.1f}x)"
                if old.get("login")
                else "-"
            )
            login_cpu = (
                f"{lg['cpu_excluding_argon2']:.2f} / {lg['raw_cpu']['median']:.2f} ms"
                if "cpu_excluding_argon2" in lg
                else ""
            )
            add(
                f"| login, argon2 excluded | {lg['login_excluding_argon2_median']:.2f} ms (total "
                f"{fmt_ms(lg['login'])} - argon2) | {fmt_ms(lg['raw_sql'])} | "
                f"{lg['ratio_excluding_argon2']:.1f}x; {lg.get('ratio_min_excluding_argon2') or 0:.1f}x | "
                f"{was} | {login_cpu} | {lg['queries']} | "
                f"{lg.get('round_trips', '-')} ({lg['queries'] + 2}) | "
                f"{old.get('queries', '-')} / {old.get('round_trips', '-')} | 345 ms (bcrypt 12 incl.) |"
            )
            add(f"| argon2id verify alone | {fmt_ms(lg['argon2_verify'])} | | | | | | | | |")
        for s in hc.get("skipped", []):
            add(f"- not measured: {s}")
        if isinstance(lg, dict) and lg.get("skipped"):
            add(f"- login not measured: {lg['skipped']}")
        add("")
        add(
            "App and baseline are timed in alternation. Round trips = statements + pool liveness "
            "pings + BEGIN and COMMIT per transaction (the raw baseline: statements + one BEGIN and "
            "one COMMIT). The original's figures "
            "come from /work/shared/reference/original-trackly.md, measured on another day: its "
            "source is not available here, so no same-run ratio against it is claimed."
        )
        add("")
    qp = results.get("queries")
    if qp:
        add(
            "## Queries per request (SQLAlchemy before_cursor_execute; round trips add pings, BEGIN "
            "and COMMIT)"
        )
        add("| endpoint | status | queries | round trips | before: queries / round trips |")
        add("|---|---|---|---|---|")
        for r in qp["rows"]:
            if r["queries"] is not None:
                old = _named(_before(before, "queries", "rows"), "endpoint", r["endpoint"]) or {}
                was = f"{old.get('queries', '-')} / {old.get('round_trips', '-')}" if old else "-"
                add(
                    f"| {r['endpoint']} | {r['status']} | {r['queries']} | "
                    f"{r.get('round_trips', '-')} | {was} |"
                )
        add("")
        add(
            "Page size 10 vs 100 (must not grow): "
            + "; ".join(f"{g['endpoint']} {g['limit_10']}→{g['limit_100']}" for g in qp["page_size_growth"])
        )
        absent = [r["endpoint"] for r in qp["rows"] if r["queries"] is None]
        if absent:
            add("Absent in this build: " + ", ".join(absent))
        if qp["not_measured"]:
            add("Functions without a query-count case: " + ", ".join(qp["not_measured"]))
        add("")
    sc = results.get("scaling")
    if sc:
        sizes = list(sc)
        labels: list[str] = []
        for size in sizes:
            for k, v in sc[size].items():
                if isinstance(v, dict) and k not in labels:
                    labels.append(k)
        add("## Scaling (in-process, median [p25-p75]; before: median of the reference run)")
        add("| case | " + " | ".join(f"{int(s):,} issues | before" for s in sizes) + " |")
        add("|---|" + "---|---|" * len(sizes))
        for label in labels:
            cells = []
            for size in sizes:
                v = sc[size].get(label)
                cells.append(
                    v.get("error", "-") if isinstance(v, dict) and "error" in v else fmt_ms(v or {}, 1)
                )
                cells.append(_was(_before(before, "scaling", size, label, "median")))
            add(f"| {label} | " + " | ".join(cells) + " |")
        add(
            "| original: list 20 at 100k / stats job at 100k (reference figures, not this run) "
            "| 87 ms / 106 ms |" + " |" * (2 * len(sizes) - 1)
        )
        add("")
    hl = results.get("http")
    if hl:
        add(
            f"## Through HTTP (local host, {hl['duration_s']:.0f} s per level, "
            "pure-Python closed-loop clients)"
        )
        add("| target | clients | req/s | p50 | p99 | errors | non-2xx | before: req/s, p50 |")
        add("|---|---|---|---|---|---|---|---|")
        for name, rows in hl["targets"].items():
            old_rows = _before(before, "http", "targets", name) or []
            for r in rows:
                non2xx = sum(v for k, v in r["statuses"].items() if not str(k).startswith("2"))
                old = _named(old_rows, "clients", r["clients"])
                was = f"{old['rps']:.0f}, {old['p50_ms']:.1f} ms" if old else "-"
                add(
                    f"| {name} | {r['clients']} | {r['rps']:.0f} | {r['p50_ms']:.1f} ms | "
                    f"{r['p99_ms']:.1f} ms | "
                    f"{r['errors']} | {non2xx} | {was} |"
                )
        add("| original FastAPI, list issues (reference figure, not this run) | 8 | 11 | | | | | |")
        add("")
    return "\n".join(lines)


def _first_request_probe(url: str) -> dict[str, Any]:
    """What the cold-start probe needs to send a first request to the bench database."""
    inprocess.apply_environment(url)
    return {
        "env": app_environment(url),
        "token": inprocess.bench_users().tokens["maintainer"],
        "issue_id": inprocess.sample_issue_id(url),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--sizes", default="10000,100000", help="issue counts for scaling (comma separated)")
    parser.add_argument("--repeat", type=int, default=50, help="timed repetitions per figure")
    parser.add_argument("--cold-runs", type=int, default=7, help="fresh interpreters per cold-start figure")
    parser.add_argument("--http-seconds", type=float, default=5.0, help="duration of each HTTP load level")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections: {','.join(SECTIONS)}")
    parser.add_argument("--output", default=str(RESULTS / "latest.json"))
    parser.add_argument(
        "--before",
        default=str(BEFORE),
        help="results of a reference run to print beside the new figures ('' for none)",
    )
    args = parser.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    url = bench_url(args.database_url)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.node()} {platform.machine()}, Python {platform.python_version()}",
        "database": make_url(url).render_as_string(hide_password=True),
        "args": vars(args),
    }
    needs_db = only & {"handlers", "queries", "http"}
    if needs_db:
        ensure_seeded(url, 100_000, exact=False)
        results["main_database_issues"] = issue_count(url)
    if "coldstart" in only:
        print("[bench] cold start ...", flush=True)
        probe = _first_request_probe(url) if "handlers" in only else None
        results["coldstart"] = coldstart.run(args.cold_runs, first_request=probe)
    if "handlers" in only:
        print("[bench] handler cost ...", flush=True)
        results["handlers"] = inprocess.handler_cost(url, args.repeat)
    if "queries" in only:
        print("[bench] queries per request ...", flush=True)
        results["queries"] = inprocess.queries_per_request(url)
    if "scaling" in only:
        results["scaling"] = {}
        for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
            surl = size_url(url, size)
            ensure_seeded(surl, size, exact=True)
            print(f"[bench] scaling at {size:,} issues ...", flush=True)
            results["scaling"][str(size)] = inprocess.scaling(surl, max(10, args.repeat // 2))
    if "http" in only:
        print("[bench] through HTTP ...", flush=True)
        inprocess.apply_environment(url)
        token = inprocess.bench_users().tokens["maintainer"]
        results["http"] = http_load.run(url, token, duration=args.http_seconds)
    results["elapsed_s"] = time.perf_counter() - started
    before = json.loads(Path(args.before).read_text()) if args.before and Path(args.before).exists() else None
    table = render(results, before)
    print()
    print(table)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**results, "table": table}, indent=2, default=str))
    print(f"\nwritten {out} ({results['elapsed_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
