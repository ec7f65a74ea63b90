#!/usr/bin/env bash
# Runs after every provision: `azd provision` / `azd up` call it as the postprovision hook
# (azure.yaml), and .github/workflows/deploy.yml runs it after `az deployment sub create`.
# Both pass the Bicep outputs as environment variables.
#
# 1. Makes sure the JWT signing key and the webhook secrets' encryption key exist in Key Vault
#    (creates random ones the first time; never replaces an existing one, so deployments neither
#    sign everybody out nor make the stored webhook secrets unreadable).
# 2. Runs `python -m trackly migrate` (alembic upgrade head with a lock_timeout, retried) against the new database as the deploying principal, with a
#    fresh Entra access token as the password, straight to port 5432 (not through PgBouncer:
#    migrations need a session of their own).
# 3. Creates the app's managed identity as an ordinary PostgreSQL principal (not an Entra
#    administrator: pgaadauth_create_principal_with_oid, by object id, in the `postgres`
#    database where those functions live), gives its role the statement, lock and
#    idle-in-transaction timeouts (role settings, a second layer over the server parameters: a
#    refused ALTER ROLE only warns), and grants it the data privileges it needs on what the migrations created (the
#    tables belong to the principal that ran the migrations).
#
# Tokens first: in GitHub Actions the workflow logs in again (azure/login) right before this
# script, and the federated OIDC assertion behind that login lives only minutes (Azure CLI cannot
# refresh it: Azure/azure-cli#28708, Azure/login#441). So every Entra token the script needs (the
# PostgreSQL one, Key Vault's) is fetched straight away, before any retry loop can outwait the
# assertion; each token itself stays valid for about an hour.
#
# Timeouts: the app role's ALTER ROLE ... SET is a second layer only (on PostgreSQL 16 the
# deployer may lack ADMIN OPTION on the role and be refused); the limits that always apply are
# server parameters set by infra/modules/postgres.bicep. Migrations run with their own, longer
# statement and read timeouts (MIGRATION_STATEMENT_TIMEOUT_MS, MIGRATION_READ_TIMEOUT_SECONDS).
#
# Needs: az (logged in as the deploying principal), and a Python that has the app's
# requirements installed (the repository's .venv if present, else $PYTHON or python3).
set -euo pipefail

cd "$(dirname "$0")/../.."

require() {
  local name
  for name in "$@"; do
    if [ -z "${!name:-}" ]; then
      echo "postprovision: $name is not set (it is a Bicep output; run through azd or deploy.yml)" >&2
      exit 1
    fi
  done
}

require AZURE_KEY_VAULT_NAME JWT_SECRET_NAME WEBHOOK_KEY_SECRET_NAME POSTGRES_HOST POSTGRES_DATABASE AZURE_MANAGED_IDENTITY_NAME \
  AZURE_MANAGED_IDENTITY_PRINCIPAL_ID

# A backstop for runaway queries of the app's role (trackly/db.py also sets per-connection limits).
APP_STATEMENT_TIMEOUT="${APP_STATEMENT_TIMEOUT:-60s}"
# Migrations may build indexes or rewrite tables: 9 minutes per statement, and the client waits
# 10 minutes for an answer (trackly.db's read timeout; it must outlast the statement timeout).
MIGRATION_STATEMENT_TIMEOUT_MS="${MIGRATION_STATEMENT_TIMEOUT_MS:-540000}"
MIGRATION_READ_TIMEOUT_SECONDS="${MIGRATION_READ_TIMEOUT_SECONDS:-600}"

if [ -n "${PYTHON:-}" ]; then
  py="$PYTHON"
elif [ -x .venv/bin/python ]; then
  py=.venv/bin/python
else
  py=python3
fi

if [ -z "${POSTGRES_ADMIN_PRINCIPAL_NAME:-}" ]; then
  cat >&2 <<'MSG'
postprovision: POSTGRES_ADMIN_PRINCIPAL_NAME is empty, so the deploying principal is not a
PostgreSQL Entra administrator and cannot run migrations. Set the principal's name and provision
again, e.g.  azd env set AZURE_PRINCIPAL_NAME "$(az ad signed-in-user show --query userPrincipalName -o tsv)"
MSG
  exit 1
fi

# --- 0. tokens, straight after the login -------------------------------------------------------
token=$(az account get-access-token --resource-type oss-rdbms --query accessToken --output tsv)
# Key Vault's token lands in Azure CLI's token cache, where the `az keyvault` calls below find it.
az account get-access-token --resource https://vault.azure.net --query expiresOn --output none

