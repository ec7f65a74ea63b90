"""HTTP functions for auth."""

import azure.functions as func

bp = func.Blueprint()
