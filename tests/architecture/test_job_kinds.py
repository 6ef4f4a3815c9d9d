"""The modules that read every kind of job (task history, metrics, connector status, orphan sweep, notifications)
know the kinds only through the registry (`core.jobs.kinds`): none of them names a job model, a kind's
states or a kind, so a fifth kind is one `register()` and none of these files changes
(tests/jobs_engine/test_fifth_kind.py registers one)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONSUMERS = (
    "portal/site/history.py", "portal/site/api_history.py", "portal/site/services.py",
    "portal/site/management/commands/task_history.py", "portal/site/metrics.py", "portal/site/connectors.py",
    "portal/site/sweep.py", "portal/site/ui/notifications.py", "core/notifications",
)
KIND = r"(?:migration|export|backup|launch)"
NAMED = {
    "a job model or its states": re.compile(r"\b(?:Migration|Export|Backup|Launch)(?:Task|State)\b"),
    "a kind (or one of its events)": re.compile(rf"""["']{KIND}s?(?:\.\w+)?["']"""),
    # An app's own (`core.sweep` is the sweeps' common machinery).
    "a kind's declaration or sweep": re.compile(r"^\s*(?:from|import)\s+(?!core\.)[\w.]+\.(?:job|sweep)\b",
                                                re.MULTILINE),
}


def _consumer_files():
    for name in CONSUMERS:
        path = ROOT / name
        if path.is_dir():
            # Applied migrations are history: the first one froze the event list of its day.
            yield from (p for p in sorted(path.rglob("*.py")) if "migrations" not in p.relative_to(path).parts)
        else:
            yield path


def test_the_consumers_exist():
    missing = [name for name in CONSUMERS if not (ROOT / name).exists()]
    assert not missing, f"moved or renamed? update CONSUMERS: {missing}"


def test_no_consumer_names_a_kind():
    found = []
    for path in _consumer_files():
        text = path.read_text()
        for what, pattern in NAMED.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {what}: {match.group().strip()}")
    assert not found, "declare it in the kind's JobKind instead:\n" + "\n".join(found)


def test_the_check_catches_a_kind_named_literally(tmp_path):
    # The patterns find what the consumers used to hold.
    before = ('JOB_MODELS = {"migration": MigrationTask}\nfrom exports.sweep import export_sweep\n'
              'MIGRATION_COMPLETED = "migration.completed", "Migration completed"\n')
    hits = {what for what, pattern in NAMED.items() if pattern.search(before)}
    assert hits == set(NAMED)
