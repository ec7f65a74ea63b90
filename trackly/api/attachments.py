"""HTTP functions for attachments."""

import azure.functions as func

bp = func.Blueprint()
