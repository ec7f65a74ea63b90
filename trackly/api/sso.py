"""HTTP functions for sso."""

import azure.functions as func

bp = func.Blueprint()
