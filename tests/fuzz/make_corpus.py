#!/usr/bin/env python3
"""Writes the hand-made seed corpus of the fuzz targets into corpus/<target>/.

Run from anywhere: python3 tests/fuzz/make_corpus.py. Files are small valid
and near-valid inputs; libFuzzer grows its own corpus from them (keep grown
corpora out of the tree, or minimize with -merge=1 first).
"""
import hashlib
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- config -------------------------------------------------------------
with open(os.path.join(HERE, "..", "..", "config", "example.yaml")) as f:
    put("config", "example.yaml", f.read())
MIN = """data_dir: /var/lib/frb
indexes:
  - name: a
    source: { path: /src/a.npy, format: npy }
    dimension: 4
    metric: L2
    factory: "IVF2,Flat"
    search: { nprobe: 2 }
    schedule: "0 3 * * *"
    timezone: "Australia/Adelaide"
"""
put("config", "minimal.yaml", MIN)
put("config", "full.yaml", """data_dir: /d
backup_dir: /b
http: { listen: "127.0.0.1:9464", token_file: /etc/tok }
search_server: { listen: "0.0.0.0:9465" }
scheduler: { timezone: "UTC", max_concurrent_builds: 2, failure_cooldown: "1h30m", misfire: skip }
defaults:
  timeout: "4h"
  threads: 2
  keep_versions: 3
  train_sample: 1000
  add_batch: 512
  validation: { k: 10, queries: 100, min_recall: 0.9, max_p99_ms: 50, max_count_change: 0.2,
                max_size_change: 0.5, latency_queries: 50, max_recall_drop_vs_live: 0.01,
                seed: 7, query_file: /src/q.npy }
  backups: { keep_last: 7, keep_daily: 7, keep_weekly: 4, zstd_level: 3, zstd_workers: 2,
             byte_shuffle: true }
indexes:
  - name: a
    source: { path: /src/a.npy, format: npy }
    dimension: 4
    metric: IP
    factory: "HNSW16"
    search: { efSearch: 64 }
    schedule: "@daily"
  - name: b-2
    source: { path: /src/b.fvecs, format: fvecs }
    dimension: 4
    metric: L2
    factory: "Flat"
    timeout: 90s
    validation: { k: 5 }
""")
put("config", "unknown_key.yaml", MIN + "    colour: blue\n")
put("config", "bad_cron_tz.yaml", MIN.replace('"0 3 * * *"', '"0 25 * * *"').replace("Australia/Adelaide", "Mars/Base"))
put("config", "wrong_types.yaml", "data_dir: [1, 2]\nindexes: { name: x }\nscheduler: { max_concurrent_builds: -1 }\n")
put("config", "duplicate.yaml", MIN + MIN.split("indexes:\n", 1)[1])
put("config", "anchors.yaml", """defaults: &d
  timeout: "1d"
x: *d
data_dir: /d
indexes:
  - &i { name: a, source: { path: /src/a.npy, format: npy }, dimension: 4, factory: Flat }
  - *i
""")
put("config", "malformed.yaml", "data_dir: /d\nindexes:\n  - name: [unclosed\n    dimension: 4\n")
put("config", "tabs_and_bom.yaml", "\ufeffdata_dir:\t/d\n\tindexes: []\n")
put("config", "empty.yaml", "")

# ---- cron ---------------------------------------------------------------
for i, expr in enumerate([
        "0 3 * * *", "@daily", "@hourly", "@weekly", "@monthly", "@yearly", "@midnight",
        "*/15 9-17 * * MON-FRI", "0 0 1 * MON", "0 0 */2 * MON", "30 2 * * *",
        "30 * * * *", "*/5 1 * * *", "0 9 * * fri,mon-thu", "0 0 29 2 *", "0 0 31 * *",
        "5-10/2,30 */3 1-15 JAN-jun 0-7", "0 12 * * FRI-SUN", "*/10 * * * * *",
        "0 30 2 * * *", "0 0 30 2 *", "0 25 * * *", "60 * * * *", "* * * *",
        "1-0 * * * *", "*/0 * * * *", "@reboot", "0 0 * * 8", "0 0 * JANX *", ""]):
    put("cron", "c%02d" % i, expr)