# --- 1. JWT signing key and webhook encryption key ----------------------------------------------
# Role assignments can take a few minutes to reach Key Vault, so "forbidden" is retried; only a
# definite "not found" creates the secret.
# The Function App was created (by Bicep) before the secret existed, so the platform may have
# tried the Key Vault reference already and kept the literal `@Microsoft.KeyVault(...)` text
# (the app refuses it and answers 503). A restart makes the platform fetch every reference again,
# so the app never runs with the reference unresolved once the secret exists.
refresh_key_vault_references() {
  if [ -n "${AZURE_FUNCTION_APP_NAME:-}" ] && [ -n "${AZURE_RESOURCE_GROUP:-}" ]; then
    az functionapp restart --name "$AZURE_FUNCTION_APP_NAME" --resource-group "$AZURE_RESOURCE_GROUP" \
      --output none && echo "postprovision: restarted $AZURE_FUNCTION_APP_NAME to resolve the new secret"
  fi
}

ensure_secret() {
  local secret_name="$1" label="$2"
  local attempt err
  for attempt in $(seq 1 20); do
    if err=$(az keyvault secret show --vault-name "$AZURE_KEY_VAULT_NAME" --name "$secret_name" \
        --query id --output tsv 2>&1 >/dev/null); then
      echo "postprovision: $label present in $AZURE_KEY_VAULT_NAME"
      return 0
    fi
    if printf '%s' "$err" | grep -q 'SecretNotFound'; then
      local secret_file
      secret_file=$(mktemp)
      chmod 600 "$secret_file"
      "$py" -c 'import secrets, sys; sys.stdout.write(secrets.token_urlsafe(48))' > "$secret_file"
      if az keyvault secret set --vault-name "$AZURE_KEY_VAULT_NAME" --name "$secret_name" \
          --file "$secret_file" --encoding utf-8 --content-type text/plain --output none; then
        rm -f "$secret_file"
        echo "postprovision: created a new $label in $AZURE_KEY_VAULT_NAME"
        refresh_key_vault_references
        return 0
      fi
      rm -f "$secret_file"
    fi
    echo "postprovision: Key Vault not ready yet (attempt $attempt/20), retrying in 15 s" >&2
    sleep 15
  done
  echo "postprovision: could not read or create the $label: $err" >&2
  return 1
}

ensure_secret "$JWT_SECRET_NAME" "JWT signing key"
ensure_secret "$WEBHOOK_KEY_SECRET_NAME" "webhook secrets encryption key"

# --- 2. migrations ------------------------------------------------------------------------------
# Build the URLs in Python so that the user name (a UPN has an '@') and the token are quoted.
urls=$(POSTGRES_TOKEN="$token" "$py" - <<'PY'
import os
from urllib.parse import quote

user = quote(os.environ["POSTGRES_ADMIN_PRINCIPAL_NAME"], safe="")
password = quote(os.environ["POSTGRES_TOKEN"], safe="")
host = os.environ["POSTGRES_HOST"]
database = os.environ["POSTGRES_DATABASE"]
tail = f"{user}:{password}@{host}:5432/{database}?sslmode=require"
print(f"postgresql+psycopg2://{tail}")
print(f"postgresql://{tail}")
PY
)
sqlalchemy_url=$(printf '%s\n' "$urls" | sed -n 1p)
libpq_url=$(printf '%s\n' "$urls" | sed -n 2p)
unset token urls

# Settings validation outside development wants a JWT key; alembic signs nothing, so a throwaway
# value is given to this process only. DATABASE_AUTH=password: the token is already the password.
# The migration session SETs its own statement timeout (the server's 60 s default would cut a long
# index build) and waits as long for an answer; lock_timeout stays the app's, so a migration that
# queues behind the app's transactions fails fast and the loop below tries again.
migrate() {
  DATABASE_URL="$sqlalchemy_url" DATABASE_AUTH=password TRACKLY_ENV=production \
    DATABASE_STATEMENT_TIMEOUT_MS="$MIGRATION_STATEMENT_TIMEOUT_MS" \
    DATABASE_READ_TIMEOUT_SECONDS="$MIGRATION_READ_TIMEOUT_SECONDS" \
    JWT_SECRET_KEY="$("$py" -c 'import secrets; print(secrets.token_urlsafe(48))')" \
    "$py" -m trackly migrate --lock-timeout-ms 3000 --attempts 5
}

for attempt in 1 2 3 4 5; do
  if migrate; then
    echo "postprovision: migrations applied"
    break
  fi
  if [ "$attempt" = 5 ]; then
    echo "postprovision: alembic upgrade head failed (firewall? set POSTGRES_CLIENT_IP to your public IP and provision again)" >&2
    exit 1
  fi
  echo "postprovision: database not reachable yet (attempt $attempt/5), retrying in 30 s" >&2
  sleep 30
done

# --- 3. the app's database role: an ordinary principal, timeouts, privileges -------------------
# (infra/hooks/app_role.py; tests/deploy/test_app_role.py runs it against PostgreSQL.)
POSTGRES_LIBPQ_URL="$libpq_url" APP_STATEMENT_TIMEOUT="$APP_STATEMENT_TIMEOUT" "$py" infra/hooks/app_role.py
