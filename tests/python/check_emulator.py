#!/usr/bin/env python3
"""Cross-checks the DataHub emulator with the official SDK, pydatahub 2.29.0.

Usage:
  check_emulator.py [--endpoint URL] [--access-id ID] [--access-key KEY] [--project P]
  check_emulator.py --read-back PROJECT TOPIC [EXPECTED.jsonl] [--endpoint ...]

Endpoint and keys default to $DATAHUB_ENDPOINT, $DATAHUB_ACCESS_ID, $DATAHUB_ACCESS_KEY.
The admin endpoint (fault injection) is <endpoint>/__emulator.

Check mode creates its own topics (CreateTopic) in PROJECT (created when missing) and exits
non-zero with a message on the first mismatch.

Read-back mode reads every shard of PROJECT/TOPIC with pydatahub (JSON protocol) and prints one
JSON line per record: {"shard_id","sequence","system_time","data","attributes"}, where data is
the base64 text for BLOB and, for TUPLE, a list with JSON-native values as pydatahub casts them
(int, float, bool, str; DECIMAL as its text; NULL as null). With EXPECTED.jsonl, each expected
line must match one read record on the keys it holds (a multiset match); missing or extra
records make it exit 1.
"""

import argparse
import base64
import decimal
import json
import os
import sys
import tempfile
import urllib.request
import uuid

from datahub import DataHub, DatahubProtocolType
from datahub.client import DatahubProducer, ProducerConfig
import requests
from datahub.exceptions import (AuthorizationFailedException, ResourceNotFoundException, DatahubException,
                                LimitExceededException, InternalServerException, ResourceExistException,
                                SeekOutOfRangeException, ShardSealedException, InvalidParameterException)
from datahub.rest import Path
from datahub.models import (BlobRecord, CompressFormat, CursorType, FieldType, RecordSchema,
                            RecordType, ShardState, TupleRecord)


