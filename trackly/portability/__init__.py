"""Export and import: the quick CSV/NDJSON export of a list, the full NDJSON archive, and imports
from CSV, an archive or GitHub's REST JSON (docs/import-export.md)."""
