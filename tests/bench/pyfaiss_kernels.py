#!/usr/bin/python3
"""Single-query cost of two FAISS Python modules on the same IVF index.

  pyfaiss_kernels.py --pythonpath DIR [--n 200000] [--dim 128] [--nlist 800]
                     [--nprobe 16] [--queries 2000] [--rounds 3] [--index FILE]

Compares the python3-faiss module found by default (Debian's) with the one
under DIR (e.g. the bindings .ci/build-faiss-python.sh prints). The index
(IVF<nlist>,Flat over clustered synthetic vectors) is built once by the
default module and written to --index; every timing runs in a fresh child
process that reads that file, one OpenMP thread, one query per search call,
the two modules alternating for --rounds rounds. Wall time and the thread's
CPU time per query are printed (CPU time: on a shared machine the wait for a
core is not the kernels' cost), with the answers checked equal.
"""
import argparse
import os
import subprocess
import sys

CHILD = r"""
import sys, time, json
import numpy as np
import faiss
path, nprobe, nq, dim, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
faiss.omp_set_num_threads(1)
index = faiss.read_index(path)
faiss.extract_index_ivf(index).nprobe = nprobe
xq = np.random.default_rng(seed).standard_normal((nq, dim)).astype('float32')
for i in range(min(200, nq)):  # warm caches and page in the lists
    index.search(xq[i:i + 1], 10)
ids = np.empty((nq, 10), dtype='int64')
walls = []
c0 = time.thread_time()
for i in range(nq):
    t = time.perf_counter()
    _, I = index.search(xq[i:i + 1], 10)
    walls.append(time.perf_counter() - t)
    ids[i] = I[0]
cpu = time.thread_time() - c0
walls.sort()
print(json.dumps({"file": faiss.__file__, "options": faiss.get_compile_options(),
                  "wall_ms": 1e3 * sum(walls) / nq, "p50_ms": 1e3 * walls[nq // 2],
                  "cpu_ms": 1e3 * cpu / nq, "ids_hash": int(ids.sum() % 1000000007),
                  "ids": ids[:50].tolist()}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pythonpath", required=True)
    ap.add_argument("--n", type=int, default=200000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--nlist", type=int, default=800)
    ap.add_argument("--nprobe", type=int, default=16)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--index", default="/tmp/pyfaiss_kernels.index")
    a = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    if not os.path.exists(a.index):
        import numpy as np
        import faiss
        faiss.omp_set_num_threads(1)
        rng = np.random.default_rng(1)
        centers = rng.standard_normal((1024, a.dim)).astype("float32") * 4
        xb = centers[rng.integers(0, 1024, a.n)] + rng.standard_normal((a.n, a.dim)).astype("float32")
        index = faiss.index_factory(a.dim, "IVF%d,Flat" % a.nlist)
        index.train(xb[:50 * a.nlist])
        index.add(xb)
        faiss.write_index(index, a.index + ".tmp")
        os.rename(a.index + ".tmp", a.index)
    with open("/proc/loadavg") as f:
        print("load average at start:", " ".join(f.read().split()[:3]))
    sides = [("debian", env), ("pythonpath", dict(env, PYTHONPATH=a.pythonpath))]
    import json
    res = {name: [] for name, _ in sides}
    for r in range(a.rounds):
        for name, e in sides:
            out = subprocess.run([sys.executable, "-c", CHILD, a.index, str(a.nprobe),
                                  str(a.queries), str(a.dim), "7"], env=e, check=True,
                                 capture_output=True, text=True, cwd="/").stdout
            res[name].append(json.loads(out.strip().splitlines()[-1]))
            d = res[name][-1]
            print("round %d %-10s %s [%s]: %.4f ms wall (p50 %.4f), %.4f ms CPU per query"
                  % (r + 1, name, d["file"], d["options"].strip(), d["wall_ms"], d["p50_ms"],
                     d["cpu_ms"]))
    same = all(x["ids"] == res["debian"][0]["ids"] and x["ids_hash"] == res["debian"][0]["ids_hash"]
               for v in res.values() for x in v)
    med = lambda xs: sorted(xs)[len(xs) // 2]
    dw, pw = med([x["wall_ms"] for x in res["debian"]]), med([x["wall_ms"] for x in res["pythonpath"]])
    dc, pc = med([x["cpu_ms"] for x in res["debian"]]), med([x["cpu_ms"] for x in res["pythonpath"]])
    print("n=%d dim=%d IVF%d,Flat nprobe=%d, %d single queries x %d rounds, 1 thread"
          % (a.n, a.dim, a.nlist, a.nprobe, a.queries, a.rounds))
    print("median per query: debian %.4f ms wall %.4f ms CPU; pythonpath %.4f ms wall %.4f ms CPU"
          % (dw, dc, pw, pc))
    print("ratio pythonpath/debian: wall %.3f, CPU %.3f; same answers: %s"
          % (pw / dw, pc / dc, "yes" if same else "NO"))
    with open("/proc/loadavg") as f:
        print("load average at end:", " ".join(f.read().split()[:3]))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
