"""HTTP functions for stats."""

import azure.functions as func

bp = func.Blueprint()
