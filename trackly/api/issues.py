"""HTTP functions for issues."""

import azure.functions as func

bp = func.Blueprint()
