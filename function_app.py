"""The Azure Functions entry point: one FunctionApp, one Blueprint per domain.

Kept thin on purpose: nothing heavy or fallible happens at import time (settings, database
engine and Azure SDK clients are all built on first use), so an import error can never make
every function vanish from the host.
"""

import azure.functions as func

from trackly.api import (
    attachments,
    auth,
    comments,
    docs,
    email,
    health,
    issues,
    labels,
    notifications,
    portability,
    realtime,
    sso,
    stats,
    tokens,
    users,
    watchers,
    webhooks,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for module in (
    health,
    docs,
    auth,
    sso,
    users,
    issues,
    labels,
    comments,
    watchers,
    notifications,
    email,
    attachments,
    realtime,
    stats,
    tokens,
    portability,
    webhooks,
):
    app.register_functions(module.bp)
