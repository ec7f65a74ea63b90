"""HTTP functions for users."""

import azure.functions as func

bp = func.Blueprint()
