"""The legacy SQLite database's chores, for the proxy-agent-v2 example:

    python3 legacy.py create DB FIXTURE   create DB from FIXTURE unless it exists
    python3 legacy.py backup DB DEST      online backup (SQLite's backup API);
                                          prints {"path", "sha256", "size"}
    python3 legacy.py verify DEST DB      DEST passes integrity_check and holds
                                          as many rows as DB in every table
    python3 legacy.py compare DB TABLE:KEY...
                                          every key is on both sides: in DB and
                                          in PostgreSQL (DATABASE_URL, via psql)
"""
import hashlib
import json
import os
import sqlite3
import subprocess
import sys


def counts(db):
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in names}


def create(path, fixture):
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    db = sqlite3.connect(path + ".tmp")
    with open(fixture) as f:
        db.executescript(f.read())
    db.commit()
    db.close()
    os.replace(path + ".tmp", path)


def backup(path, dest):
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    source, target = sqlite3.connect(f"file:{path}?mode=ro", uri=True), sqlite3.connect(dest)
    source.backup(target)
    target.close()
    with open(dest, "rb") as f:
        data = f.read()
    print(json.dumps({"path": dest, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}))


def verify(dest, path):
    copy = sqlite3.connect(f"file:{dest}?mode=ro", uri=True)
    check = copy.execute("PRAGMA integrity_check").fetchone()[0]
    if check != "ok":
        sys.exit(f"{dest}: integrity_check says {check}")
    have, want = counts(copy), counts(sqlite3.connect(f"file:{path}?mode=ro", uri=True))
    if have != want:
        sys.exit(f"{dest} holds {have}, {path} holds {want}")
    print(f"{dest}: integrity ok, {sum(have.values())} rows in {len(have)} tables")


def compare(path, specs):
    """The runbook's "check for data inconsistencies": keys missing on either side."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    problems = 0
    for spec in specs:
        table, key = spec.split(":")
        legacy = {r[0] for r in db.execute(f'SELECT "{key}" FROM "{table}"')}
        out = subprocess.run(
            ["psql", "-X", "-At", "-d", os.environ["DATABASE_URL"], "-c", f'SELECT "{key}" FROM "{table}"'],
            capture_output=True, text=True,
        )
        if out.returncode != 0:
            sys.exit(f"psql: {out.stderr.strip()}")
        current = set(out.stdout.split())
        for issue, keys in (("missing_in_postgres", legacy - current), ("missing_in_sqlite", current - legacy)):
            problems += len(keys)
            if keys:
                print(f"{table}: {len(keys)} {issue}, e.g. {sorted(keys)[:3]}")
    if problems:
        sys.exit(1)
    print(f"{len(specs)} tables: every key on both sides")


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "compare":
        compare(rest[0], rest[1:])
    else:
        {"create": create, "backup": backup, "verify": verify}[command](*rest)
