"""The app settings in Azure (Bicep) and locally (local.settings.example.json) match the code.

Every field of `trackly.config.Settings` must be set in the Function App's app settings in
infra/modules/functionapp.bicep and in local.settings.example.json `Values`; and neither may
carry a setting the code no longer reads, except the few the Functions host itself reads.
Pure file parsing: no network, no database, no infra tools (the Bicep parse gate and checkov
run in scripts/check_infra.sh).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from trackly.config import Settings

ROOT = Path(__file__).resolve().parents[1]
FUNCTION_APP_BICEP = ROOT / "infra" / "modules" / "functionapp.bicep"
LOCAL_SETTINGS = ROOT / "local.settings.example.json"

# Settings read by the Functions host, the Azure SDKs or the platform, not by trackly.config.
HOST_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "AzureWebJobsStorage",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsDisableHomepage",
    "PYTHON_THREADPOOL_THREAD_COUNT",  # the Python worker's thread pool
    "PYTHON_ENABLE_OPENTELEMETRY",  # the Python worker attaches the host's trace context
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AzureWebJobsFeatureFlags",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "AZURE_CLIENT_ID",  # DefaultAzureCredential picks the user-assigned identity with it
}


def _strip_strings_and_comments(text: str) -> str:
    """Blank out Bicep string literals and // comments, keeping line structure and offsets."""
    out = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            out.append(" " * (end - i))
            i = end
        elif ch == "'":
            j = i + 1
            while j < n and text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            out.append("'" + " " * (j - i - 1) + "'")
            i = j + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def bicep_app_setting_names() -> list[str]:
    """Top-level keys of the `var appSettings = { ... }` object in functionapp.bicep."""
    source = FUNCTION_APP_BICEP.read_text()
    clean = _strip_strings_and_comments(source)
    match = re.search(r"^var appSettings = \{", clean, re.MULTILINE)
    assert match, "functionapp.bicep must define the app settings as `var appSettings = {`"
    depth, start = 0, match.end() - 1
    for pos in range(start, len(clean)):
        if clean[pos] == "{":
            depth += 1
        elif clean[pos] == "}":
            depth -= 1
            if depth == 0:
                end = pos
                break
    else:
        raise AssertionError("unbalanced braces in `var appSettings`")
    body = clean[start + 1 : end]
    names, depth = [], 0
    for line in body.splitlines():
        if depth == 0:
            key = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*:", line)
            if key:
                names.append(key.group(1))
        depth += line.count("{") + line.count("[") - line.count("}") - line.count("]")
    return names


def local_setting_names() -> list[str]:
    return list(json.loads(LOCAL_SETTINGS.read_text())["Values"])


def test_bicep_app_settings_block_is_found_and_has_no_duplicates() -> None:
    names = bicep_app_setting_names()
    assert len(names) > 20
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"app settings set twice in functionapp.bicep: {duplicates}"


def test_every_setting_is_in_bicep() -> None:
    missing = sorted(set(Settings.model_fields) - set(bicep_app_setting_names()))
    assert not missing, f"Settings fields missing from functionapp.bicep app settings: {missing}"


def test_every_setting_is_in_local_settings_example() -> None:
    missing = sorted(set(Settings.model_fields) - set(local_setting_names()))
    assert not missing, f"Settings fields missing from local.settings.example.json: {missing}"


def test_bicep_has_no_stale_settings() -> None:
    stale = sorted(set(bicep_app_setting_names()) - set(Settings.model_fields) - HOST_SETTINGS)
    assert not stale, f"functionapp.bicep sets settings the code does not read: {stale}"


def test_local_settings_example_has_no_stale_settings() -> None:
    stale = sorted(set(local_setting_names()) - set(Settings.model_fields) - HOST_SETTINGS)
    assert not stale, f"local.settings.example.json has settings the code does not read: {stale}"


def test_production_values_in_bicep() -> None:
    """The identity-mode and production choices the deployment relies on."""
    source = FUNCTION_APP_BICEP.read_text()

    def value(name: str) -> str:
        found = re.search(rf"^\s*{name}:\s*(.+)$", source, re.MULTILINE)
        assert found, name
        return found.group(1).strip()

    assert value("TRACKLY_ENV") == "'production'"
    assert value("DATABASE_AUTH") == "'entra'"
    assert "sslmode=require" in source
    for secret in ("JWT_SECRET_KEY", "WEBHOOK_SECRET_KEY", "MICROSOFT_CLIENT_SECRET", "GOOGLE_CLIENT_SECRET"):
        assert "keyVaultReference" in value(secret), f"{secret} must be a Key Vault reference"
    assert "@Microsoft.KeyVault(SecretUri=" in source
    for empty in (
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_STORAGE_ACCOUNT_KEY",
        "WEBPUBSUB_CONNECTION_STRING",
    ):
        assert value(empty) == "''", f"{empty} must be empty in Azure (identity mode)"
    assert value("AZURE_STORAGE_ACCOUNT_URL") == "attachmentsBlobEndpoint"
    assert value("WEBPUBSUB_ENDPOINT") == "webPubSubEndpoint"
    assert value("AzureWebJobsStorage__credential") == "'managedidentity'"
