"""What the first provisioning depends on, checked without Azure: the hook takes its tokens before
any retry loop and gives migrations longer timeouts, the timeouts that always apply are server
parameters, PgBouncer's pool follows the connection budget, origins are refused before anything
is created, the CI identity may assign only the roles rbac.bicep assigns, and the region is one
that offers Flex Consumption."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from sqlalchemy import text

from trackly.config import Settings
from trackly.db import build_engine

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "infra" / "hooks" / "postprovision.sh"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "infra" / "hooks" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


ci_role_condition = _load("ci_role_condition")


def _code_lines(path: Path) -> list[str]:
    return [
        line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_hook_takes_its_tokens_before_any_retry_loop() -> None:
    lines = _code_lines(HOOK)
    token = next(i for i, line in enumerate(lines) if "get-access-token --resource-type oss-rdbms" in line)
    vault = next(
        i for i, line in enumerate(lines) if "get-access-token --resource https://vault.azure.net" in line
    )
    # Retry loops (they sleep); `require`'s loop over its arguments waits for nothing.
    loops = [i for i, line in enumerate(lines) if re.match(r"\s*(for|while|until) (attempt|try)\b", line)]
    sleeps = [i for i, line in enumerate(lines) if re.search(r"\bsleep\b", line)]
    first_use = next(i for i, line in enumerate(lines) if re.match(r"^ensure_secret\s", line))
    assert loops and sleeps
    assert max(token, vault) < min(loops + sleeps + [first_use])


def _migration_environment() -> dict[str, str]:
    """The variables the hook's migrate() gives alembic, with the hook's defaults."""
    text_ = HOOK.read_text()
    defaults = dict(re.findall(r'^(MIGRATION_\w+)="\$\{\1:-([^}]*)\}"$', text_, re.M))
    body = text_[text_.index("migrate() {") : text_.index("}", text_.index("migrate() {"))]
    assignments = dict(re.findall(r'(DATABASE_\w+)="\$(MIGRATION_\w+)"', body))
    assert assignments, "migrate() passes no DATABASE_* timeouts"
    return {name: defaults[source] for name, source in assignments.items()}


def test_migrations_run_with_longer_timeouts_than_the_app(database_url: str) -> None:
    env = _migration_environment()
    app = Settings()
    migration = Settings(**env)  # also validates: the read timeout outlasts the statement timeout
    assert migration.DATABASE_STATEMENT_TIMEOUT_MS >= 5 * 60_000 > app.DATABASE_STATEMENT_TIMEOUT_MS
    assert migration.DATABASE_READ_TIMEOUT_SECONDS * 1000 > migration.DATABASE_STATEMENT_TIMEOUT_MS
    # What a migration session really gets: migrations/env.py builds its engine from these settings.
    engine = build_engine(migration, url=database_url)
    try:
        with engine.connect() as conn:
            shown = conn.execute(text("SHOW statement_timeout")).scalar()
            assert shown == f"{migration.DATABASE_STATEMENT_TIMEOUT_MS // 60_000}min"
    finally:
        engine.dispose()
    migrations_env = (ROOT / "migrations" / "env.py").read_text()
    assert "build_engine(settings" in migrations_env


def _bicep(path: str) -> str:
    return (ROOT / "infra" / path).read_text()


def _app_setting(name: str) -> str:
    found = re.search(rf"^\s*{name}:\s*'(\d+)'", _bicep("modules/functionapp.bicep"), re.M)
    assert found, name
    return found.group(1)


def test_timeouts_are_server_parameters_matching_the_app() -> None:
    postgres = _bicep("modules/postgres.bicep")
    for parameter, source in (
        ("statement_timeout", "statementTimeoutMs"),
        ("lock_timeout", "lockTimeoutMs"),
        ("idle_in_transaction_session_timeout", "idleInTransactionTimeoutMs"),
    ):
        block = re.search(rf"name: '{parameter}'\s*properties: \{{\s*value: string\((\w+)\)", postgres)
        assert block and block.group(1) == source, parameter
    main = _bicep("main.bicep")
    values = dict(re.findall(r"^var (server\w+TimeoutMs) = (\d+)$", main, re.M))
    assert values["serverLockTimeoutMs"] == _app_setting("DATABASE_LOCK_TIMEOUT_MS")
    assert values["serverIdleInTransactionTimeoutMs"] == _app_setting(
        "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS"
    )
    # The statement backstop is the hook's role setting, above the app's own per-connection limit.
    backstop = re.search(r'APP_STATEMENT_TIMEOUT="\$\{APP_STATEMENT_TIMEOUT:-(\d+)s\}"', HOOK.read_text())
    assert backstop and int(values["serverStatementTimeoutMs"]) == int(backstop.group(1)) * 1000
    assert int(values["serverStatementTimeoutMs"]) > int(_app_setting("DATABASE_STATEMENT_TIMEOUT_MS"))
    for name, parameter in (
        ("statementTimeoutMs", "serverStatementTimeoutMs"),
        ("lockTimeoutMs", "serverLockTimeoutMs"),
        ("idleInTransactionTimeoutMs", "serverIdleInTransactionTimeoutMs"),
        ("pgBouncerPoolSize", "pgBouncerPoolSize"),
    ):
        assert re.search(rf"^\s*{name}: {parameter}$", main, re.M), name


def test_pgbouncer_pool_is_the_connection_budget() -> None:
    main = _bicep("main.bicep")
    assert "var connectionBudget = postgresMaxConnections - postgresReservedConnections" in main
    assert "var pgBouncerPoolSize = min(4950, max(1, connectionBudget))" in main
    postgres = _bicep("modules/postgres.bicep")
    pool = re.search(
        r"resource pgBouncerPool '[^']+' = if \(pgBouncerEnabled\) \{.*?name: 'pgbouncer.default_pool_size'.*?"
        r"value: string\(pgBouncerPoolSize\)",
        postgres,
        re.S,
    )
    assert pool


def test_the_location_is_a_flex_consumption_region() -> None:
    main = _bicep("main.bicep")
    block = re.search(r"@allowed\(\[(.*?)\]\)\n@description\('Region", main, re.S)
    assert block
    regions = re.findall(r"'([a-z0-9]+)'", block.group(1))
    assert len(regions) == len(set(regions)) >= 20
    assert {"westeurope", "eastus", "northeurope", "swedencentral"} <= set(regions)
    assert "eastus2euap" not in regions  # a canary region, not for deployments


def test_production_parameters_have_no_localhost_default() -> None:
    raw = (ROOT / "infra" / "main.parameters.json").read_text()
    assert "localhost" not in raw and "127.0.0.1" not in raw
    params = json.loads(raw)["parameters"]
    assert params["frontendUrl"]["value"] == "${FRONTEND_URL}"
    assert re.search(r"@minLength\(\d+\)\n@description\('The web front end origin", _bicep("main.bicep"))


def _origins(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("FRONTEND_URL", "TRACKLY_ALLOWED_ORIGINS")}
    return subprocess.run(
        [sys.executable, str(ROOT / "infra" / "hooks" / "check_origins.py")],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "FRONTEND_URL is not set"),
        ({"FRONTEND_URL": "   "}, "FRONTEND_URL is not set"),
        (
            {"FRONTEND_URL": "https://a.example", "TRACKLY_ALLOWED_ORIGINS": "https://b.example,"},
            "entry 2 is empty",
        ),
        (
            {
                "FRONTEND_URL": "https://a.example",
                "TRACKLY_ALLOWED_ORIGINS": "https://b.example,, https://c.example",
            },
            "entry 2 is empty",
        ),
        ({"FRONTEND_URL": "http://localhost:5173"}, "a deployment serves https front ends"),
        ({"FRONTEND_URL": "https://127.0.0.1:8443"}, "a deployment serves https front ends"),
        ({"FRONTEND_URL": "https://a.example/"}, "no path"),
        ({"FRONTEND_URL": "https://a.example/app"}, "no path"),
        ({"FRONTEND_URL": "a.example"}, "is not an origin"),
    ],
)
def test_bad_origins_are_refused_before_provisioning(env: dict[str, str], message: str) -> None:
    done = _origins(**env)
    assert done.returncode == 1 and message in done.stderr, done.stderr


def test_origins_are_trimmed_and_local_ones_need_an_opt_in() -> None:
    done = _origins(
        FRONTEND_URL=" https://a.example ", TRACKLY_ALLOWED_ORIGINS=" https://b.example ,https://a.example"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "check_origins: browser origins https://a.example, https://b.example"
    local = _origins(FRONTEND_URL="http://localhost:5173", TRACKLY_ALLOW_LOCAL_ORIGINS="true")
    assert local.returncode == 0, local.stderr


def test_both_entry_points_check_origins_before_provisioning() -> None:
    azure = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert "check_origins.py" in azure["hooks"]["preprovision"]["posix"]["run"]
    steps = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())["jobs"]["provision"][
        "steps"
    ]
    check = next(i for i, s in enumerate(steps) if "check_origins.py" in s.get("run", ""))
    deploy = next(i for i, s in enumerate(steps) if "az deployment sub create" in s.get("run", ""))
    assert check < deploy
    # The Bicep trims too and never hands CORS an empty origin.
    main = _bicep("main.bicep")
    assert "var trimmedOrigins = [for origin in split(corsAllowedOrigins, ','): trim(origin)]" in main
    assert "filter(trimmedOrigins, origin => !empty(origin))" in main


def test_the_ci_role_condition_allows_exactly_the_roles_rbac_assigns() -> None:
    rbac = _bicep("modules/rbac.bicep")
    roles = ci_role_condition.assigned_roles()
    used = set(re.findall(r"roleDefinitions', roles\.(\w+)\)", rbac))
    assert used == set(roles)  # every table entry is assigned, every assignment is in the table
    condition = ci_role_condition.condition(list(roles.values()))
    write, delete = condition.split(" AND ")
    for clause, action in ((write, "write"), (delete, "delete")):
        assert f"roleAssignments/{action}'" in clause
        assert set(re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}", clause)) == set(roles.values())
    # Nowhere else in infra/ are roles assigned (those would need their own place in the condition).
    for path in (ROOT / "infra").rglob("*.bicep"):
        if path.name != "rbac.bicep":
            assert "Microsoft.Authorization/roleAssignments" not in path.read_text(), path
    out = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "hooks" / "ci_role_condition.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == condition
