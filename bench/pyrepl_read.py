"""Peer reader: python-mysql-replication decoding one binlog file over the replication protocol.

Usage: pyrepl_read.py PORT FILE TABLE ROWS
Reads from FILE:4 (non-blocking), decodes every rows event of bench.TABLE, touches every value of
every row (they are converted to Python objects: int, Decimal, datetime, str...) and stops after
ROWS rows. Prints the row count. Settings as in MariaDB's sql/log_event.h (https://github.com/MariaDB/server/blob/11.4/sql/log_event.h) (is_mariadb=False:
with True and no auto_position, 1.0.17 ignores log_file/log_pos).
"""

import os
import sys

from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent


def main() -> None:
    port, log_file, table, want = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    stream = BinLogStreamReader(
        connection_settings={"host": "127.0.0.1", "port": port, "user": "cdc_repl", "passwd": "cdc_repl_pw"},
        server_id=8800 + os.getpid() % 1000,
        log_file=log_file,
        log_pos=4,
        resume_stream=True,
        blocking=False,
        is_mariadb=False,
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
        only_schemas=["bench"],
        only_tables=[table],
    )
    rows = 0
    touched = 0
    try:
        for ev in stream:
            for row in ev.rows:
                values = row.get("values") or row.get("after_values") or {}
                for v in values.values():
                    if v is not None:
                        touched += 1
                rows += 1
            if rows >= want:
                break
    finally:
        stream.close()
    print(rows, touched)


if __name__ == "__main__":
    main()
