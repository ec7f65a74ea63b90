"""Values shared by the OpenAPI examples of the request and response models, so the examples of
different endpoints describe the same issue, people and labels."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

ISSUE_ID = "3f2c8a4e-9b1d-4c7e-8a55-2d6f0e1b7c90"
ADMIN_ID = "0b6e5d7a-1c2f-4a3b-9d8e-7f6a5b4c3d2e"
MAINTAINER_ID = "6a1f3c9e-2b7d-4e8f-a0c1-5d4e3f2a1b0c"
REPORTER_ID = "c4d2e8f1-7a3b-4c6d-9e0f-1a2b3c4d5e6f"
COMMENT_ID = "8e7d6c5b-4a39-4281-b7c6-d5e4f3a2b1c0"
LABEL_ID = "5b9e2d1c-8f7a-4e6d-b5c4-a3b2c1d0e9f8"
ATTACHMENT_ID = "2d4f6a8c-0e1b-4d3f-a5c7-e9b1d3f5a7c9"

CREATED_AT = "2026-11-24T09:15:02Z"
UPDATED_AT = "2026-11-24T14:40:37Z"

REPORTER_NAME = "Rita Reporter"
MAINTAINER_NAME = "Max Maintainer"

LABEL: dict[str, Any] = {"id": LABEL_ID, "name": "bug", "color": "#d73a4a"}

ISSUE: dict[str, Any] = {
    "id": ISSUE_ID,
    "title": "Export to CSV drops the last row",
    "description": "Export any list with more than 100 rows: the **last row** is missing.",
    "description_html": (
        "<p>Export any list with more than 100 rows: the <strong>last row</strong> is missing.</p>"
    ),
    "severity": "HIGH",
    "status": "TRIAGED",
    "created_by": REPORTER_ID,
    "created_by_name": REPORTER_NAME,
    "updated_by": MAINTAINER_ID,
    "updated_by_name": MAINTAINER_NAME,
    "created_at": CREATED_AT,
    "updated_at": UPDATED_AT,
    "file_url": None,
    "version": 3,
    "attachments": [],
    "assignee_id": MAINTAINER_ID,
    "assignee_name": MAINTAINER_NAME,
    "labels": [LABEL],
    "comment_count": 2,
    "allowed_transitions": ["OPEN", "IN_PROGRESS", "DONE"],
    "source_url": None,
}


def examples(
    *values: Any,
    keywords: dict[str, Any] | None = None,
    from_attributes: bool = False,
    populate_by_name: bool = False,
    forbid_extra: bool = False,
) -> ConfigDict:
    """A model configuration that publishes `values` as the model's JSON Schema `examples`; the
    OpenAPI document shows the first as the request or response sample. `keywords`: other JSON
    Schema keywords of the model; the flags: the model's other settings."""
    config = ConfigDict(json_schema_extra={**(keywords or {}), "examples": list(values)})
    if from_attributes:
        config["from_attributes"] = True
    if populate_by_name:
        config["populate_by_name"] = True
    if forbid_extra:
        config["extra"] = "forbid"
    return config


USER: dict[str, Any] = {
    "id": REPORTER_ID,
    "email": "rita@trackly.com",
    "full_name": REPORTER_NAME,
    "role": "REPORTER",
    "is_active": True,
    "kind": "human",
    "created_at": "2026-10-05T16:20:45Z",
}

TOKENS: dict[str, Any] = {
    "access_token": (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjNGQyZThmMS03YTNiLTRjNmQtOWUwZi0xYTJiM2M0ZDVlNmYifQ"
        ".9xq3Yb2mVhWn0Qv8cZs1kTjR5eUoLp7dAg4HfN6iBwE"
    ),
    "refresh_token": "rt_Zk3v9QpL2xWn8sYb4Tf7Hc1Ud6Ja0Mr5",
    "token_type": "bearer",
    "expires_in": 900,
}

ATTACHMENT: dict[str, Any] = {
    "id": ATTACHMENT_ID,
    "issue_id": ISSUE_ID,
    "filename": "export-150-rows.csv",
    "content_type": "text/csv",
    "size_bytes": 18342,
    "status": "ACTIVE",
    "uploaded_by": REPORTER_ID,
    "created_at": "2026-11-24T09:16:40Z",
    "completed_at": "2026-11-24T09:16:43Z",
}

BLOB_URL = (
    "https://tracklyfiles.blob.core.windows.net/attachments/"
    f"{ISSUE_ID}/{ATTACHMENT_ID}?se=2026-11-24T09%3A31%3A40Z&sp=cw&sv=2025-01-05&sr=b&sig=Qm9n%2Fc2ln"
)

DAILY_STATS: dict[str, Any] = {
    "id": 57,
    "date": "2026-11-24",
    "status_open": 12,
    "status_triaged": 7,
    "status_in_progress": 5,
    "status_done": 40,
    "severity_low": 18,
    "severity_medium": 26,
    "severity_high": 15,
    "severity_critical": 5,
    "total_issues": 64,
    "created_at": "2026-11-24T00:05:00Z",
    "unresolved_low": 8,
    "unresolved_medium": 9,
    "unresolved_high": 5,
    "unresolved_critical": 2,
    "created_count": 4,
    "resolved_count": 3,
    "mean_hours_to_done": 31.5,
    "open_by_assignee": {MAINTAINER_ID: 9, ADMIN_ID: 4},
    "unassigned_open": 11,
    "median_hours_to_first_response": 2.75,
    "computed_at": "2026-11-24T23:55:00Z",
}


EVENT: dict[str, Any] = {
    "id": 4812,
    "type": "comment_added",
    "issue_id": ISSUE_ID,
    "user_id": REPORTER_ID,
    "user_name": REPORTER_NAME,
    "timestamp": "2026-11-24T10:02:11Z",
    "data": {
        "changes": {"body": [None, "Reproduced on 2.3; @maintainer@trackly.com can you look?"]},
        "issue": {
            "title": ISSUE["title"],
            "status": ISSUE["status"],
            "severity": ISSUE["severity"],
            "created_by": REPORTER_ID,
            "created_at": CREATED_AT,
            "assignee_id": MAINTAINER_ID,
        },
        "comment": {"id": COMMENT_ID, "author_id": REPORTER_ID, "staff_response": False},
    },
}
