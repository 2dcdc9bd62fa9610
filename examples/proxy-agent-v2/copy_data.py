"""Copies the legacy SQLite tables into PostgreSQL (the runbook's
scripts/migrate_data.py), in one transaction through psql: the tables are
emptied first, so running it again gives the same result.

    DATABASE_URL=postgres://... python3 copy_data.py state/proxy_agents.db users projects ...

Prints {"rows": {table: count}} on stdout.
"""

import io
import json
import os
import sqlite3
import subprocess
import sys

BATCH = 1000


def field(value):
    """One CSV field as PostgreSQL's COPY reads it: NULL is an unquoted empty
    field, text is always quoted (so an empty string stays one)."""
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    return '"' + str(value).replace('"', '""') + '"'


def main():
    source, tables = sys.argv[1], sys.argv[2:]
    db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    script = io.StringIO()
    script.write("\\set ON_ERROR_STOP on\nBEGIN;\n")
    script.write(f"TRUNCATE {', '.join(tables)} CASCADE;\n")
    rows = {}
    for table in tables:
        cursor = db.execute(f'SELECT * FROM "{table}"')
        columns = ", ".join(d[0] for d in cursor.description)
        script.write(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv);\n")
        count = 0
        while batch := cursor.fetchmany(BATCH):
            script.writelines(",".join(map(field, row)) + "\n" for row in batch)
            count += len(batch)
            print(f"{table}: {count} rows", file=sys.stderr)
        script.write("\\.\n")
        rows[table] = count
    script.write("COMMIT;\n")
    done = subprocess.run(
        ["psql", "-X", "-q", "-d", os.environ["DATABASE_URL"]],
        input=script.getvalue(),
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"psql failed (exit {done.returncode}); nothing was committed")
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
