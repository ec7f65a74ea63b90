"""The base of every pydantic request and response model (`trackly/<domain>/schemas.py`).

Not to be confused with `trackly/schema.py`, which migrates the database.
"""

from pydantic import BaseModel, ConfigDict


class Schema(BaseModel):
    # Validators and serializers are built on first use, not when the class is defined: every new
    # Function App instance imports every model, while a request uses only a few of them.
    model_config = ConfigDict(defer_build=True)
