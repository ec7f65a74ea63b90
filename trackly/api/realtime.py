"""HTTP functions for realtime."""

import azure.functions as func

bp = func.Blueprint()