# ---- source -------------------------------------------------------------
def npy(shape, data=b"", descr="<f4", fortran="False", version=(1, 0)):
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)
    pre = 10 if version[0] == 1 else 12
    while (pre + len(header) + 1) % 64:
        header += " "
    header += "\n"
    out = b"\x93NUMPY" + bytes(version)
    out += struct.pack("<H" if version[0] == 1 else "<I", len(header)) + header.encode()
    return out + data


def f32(vals):
    return b"".join(struct.pack("<f", v) for v in vals)


rows = [[0.5 * r + c for c in range(4)] for r in range(3)]
flat = [v for r in rows for v in r]
put("source", "ok.npy", npy("(3, 4)", f32(flat)))
put("source", "ok_v2.npy", npy("(3, 4)", f32(flat), version=(2, 0)))
put("source", "nan.npy", npy("(3, 4)", f32(flat[:5] + [float("nan")] + flat[6:])))
put("source", "inf.npy", npy("(3, 4)", f32(flat[:9] + [float("inf")] + flat[10:])))
put("source", "truncated.npy", npy("(3, 4)", f32(flat)[:-3]))
put("source", "f8.npy", npy("(3, 4)", b"\0" * 96, descr="<f8"))
put("source", "fortran.npy", npy("(3, 4)", f32(flat), fortran="True"))
put("source", "1d.npy", npy("(12,)", f32(flat)))
put("source", "big_shape.npy", npy("(4611686018427387904, 4)", f32(flat)))
put("source", "ok.fvecs", b"".join(struct.pack("<i", 4) + f32(r) for r in rows))
put("source", "bad_row.fvecs", struct.pack("<i", 4) + f32(rows[0]) + struct.pack("<i", 3) + f32(rows[1]))
put("source", "ok.bvecs", b"".join(struct.pack("<i", 4) + bytes([1, 2, 3, r]) for r in range(3)))
put("source", "huge_dim.bvecs", struct.pack("<i", 1 << 30) + b"\1\2\3\4")
put("source", "raw.f32", f32(flat))

# ---- manifest -----------------------------------------------------------
H = "ab" * 32


def seal(doc, key):
    body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    doc = dict(doc)
    doc[key] = hashlib.sha256(body.encode()).hexdigest()
    return json.dumps(doc, indent=2) + "\n"


validation = {"passed": True, "failures": [], "checksum_ok": True, "dim": 4, "metric": "L2",
              "ntotal": 3, "expected_ntotal": 3, "k": 10, "queries": 100, "recall": 0.95,
              "recall_ci_low": 0.9, "recall_ci_high": 0.98, "search_params": {"nprobe": 2.0},
              "latency_queries": 50, "p50_ms": 0.5, "p99_ms": 1.25, "live_ntotal": 3,
              "count_change": 0.0, "seconds": 0.5}
manifest = {"format_version": 1, "index": "a", "version": "v000002-20261121T130501Z",
            "parent_version": "v000001-20261120T130501Z", "created_unix_ms": 1763730301123,
            "created": "2025-11-21T13:05:01.123Z", "job_id": "j-7",
            "source": {"path": "/src/a.npy", "size": 176, "mtime_ns": 1763730301000000000,
                       "sha256": H, "count": 3, "dim": 4},
            "factory": "IVF2,Flat", "metric": "L2", "dim": 4, "ntotal": 3,
            "file": {"name": "index.faiss", "size": 1234, "sha256": H},
            "build": {"train_vectors": 3, "threads": 2, "stage_seconds": {"training": 0.25}},
            "validation": validation}
put("manifest", "manifest.json", seal(manifest, "manifest_sha256"))
restored = dict(manifest, restored_from="v000001-20261120T130501Z")
put("manifest", "restored.json", seal(restored, "manifest_sha256"))
backup = {"format_version": 1, "index": "a", "version": "v000002-20261121T130501Z",
          "created_unix_ms": 1763730302000, "created": "2025-11-21T13:05:02.000Z",
          "version_created_unix_ms": 1763730301123, "file": "v000002-20261121T130501Z.faiss.zst",
          "size": 1234, "sha256": H, "compressed_size": 321, "compressed_sha256": H,
          "zstd_level": 3, "zstd_workers": 2, "shuffle_block": 0, "compress_seconds": 0.5,
          "read_mb_per_s": 12.5, "version_manifest": manifest}
