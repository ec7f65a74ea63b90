"""The migration lock check (trackly/schema_lint.py, part of `make check`)."""

from __future__ import annotations

from pathlib import Path

from trackly import schema_lint

SAMPLES = Path(__file__).parent / "migration_samples"


def test_the_projects_history_passes() -> None:
    paths = sorted(schema_lint.VERSIONS.glob("*.py"))
    assert len(paths) >= 8
    assert schema_lint.check(paths) == []


def test_every_long_lock_in_the_bad_sample_is_flagged() -> None:
    findings = schema_lint.check([SAMPLES / "0099_bad.py"])
    rules = "\n".join(f.rule for f in findings)
    assert len(findings) == 9, rules  # one per operation of the sample
    for words in (
        "volatile default",
        "NOT NULL without a default",
        "without postgresql_concurrently",
        "type change",
        "nullable=False",
        "without postgresql_not_valid",
        "CREATE INDEX without CONCURRENTLY",
        "backfill",
        "contract step",
    ):
        assert words in rules, words
    assert schema_lint.main([str(SAMPLES / "0099_bad.py")]) == 1


def test_expand_only_changes_and_reviewed_marks_pass() -> None:
    assert schema_lint.check([SAMPLES / "0098_good.py"]) == []
    assert schema_lint.main([str(SAMPLES / "0098_good.py")]) == 0


def test_a_mark_without_a_reason_does_not_count(tmp_path: Path) -> None:
    sample = tmp_path / "0097_x.py"
    sample.write_text(
        "from alembic import op\n\ndef upgrade() -> None:\n"
        "    # lock-reviewed:\n    op.create_index('ix', 'issues', ['title'])\n"
    )
    assert len(schema_lint.check([sample])) == 1