class Mismatch(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Mismatch(what)


def admin(endpoint, path, payload):
    req = urllib.request.Request(endpoint + "/__emulator" + path, data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def admin_delete(endpoint, path):
    req = urllib.request.Request(endpoint + "/__emulator" + path, method="DELETE")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def read_shard(dh, project, topic, shard_id, schema=None):
    """All records of a shard, from OLDEST to the end."""
    out = []
    cursor = dh.get_cursor(project, topic, shard_id, CursorType.OLDEST).cursor
    while True:
        if schema is None:
            res = dh.get_blob_records(project, topic, shard_id, cursor, 1000)
        else:
            res = dh.get_tuple_records(project, topic, shard_id, schema, cursor, 1000)
        out.extend(res.records)
        if res.record_count == 0:
            return out
        cursor = res.next_cursor


SCHEMA_FIELDS = [
    ("f_bigint", FieldType.BIGINT), ("f_integer", FieldType.INTEGER), ("f_smallint", FieldType.SMALLINT),
    ("f_tinyint", FieldType.TINYINT), ("f_double", FieldType.DOUBLE), ("f_float", FieldType.FLOAT),
    ("f_bool", FieldType.BOOLEAN), ("f_ts", FieldType.TIMESTAMP), ("f_string", FieldType.STRING),
    ("f_decimal", FieldType.DECIMAL),
]


def tuple_rows():
    return [
        [9223372036854775807, -2147483648, 32767, -128, 10.01, 1.5, True, 1455869335000000, "héllo 世界",
         decimal.Decimal("-12345678901234567890.000123")],
        [-42, 0, 0, 0, 0.1, 0.0, False, 0, "", decimal.Decimal("0")],
        [None, None, None, None, None, None, None, None, None, None],
        [1, 2, 3, 4, 1e20, -2.5, True, -62135596800000000, "x" * 5000, decimal.Decimal("1.5")],
    ]


def check(args):
    ep, pid, key, project = args.endpoint, args.access_id, args.access_key, args.project
    dh = DataHub(pid, key, ep)  # JSON + LZ4
    dh_pb = DataHub(pid, key, ep, protocol_type=DatahubProtocolType.PB, compress_format=CompressFormat.NONE)
    dh_pb_lz4 = DataHub(pid, key, ep, protocol_type=DatahubProtocolType.PB)
    suffix = uuid.uuid4().hex[:8]

    # --- projects
    try:
        dh.get_project(project)
    except ResourceNotFoundException:
        dh.create_project(project, "created by check_emulator.py")
    proj = dh.get_project(project)
    expect(isinstance(proj.comment, str), "get_project: comment")
    print("ok get_project")

    # --- wrong key refused
    bad = DataHub(pid, key + "x", ep)
    try:
        bad.get_project(project)
        raise Mismatch("a client with a wrong key was accepted")
    except AuthorizationFailedException:
        pass
    print("ok wrong key -> AuthorizationFailedException")

    # --- BLOB topic, 3 shards
    blob_topic = "blob_" + suffix
    dh.create_blob_topic(project, blob_topic, 3, 7, "blob topic")
    dh.wait_shards_ready(project, blob_topic, 10)
    t = dh.get_topic(project, blob_topic)
    expect(t.record_type == RecordType.BLOB, "get_topic: BLOB record type, got %r" % t.record_type)
    expect(t.shard_count == 3 and t.life_cycle == 7, "get_topic: shard_count/life_cycle %r/%r" % (t.shard_count, t.life_cycle))
    shards = dh.list_shard(project, blob_topic).shards
    expect([s.shard_id for s in shards] == ["0", "1", "2"], "list_shard ids")
    expect(all(s.state == ShardState.ACTIVE for s in shards), "list_shard states")
    expect([s.begin_hash_key for s in shards] == ["0" * 32, "5" * 32, "A" * 32], "list_shard begin keys %r" % [s.begin_hash_key for s in shards])
    print("ok create/get_topic/list_shard (BLOB)")

    blobs = [bytes(range(256)), b"", b"hello", b"compressible " * 200, os.urandom(1000)]
    recs = []
    for i, b in enumerate(blobs):
        if b == b"":
            continue  # pydatahub refuses empty blob data client-side
        r = BlobRecord(blob_data=b)
        r.shard_id = str(i % 3)
        r.put_attribute("i", str(i))
        r.put_attribute("k ü", "v=1&x")
        recs.append(r)
    pk = BlobRecord(blob_data=b"routed by partition key")
    pk.partition_key = "user-0"  # MD5 B01A0E23… -> shard 2 (begins AAAA…)
    recs.append(pk)
    hk = BlobRecord(blob_data=b"routed by hash key")
    hk.hash_key = "4FFFFFFFFFFFFFFD7FFFFFFFFFFFFFFD"  # -> shard 0 (below 5555…)
    recs.append(hk)
    res = dh.put_records(project, blob_topic, recs)
    expect(res.failed_record_count == 0, "JSON put_records BLOB failed: %r" % res.failed_records)

    got = {sid: read_shard(dh, project, blob_topic, sid) for sid in ["0", "1", "2"]}
    want = {"0": [], "1": [], "2": []}
    for r in recs[:-2]:
        want[r.shard_id].append((r.blob_data, dict(r.attributes)))
    want["2"].append((b"routed by partition key", {}))
    want["0"].append((b"routed by hash key", {}))
    for sid in want:
        seen = [(r.blob_data, dict(r.attributes or {})) for r in got[sid]]
        expect(seen == want[sid], "JSON get_blob_records shard %s: got %r want %r" % (sid, seen, want[sid]))
        expect([r.sequence for r in got[sid]] == list(range(len(seen))), "sequences of shard %s" % sid)
        expect(all(r.system_time > 1.5e12 for r in got[sid]), "system_time is epoch ms")
    print("ok JSON put_records/get_blob_records BLOB (LZ4), routing by ShardId/PartitionKey/HashKey")

    # --- cursors
    first = got["0"][0]
    c = dh.get_cursor(project, blob_topic, "0", CursorType.SEQUENCE, 1)
    expect(c.sequence == 1, "get_cursor SEQUENCE")
    c = dh.get_cursor(project, blob_topic, "0", CursorType.SYSTEM_TIME, first.system_time)
    expect(c.sequence == 0 and c.record_time == first.system_time, "get_cursor SYSTEM_TIME")
    c = dh.get_cursor(project, blob_topic, "0", CursorType.LATEST)
    expect(c.sequence == len(got["0"]) - 1, "get_cursor LATEST")
    try:
        dh.get_cursor(project, blob_topic, "0", CursorType.SEQUENCE, 1000000)
        raise Mismatch("get_cursor beyond the data was accepted")
    except SeekOutOfRangeException:
        pass
    print("ok get_cursor OLDEST/LATEST/SEQUENCE/SYSTEM_TIME, SeekOutOfRange")

    # --- PB BLOB: put_records and put_records_by_shard, read back with PB and JSON
    pb_recs = [BlobRecord(blob_data=b"pb-%d" % i) for i in range(3)]
    for r in pb_recs:
        r.shard_id = "1"
        r.put_attribute("pb", "1")
    res = dh_pb.put_records(project, blob_topic, pb_recs)
    expect(res.failed_record_count == 0, "PB put_records failed: %r" % res.failed_records)
    by_shard = [BlobRecord(blob_data=b"by-shard " * 50 + str(i).encode()) for i in range(4)]
    dh_pb_lz4.put_records_by_shard(project, blob_topic, "1", by_shard)
    before = len(want["1"])
    for dh_reader in (dh, dh_pb):
        rs = read_shard(dh_reader, project, blob_topic, "1")[before:]
        seen = [r.blob_data for r in rs]
        expect(seen == [r.blob_data for r in pb_recs + by_shard], "PB written BLOBs read back: %r" % seen)
    print("ok PB put_records, PB put_records_by_shard (LZ4), PB/JSON get_blob_records")

    # --- TUPLE topic
    tuple_topic = "tuple_" + suffix
    schema = RecordSchema.from_lists([n for n, _ in SCHEMA_FIELDS], [t for _, t in SCHEMA_FIELDS])
    dh.create_tuple_topic(project, tuple_topic, 2, 3, schema, "tuple topic")
    t = dh.get_topic(project, tuple_topic)
    expect(t.record_type == RecordType.TUPLE, "get_topic TUPLE")
    expect([(f.name, f.type) for f in t.record_schema.field_list] == SCHEMA_FIELDS, "get_topic schema %r" % t.record_schema)
    rows = tuple_rows()
    for client, name, sid in ((dh, "JSON", "0"), (dh_pb, "PB", "1")):
        trecs = []
        for row in rows:
            r = TupleRecord(schema=schema, values=row)
            r.shard_id = sid
            r.put_attribute("proto", name)
            trecs.append(r)
        res = client.put_records(project, tuple_topic, trecs)
        expect(res.failed_record_count == 0, "%s put_records TUPLE failed: %r" % (name, res.failed_records))
        for reader_name, reader in (("JSON", dh), ("PB", dh_pb)):
            rs = read_shard(reader, project, tuple_topic, sid, schema)
            seen = [list(r.values) for r in rs]
            want_rows = rows
            if reader_name == "PB":
                # pydatahub's PB decoder cannot tell a FieldData without value (NULL) from "" and
                # returns "" for STRING (non-STRING "" becomes None): an SDK property, the
                # emulator sends NULL as a FieldData without value (datahub-protocol §4.2).
                want_rows = [["" if (v is None and t == FieldType.STRING) else v
                              for v, (_, t) in zip(row, SCHEMA_FIELDS)] for row in rows]
            expect(seen == want_rows, "%s-written TUPLE read with %s:\n got  %.2000r\n want %.2000r" % (name, reader_name, seen, want_rows))
            expect(all(r.attributes == {"proto": name} for r in rs), "TUPLE attributes")
    dh_pb.put_records_by_shard(project, tuple_topic, "0", [TupleRecord(schema=schema, values=rows[0])])
    rs = read_shard(dh_pb, project, tuple_topic, "0", schema)
    expect(list(rs[-1].values) == rows[0] and rs[-1].sequence == len(rows), "PB put_records_by_shard TUPLE")
    print("ok TUPLE JSON/PB put_records, put_records_by_shard, get_tuple_records (all types, NULL, \"\")")

    check_topic_lifecycle(dh, dh_pb, project, suffix, blob_topic)

    # --- malformed TUPLE refused
    bad_rec = TupleRecord(schema=RecordSchema.from_lists(["a"], [FieldType.STRING]), values=["x"])
    bad_rec.shard_id = "0"
    try:
        dh.put_records(project, tuple_topic, [bad_rec])
        raise Mismatch("a TUPLE record with the wrong arity was accepted")
    except InvalidParameterException as e:
        expect(e.error_code == "MalformedRecord", "wrong arity error code %r" % e.error_code)
    print("ok wrong-arity TUPLE -> MalformedRecord")

    # --- injected per-record failure (every 2nd record of the next PutRecords)
    admin(ep, "/faults", {"op": "PutRecords", "kind": "partial_failure", "every": 2, "code": "LimitExceeded"})
    n0 = len(read_shard(dh, project, blob_topic, "2"))
    prs = []
    for i in range(4):
        r = BlobRecord(blob_data=b"partial-%d" % i)
        r.shard_id = "2"
        prs.append(r)
    res = dh.put_records(project, blob_topic, prs)
    expect(res.failed_record_count == 2, "partial failure count %r" % res.failed_record_count)
    expect([(f.index, f.error_code) for f in res.failed_records] == [(1, "LimitExceeded"), (3, "LimitExceeded")],
           "partial failure records %r" % [(f.index, f.error_code) for f in res.failed_records])
    rs = read_shard(dh, project, blob_topic, "2")[n0:]
    expect([r.blob_data for r in rs] == [b"partial-0", b"partial-2"], "only the successful records are stored")
    print("ok injected per-record failure visible in FailedRecords")

    # --- sealed shard
    admin(ep, "/shards/seal", {"project": project, "topic": blob_topic, "shard": "1"})
    states = {s.shard_id: s.state for s in dh.list_shard(project, blob_topic).shards}
    expect(states["1"] == ShardState.CLOSED, "sealed shard state %r" % states["1"])
    try:
        dh_pb.put_records_by_shard(project, blob_topic, "1", [BlobRecord(blob_data=b"x")])
        raise Mismatch("put_records_by_shard on a sealed shard succeeded")
    except ShardSealedException:
        pass
    r = BlobRecord(blob_data=b"to sealed")
    r.shard_id = "1"
    res = dh.put_records(project, blob_topic, [r])
    expect(res.failed_record_count == 1 and res.failed_records[0].error_code == "InvalidShardOperation",
           "JSON put_records to a sealed shard: %r" % res.failed_records)
    print("ok sealed shard -> ShardSealedException / FailedRecords InvalidShardOperation")

    # --- the SDK's DatahubProducer: GetTopic + ListShard, then PB (+LZ4 when smaller)
    #     PutRecordsByShard round-robin over the ACTIVE shards
    prod_topic = "producer_" + suffix
    dh.create_blob_topic(project, prod_topic, 2, 1, "producer topic")
    cfg = ProducerConfig(pid, key, ep)
    log_fd, log_path = tempfile.mkstemp(prefix="pydatahub-producer-", suffix=".log")
    os.close(log_fd)
    cfg.logging_filename = log_path
    producer = DatahubProducer(project, prod_topic, cfg)
    try:
        sent = [b"producer-%d " % i * (1 + 40 * (i % 2)) for i in range(6)]
        for b in sent:
            producer.write([BlobRecord(blob_data=b)])
        for b in sent[:2]:
            producer.write_async([BlobRecord(blob_data=b + b"async")])
        producer.flush()
    finally:
        producer.close()
        os.unlink(log_path)
    per_shard = {sid: [r.blob_data for r in read_shard(dh, project, prod_topic, sid)] for sid in ("0", "1")}
    everything = sorted(per_shard["0"] + per_shard["1"])
    expect(everything == sorted(sent + [b + b"async" for b in sent[:2]]),
           "DatahubProducer records read back: %r" % per_shard)
    expect(per_shard["0"] and per_shard["1"], "DatahubProducer wrote round-robin to both shards: %r" % per_shard)
    print("ok DatahubProducer write/write_async (PB PutRecordsByShard) read back")

    # --- injected whole-request errors map to the SDK's exception classes; a dropped
    #     connection surfaces as a connection error
    for code, exc in (("LimitExceeded", LimitExceededException), ("InternalServerError", InternalServerException),
                      ("ServiceUnavailable", DatahubException), ("Unauthorized", AuthorizationFailedException)):
        admin(ep, "/faults", {"op": "GetTopic", "kind": "error", "code": code})
        try:
            dh.get_topic(project, blob_topic)
            raise Mismatch("injected %s was not raised" % code)
        except exc as e:
            expect(e.error_code == code, "injected %s came back as %r" % (code, e.error_code))
    admin(ep, "/faults", {"op": "ListShard", "kind": "drop", "times": {"next": 10}})
    try:
        dh.list_shard(project, blob_topic)
        raise Mismatch("a dropped connection returned a result")
    except (requests.exceptions.ConnectionError, DatahubException) as e:
        expect(not isinstance(e, Mismatch), "dropped connection")
    admin_delete(ep, "/faults")
    expect(len(dh.list_shard(project, blob_topic).shards) == 3, "served again after clearing faults")
    print("ok injected LimitExceeded/InternalServerError/ServiceUnavailable/Unauthorized and dropped connections")
    print("ALL CHECKS PASSED")


def expect_error(call, exc, code, what):
    """`call()` must raise `exc` with ErrorCode `code` (pydatahub maps the code to the class)."""
    try:
        call()
    except exc as e:
        expect(e.error_code == code, "%s: ErrorCode %r, want %r (%s)" % (what, e.error_code, code, e))
        return
    raise Mismatch("%s was accepted" % what)


def raw_post(dh, path, body):
    """A signed POST of a JSON body the SDK's own checks would refuse before sending."""
    return dh._datahub_impl._rest_client.post(path, data=json.dumps(body))


def check_topic_lifecycle(dh, dh_pb, project, suffix, blob_topic):
    """CreateTopic (TUPLE with NOT NULL, BLOB), AppendField, DeleteTopic and their errors."""
    topic = "schema_" + suffix
    schema = RecordSchema.from_lists(["id", "name"], [FieldType.BIGINT, FieldType.STRING],
                                     comments=["the key", ""], allow_nulls=[False, True])
    dh.create_tuple_topic(project, topic, 1, 1, schema, "schema evolution")
    t = dh.get_topic(project, topic)
    got = [(f.name, f.type, f.allow_null, f.comment) for f in t.record_schema.field_list]
    expect(got == [("id", FieldType.BIGINT, False, "the key"), ("name", FieldType.STRING, True, "")],
           "get_topic of a created TUPLE topic: %r" % got)
    expect(t.shard_count == 1 and t.life_cycle == 1 and t.comment == "schema evolution", "created topic meta")
    old_rows = [[1, "a"], [2, None]]
    res = dh.put_records(project, topic, [with_shard(TupleRecord(schema=schema, values=r), "0") for r in old_rows])
    expect(res.failed_record_count == 0, "put to a created TUPLE topic: %r" % res.failed_records)
    # (pydatahub refuses this one itself; sent raw, the emulator must refuse it too)
    expect_error(lambda: raw_post(dh, Path.SHARDS % (project, topic),
                                  {"Action": "pub", "Records": [{"ShardId": "0", "Data": [None, "x"]}]}),
                 InvalidParameterException, "MalformedRecord", "NULL in a NOT NULL field of a created topic")

    # AppendField: a nullable field at the end; stored records read it as NULL
    dh.append_field(project, topic, "score", FieldType.DOUBLE)
    dh.append_field(project, topic, "at", FieldType.TIMESTAMP)
    t = dh.get_topic(project, topic)
    got = [(f.name, f.type, f.allow_null) for f in t.record_schema.field_list]
    expect(got == [("id", FieldType.BIGINT, False), ("name", FieldType.STRING, True),
                   ("score", FieldType.DOUBLE, True), ("at", FieldType.TIMESTAMP, True)],
           "get_topic after append_field: %r" % got)
    new_schema = t.record_schema
    new_rows = [[3, "c", 1.5, 1455869335000000], [4, None, None, None]]
    res = dh.put_records(project, topic, [with_shard(TupleRecord(schema=new_schema, values=new_rows[0]), "0")])
    expect(res.failed_record_count == 0, "JSON put with the appended fields: %r" % res.failed_records)
    dh_pb.put_records_by_shard(project, topic, "0", [TupleRecord(schema=new_schema, values=new_rows[1])])
    want = [r + [None, None] for r in old_rows] + new_rows
    seen = [list(r.values) for r in read_shard(dh, project, topic, "0", new_schema)]
    expect(seen == want, "records before and after append_field read back:\n got  %r\n want %r" % (seen, want))
    seen_pb = [list(r.values) for r in read_shard(dh_pb, project, topic, "0", new_schema)]
    expect([v[0] for v in seen_pb] == [1, 2, 3, 4] and seen_pb[2] == new_rows[0], "PB read after append_field: %r" % seen_pb)
    expect_error(lambda: dh.put_records(project, topic, [with_shard(TupleRecord(schema=schema, values=[5, "e"]), "0")]),
                 InvalidParameterException, "MalformedRecord", "a record with the schema before append_field")
    for name, ty, what in (("name", FieldType.STRING, "appending an existing field"),
                           ("SCORE", FieldType.BIGINT, "appending an existing field in another case"),
                           ("system_time", FieldType.BIGINT, "appending the reserved field system_time"),
                           ("x" * 129, FieldType.STRING, "appending a 129-character field name")):
        expect_error(lambda: dh.append_field(project, topic, name, ty), InvalidParameterException,
                     "InvalidParameter", what)
    expect_error(lambda: dh.append_field(project, blob_topic, "f", FieldType.STRING), InvalidParameterException,
                 "InvalidParameter", "append_field on a BLOB topic")
    expect_error(lambda: raw_post(dh, Path.TOPIC % (project, topic),
                                  {"Action": "appendfield", "FieldName": "f", "FieldType": "varchar"}),
                 InvalidParameterException, "InvalidParameter", "append_field with an unknown type")
    expect_error(lambda: dh.append_field(project, "no_such_" + suffix, "f", FieldType.STRING),
                 ResourceNotFoundException, "NoSuchTopic", "append_field on a missing topic")
    print("ok create_tuple_topic (NOT NULL, comments), append_field (old records read NULL), their errors")

    # CreateTopic errors
    expect_error(lambda: dh.create_tuple_topic(project, topic, 1, 1, schema, "again"), ResourceExistException,
                 "TopicAlreadyExist", "creating an existing topic")
    expect_error(lambda: dh.create_blob_topic(project, topic.upper(), 1, 1, "again"), ResourceExistException,
                 "TopicAlreadyExist", "creating an existing topic in another case")
    dup = RecordSchema.from_lists(["a", "A"], [FieldType.BIGINT, FieldType.STRING])
    reserved = RecordSchema.from_lists(["system_time"], [FieldType.BIGINT])
    for name, sc, lc, sch, what in (
            ("dup_" + suffix, 1, 1, dup, "a schema with a duplicate field"),
            ("res_" + suffix, 1, 1, reserved, "a schema with the reserved field system_time"),
            ("shards0_" + suffix, 0, 1, schema, "ShardCount 0"),
            ("shards257_" + suffix, 257, 1, schema, "ShardCount 257"),
            ("life8_" + suffix, 1, 8, schema, "Lifecycle 8")):
        expect_error(lambda: dh.create_tuple_topic(project, name, sc, lc, sch, "bad"), InvalidParameterException,
                     "InvalidParameter", "create_tuple_topic with " + what)
    good = {"ShardCount": 1, "Lifecycle": 1, "RecordType": "BLOB", "Comment": "raw"}
    for name, body, what in (
            ("1starts_with_digit", good, "a topic name starting with a digit"),
            ("has-dash", good, "a topic name with '-'"),
            ("t" * 129, good, "a 129-character topic name"),
            ("notype_" + suffix, dict(good, RecordType="ROW"), "RecordType ROW"),
            ("noschema_" + suffix, dict(good, RecordType="TUPLE"), "a TUPLE without RecordSchema"),
            ("badtype_" + suffix, dict(good, RecordType="TUPLE", RecordSchema=json.dumps(
                {"fields": [{"name": "a", "type": "varchar"}]})), "a field of unknown type"),
            ("nofields_" + suffix, dict(good, RecordType="TUPLE", RecordSchema='{"fields":[]}'), "no fields"),
            ("expand_" + suffix, dict(good, ExpandMode="sideways"), "ExpandMode sideways")):
        expect_error(lambda: raw_post(dh, Path.TOPIC % (project, name), body), InvalidParameterException,
                     "InvalidParameter", "CreateTopic with " + what)
    expect_error(lambda: dh.create_blob_topic("no_such_" + suffix, "t", 1, 1, "c"), ResourceNotFoundException,
                 "NoSuchProject", "create_blob_topic in a missing project")
    topics = dh.list_topic(project).topic_names
    expect(not any(n.startswith(("dup_", "res_", "shards", "life8_", "notype_", "noschema_", "badtype_",
                                 "nofields_", "expand_")) for n in topics), "a refused topic was created: %r" % topics)
    print("ok CreateTopic errors: TopicAlreadyExist, invalid names, shard count, lifecycle, schemas")

    # BLOB topic with ExpandMode, then DeleteTopic
    gone = "gone_" + suffix
    dh.create_blob_topic(project, gone, 2, 7, "to delete", extend_mode=True)
    r = with_shard(BlobRecord(blob_data=b"bytes"), "1")
    expect(dh.put_records(project, gone, [r]).failed_record_count == 0, "put to a created BLOB topic")
    expect([x.blob_data for x in read_shard(dh, project, gone, "1")] == [b"bytes"], "read a created BLOB topic")
    dh.delete_topic(project, gone)
    expect(gone not in dh.list_topic(project).topic_names, "a deleted topic is still listed")
    expect_error(lambda: dh.get_topic(project, gone), ResourceNotFoundException, "NoSuchTopic", "get_topic after delete")
    expect_error(lambda: dh.delete_topic(project, gone), ResourceNotFoundException, "NoSuchTopic",
                 "deleting a deleted topic")
    dh.create_blob_topic(project, gone, 1, 1, "again")
    expect(read_shard(dh, project, gone, "0") == [], "a re-created topic starts empty")
    print("ok create_blob_topic (extend mode), delete_topic, re-create")


def with_shard(record, shard_id):
    record.shard_id = shard_id
    return record


def jsonable(v):
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    return v


def read_back(args):
    project, topic = args.read_back[0], args.read_back[1]
    dh = DataHub(args.access_id, args.access_key, args.endpoint)
    t = dh.get_topic(project, topic)
    schema = t.record_schema if t.record_type == RecordType.TUPLE else None
    lines = []
    for s in dh.list_shard(project, topic).shards:
        for r in read_shard(dh, project, topic, s.shard_id, schema):
            data = base64.b64encode(r.blob_data).decode() if schema is None else [jsonable(v) for v in r.values]
            lines.append({"shard_id": s.shard_id, "sequence": r.sequence, "system_time": r.system_time,
                          "data": data, "attributes": dict(r.attributes or {})})
    for line in lines:
        print(json.dumps(line, ensure_ascii=False, sort_keys=True))
    if len(args.read_back) > 2:
        with open(args.read_back[2]) as f:
            expected = [json.loads(x) for x in f if x.strip()]
        remaining = list(lines)
        for e in expected:
            idx = next((i for i, l in enumerate(remaining) if all(l.get(k) == v for k, v in e.items())), None)
            if idx is None:
                raise Mismatch("expected record not found: %s" % json.dumps(e, ensure_ascii=False))
            remaining.pop(idx)
        if remaining:
            raise Mismatch("%d unexpected record(s), first: %s" % (len(remaining), json.dumps(remaining[0], ensure_ascii=False)))
        print("read-back: %d records match %s" % (len(expected), args.read_back[2]), file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", default=os.environ.get("DATAHUB_ENDPOINT"))
    p.add_argument("--access-id", default=os.environ.get("DATAHUB_ACCESS_ID"))
    p.add_argument("--access-key", default=os.environ.get("DATAHUB_ACCESS_KEY"))
    p.add_argument("--project", default=os.environ.get("DATAHUB_PROJECT", "check_project"))
    p.add_argument("--read-back", nargs="+", metavar="ARG", help="PROJECT TOPIC [EXPECTED.jsonl]")
    args = p.parse_args()
    if not (args.endpoint and args.access_id and args.access_key):
        p.error("endpoint, access id and access key are required (flags or DATAHUB_* env)")
    if args.read_back is not None and len(args.read_back) not in (2, 3):
        p.error("--read-back takes PROJECT TOPIC [EXPECTED.jsonl]")
    args.endpoint = args.endpoint.rstrip("/")
    try:
        if args.read_back:
            read_back(args)
        else:
            check(args)
    except Mismatch as e:
        print("MISMATCH: %s" % e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