put("manifest", "backup.json", seal(backup, "backup_manifest_sha256"))
put("manifest", "bad_checksum.json", seal(manifest, "manifest_sha256").replace('"j-7"', '"j-8"'))
put("manifest", "format2.json", seal(dict(manifest, format_version=2), "manifest_sha256"))
put("manifest", "no_source.json", seal({k: v for k, v in manifest.items() if k != "source"},
                                       "manifest_sha256"))
put("manifest", "not_object.json", "[1, 2, 3]\n")

# ---- json ---------------------------------------------------------------
for i, text in enumerate([
        '{"trigger":"cli"}', '{"version":"v000001-20261121T130501Z"}', '{"version":"../etc"}',
        '{"version":7}', '{}', '[]', 'null', 'true', '-0', '1.5e300', '1e400', '-9223372036854775808',
        '9223372036854775808', '"\\ud83d\\ude00 \\u00e9 \\u0000"', '"\\ud800"', '"\xff"',
        '{"a":[1,2,{"b":null}],"a":2}', '[[[[[[[[[[1]]]]]]]]]]', '{"a":1,}', '01', '1.', '"\t"',
        ' \n{ "x" : [ 1 , 2.0 , -3e-2 ] } \n', '{"a":1} x', '']):
    put("json", "j%02d" % i, text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text)
put("json", "invalid_utf8", b'{"k":"\xc3\x28"}')
put("json", "status.json", json.dumps({"indexes": [{"name": "a", "live": {"version": "v1",
                                         "ntotal": 3}, "next_run": None}], "ok": True}, indent=2))

# ---- search_request (indexes of dimension 4) ---------------------------
for i, text in enumerate([
        '{"vector":[0.1,0.2,0.3,0.4],"k":3}', '{"vector":[0,0,0,0]}',
        '{"vectors":[[1,2,3,4],[4,3,2,1]],"k":5}', '{"vector":[1,2,3,4],"k":2,"nprobe":2}',
        '{"vector":[1,2,3,4],"k":2,"efSearch":16}', '{"vector":[1,2,3],"k":2}',
        '{"vector":[1,2,3,1e39],"k":2}', '{"vector":[1,2,3,4],"k":0}', '{"vector":[1,2,3,4],"k":1.5}',
        '{"vectors":[]}', '{"vectors":[[1,2,3,4]],"vector":[1,2,3,4]}', '{"vector":[1,2,3,4],"x":1}',
        '{"vector":"abcd"}', '{"vector":[1,2,3,4],"nprobe":100000}', '[1,2,3,4]', '{"vector":[1,2,3,4],"k":100}',
        '{"vectors":[[1,2,3,4],[1,2,3]]}', '{"vector":[1,2,3,4],"k":-1}', '{"vector":[[[[[[[[[1]]]]]]]]]}']):
    put("search_request", "r%02d" % i, text)

# ---- timezone -----------------------------------------------------------
for i, rule in enumerate(["EST5EDT,M3.2.0,M11.1.0", "CET-1CEST,M3.5.0,M10.5.0/3", "<+0530>-5:30",
                          "ACST-9:30ACDT,M10.1.0,M4.1.0/3", "UTC0", "EST5", "XXX3YYY,J60/2,300/-1",
                          "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", "2026-03-08T02:30:00",
                          "2026-11-01T01:30:00-05:00", "2026-03-08 03:00Z", "9999-12-31T23:59:59.999+14:00"]):
    put("timezone", "p%02d" % i, rule)
for zone in ["America/New_York", "Australia/Adelaide", "Asia/Kolkata", "Europe/Dublin", "Pacific/Apia"]:
    path = os.path.join("/usr/share/zoneinfo", zone)
    if os.path.exists(path):
        with open(path, "rb") as f:
            put("timezone", zone.replace("/", "_") + ".tzif", f.read())
