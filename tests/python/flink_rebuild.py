"""Rebuilds tables from debezium-json files with a real Flink (PyFlink), as a Flink user would.

Used by tests/tests/flink_debezium.rs (venv: scripts/flink-venv). The job file (JSON) names the
format options and, per table, the directory of debezium-json files (one change event per line),
the Flink columns and the primary key:

    {"options": {"debezium-json.timestamp-format.standard": "SQL"},
     "tables": [{"name": "w_nums", "path": "/tmp/x/w_nums",
                 "columns": [["id", "BIGINT"], ["d", "DECIMAL(20,6)"]], "key": ["id"]}]}

Each table is declared with the `filesystem` connector, `'format' = 'debezium-json'`, the given
options and `PRIMARY KEY (...) NOT ENFORCED`, in a streaming TableEnvironment with
`table.exec.source.cdc-events-duplicate = true` (Flink then de-duplicates the changelog on the
key, as at-least-once delivery requires) and `table.local-time-zone = UTC`. `SELECT` of every
column yields Flink's changelog (+I, -U, +U, -D), which is applied per key to get the final
table, as any upsert sink would.

Prints one JSON line per table: {"table": name, "rows": [{column: value}], "changes": n}.
Values are rendered from Flink's own values: TIMESTAMP, TIMESTAMP_LTZ (in UTC), TIME, DATE and
DECIMAL through `CAST(... AS STRING)` in Flink SQL (PyFlink's Python conversion would cut
fractions to milliseconds), BYTES as base64, numbers and strings as JSON numbers and strings,
NULL as null. A Flink failure (e.g. a value the declared type cannot parse) exits with status 1
and the Java cause chain on stderr.
"""

import argparse
import base64
import json
import sys

from pyflink.common import RowKind
from pyflink.table import EnvironmentSettings, TableEnvironment

CAST_AS_STRING = ("TIMESTAMP", "TIME", "DATE", "DECIMAL")


def quote(name):
    return "`" + name.replace("`", "``") + "`"


def render(flink_type, value):
    if value is None:
        return None
    if flink_type.upper().startswith("BYTES") or flink_type.upper().startswith("VARBINARY"):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def rebuild(env, table):
    name, columns, key = table["name"], table["columns"], table["key"]
    select = []
    for col, ty in columns:
        if ty.upper().startswith(CAST_AS_STRING):
            select.append(f"CAST({quote(col)} AS STRING)")
        else:
            select.append(quote(col))
    state = {}
    changes = 0
    key_idx = [i for i, (c, _) in enumerate(columns) if c in key]
    with env.execute_sql(f"SELECT {', '.join(select)} FROM {quote(name)}").collect() as results:
        for row in results:
            changes += 1
            values = [render(ty, row[i]) for i, (_, ty) in enumerate(columns)]
            k = json.dumps([values[i] for i in key_idx])
            kind = row.get_row_kind()
            if kind in (RowKind.INSERT, RowKind.UPDATE_AFTER):
                state[k] = {c: v for (c, _), v in zip(columns, values)}
            elif kind in (RowKind.UPDATE_BEFORE, RowKind.DELETE):
                state.pop(k, None)
    return {"table": name, "rows": list(state.values()), "changes": changes}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("job", help="the job file (JSON)")
    job = json.load(open(ap.parse_args().job))
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = env.get_config()
    conf.set("parallelism.default", "1")
    conf.set("table.exec.source.cdc-events-duplicate", "true")
    conf.set("table.local-time-zone", "UTC")
    options = {"connector": "filesystem", "format": "debezium-json", **job.get("options", {})}
    for t in job["tables"]:
        cols = ",\n  ".join(f"{quote(c)} {ty}" for c, ty in t["columns"])
        with_ = ", ".join(f"'{k}' = '{v}'" for k, v in {**options, "path": t["path"]}.items())
        ddl = (
            f"CREATE TABLE {quote(t['name'])} (\n  {cols},\n"
            f"  PRIMARY KEY ({', '.join(quote(k) for k in t['key'])}) NOT ENFORCED\n) WITH ({with_})"
        )
        print(ddl, file=sys.stderr)
        env.execute_sql(ddl)
    for t in job["tables"]:
        try:
            out = rebuild(env, t)
        except Exception as e:  # py4j wraps the Java exception; keep its causes readable
            causes = [l.strip() for l in str(e).splitlines() if l.strip().startswith("Caused by")]
            print(f"Flink failed on table {t['name']}:", file=sys.stderr)
            for line in causes or str(e).splitlines()[:5]:
                print("  " + line[:400], file=sys.stderr)
            sys.exit(1)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
