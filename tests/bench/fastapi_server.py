#!/usr/bin/python3
"""The Python baseline of bench_fastapi: FastAPI + uvicorn + faiss.

What a user would otherwise write to serve one FAISS index over HTTP: the
same request and response JSON as faiss-searchd's
POST /api/v1/indexes/{name}/search ({"vector": [...], "k": 10} or
{"vectors": [[...], ...]}, optional "nprobe"), the same input checks
(dimension, finite values, k and batch limits, 400 with {"error": ...}) and
the same configured nprobe, on the index file faiss-searchd serves (read with
faiss.read_index from the live version path).

Debian 12: apt-get install python3-fastapi uvicorn python3-faiss
(python3-faiss 1.7.3 is the same FAISS release as libfaiss-dev 1.7.3, so it
reads the files the C++ side writes). Use /usr/bin/python3: the Debian
modules are not visible to other interpreters (pyenv and the like).

    /usr/bin/python3 tests/bench/fastapi_server.py --index DATA/indexes/NAME/live.faiss \
        --name NAME --nprobe 16 --workers 2 --listen 127.0.0.1:0 --port-file PORT

--workers N runs N uvicorn worker processes on one listening socket (each
loads its own copy of the index); --handler sync runs the search in FastAPI's
thread pool instead of on the event loop. One OpenMP thread per worker for
single queries, like faiss-searchd.
"""

import argparse
import json
import os
import socket
import sys
from typing import List, Optional

import faiss
import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel

MAX_K = 1000
MAX_BATCH = 1024
PARAM_FACTOR = 16

app = FastAPI()


class State:
    index = None
    ivf = None
    name = os.environ.get("FRB_FASTAPI_NAME", "bench")
    version = ""
    nprobe = 0
    max_nprobe = 0


class SearchBody(BaseModel):
    vector: Optional[List[float]] = None
    vectors: Optional[List[List[float]]] = None
    k: int = 10
    nprobe: Optional[int] = None

    class Config:
        extra = "forbid"


class BadRequest(Exception):
    pass


def json_response(obj, status=200):
    return Response(json.dumps(obj, separators=(",", ":")), status_code=status,
                    media_type="application/json")


def error(msg, status=400):
    return json_response({"error": msg}, status)


@app.exception_handler(RequestValidationError)
async def validation_error(request, exc):
    return error("invalid request: " + str(exc).replace("\n", " "))


@app.on_event("startup")
def load_index():
    path = os.environ["FRB_FASTAPI_INDEX"]
    real = os.path.realpath(path)
    State.version = os.path.basename(os.path.dirname(real))
    State.index = faiss.read_index(real)
    State.nprobe = int(os.environ.get("FRB_FASTAPI_NPROBE", "0"))
    try:
        State.ivf = faiss.extract_index_ivf(State.index)
    except Exception:
        State.ivf = None
    if State.ivf is not None:
        if State.nprobe > 0:
            faiss.ParameterSpace().set_index_parameter(State.index, "nprobe", State.nprobe)
        State.nprobe = int(State.ivf.nprobe)
        State.max_nprobe = min(int(State.ivf.nlist), PARAM_FACTOR * State.nprobe)
    faiss.omp_set_num_threads(int(os.environ.get("FRB_FASTAPI_OMP", "1")))


def parse(body: SearchBody):
    idx = State.index
    if (body.vector is None) == (body.vectors is None):
        raise BadRequest("give exactly one of 'vector' and 'vectors'")
    if not 1 <= body.k <= MAX_K:
        raise BadRequest("k must be in [1, %d], got %d" % (MAX_K, body.k))
    if body.vector is not None:
        rows = [body.vector]
    else:
        rows = body.vectors
        if not rows:
            raise BadRequest("vectors must be a non-empty array of vectors")
        if len(rows) > MAX_BATCH:
            raise BadRequest("batch of %d vectors exceeds the limit of %d" % (len(rows), MAX_BATCH))
    for i, r in enumerate(rows):
        if len(r) != idx.d:
            raise BadRequest("vector %d has %d values; the index dimension is %d" % (i, len(r), idx.d))
    x = np.asarray(rows, dtype=np.float32)
    if not np.isfinite(x).all():
        raise BadRequest("the vectors hold a value that is not a finite 32-bit float")
    params = None
    if body.nprobe is not None:
        if State.ivf is None:
            raise BadRequest("nprobe does not apply to this index")
        if not 1 <= body.nprobe <= State.max_nprobe:
            raise BadRequest("nprobe must be in [1, %d], got %d" % (State.max_nprobe, body.nprobe))
        params = faiss.SearchParametersIVF(nprobe=body.nprobe)
    return x, params


def results(D, I):
    ids, dist = [], []
    for d, i in zip(D.tolist(), I.tolist()):
        if i >= 0:
            ids.append(i)
            dist.append(d)
    return {"ids": ids, "distances": dist}


def search(name: str, body: SearchBody):
    if name != State.name:
        return error("no index named '%s'" % name, 404)
    try:
        x, params = parse(body)
    except BadRequest as e:
        return error(str(e))
    D, I = State.index.search(x, body.k, params=params)
    out = {"index": State.name, "version": State.version, "k": body.k}
    if body.vector is not None:
        out.update(results(D[0], I[0]))
    else:
        out["results"] = [results(D[j], I[j]) for j in range(len(x))]
    return json_response(out)


# On the event loop by default (the fastest choice for short searches, one
# worker process per core); FRB_FASTAPI_HANDLER=sync uses the thread pool.
if os.environ.get("FRB_FASTAPI_HANDLER", "async") == "sync":
    @app.post("/api/v1/indexes/{name}/search")
    def search_sync(name: str, body: SearchBody):
        return search(name, body)
else:
    @app.post("/api/v1/indexes/{name}/search")
    async def search_async(name: str, body: SearchBody):
        return search(name, body)


@app.get("/healthz")
async def healthz():
    return json_response({"status": "ok"})


@app.get("/readyz")
async def readyz():
    ready = State.index is not None
    return json_response({"ready": ready, "faiss": faiss.__version__,
                          "workers_pid": os.getpid()}, 200 if ready else 503)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", required=True, help="index file (e.g. DATA/indexes/NAME/live.faiss)")
    ap.add_argument("--name", default="bench", help="index name in the URL")
    ap.add_argument("--nprobe", type=int, default=0, help="IVF nprobe (0: as stored in the file)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--handler", choices=["async", "sync"], default="async")
    ap.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT, port 0 = any")
    ap.add_argument("--port-file", help="write the bound port here")
    a = ap.parse_args()
    # Read by the worker processes (uvicorn spawns them and they import this
    # module afresh).
    os.environ["FRB_FASTAPI_INDEX"] = a.index
    os.environ["FRB_FASTAPI_NAME"] = a.name
    os.environ["FRB_FASTAPI_NPROBE"] = str(a.nprobe)
    os.environ["FRB_FASTAPI_HANDLER"] = a.handler
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    host, port = a.listen.rsplit(":", 1)
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted
    # sockets whose proto says TCP, and they inherit it from this one. With
    # proto 0 (what `uvicorn --workers N` binds on Python 3.11) Nagle holds
    # back the body, which uvicorn writes after the headers, until the
    # client's delayed ACK: about 40 ms per request.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.set_inheritable(True)
    bound = sock.getsockname()[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % bound)
        os.rename(tmp, a.port_file)
    print("fastapi_server: faiss %s, %d worker(s), %s handler, listening on %s:%d"
          % (faiss.__version__, a.workers, a.handler, host, bound), file=sys.stderr, flush=True)

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    config = uvicorn.Config("fastapi_server:app", workers=a.workers, log_level="warning",
                            access_log=False)
    server = uvicorn.Server(config)
    if a.workers > 1:
        Multiprocess(config, target=server.run, sockets=[sock]).run()
    else:
        server.run(sockets=[sock])


if __name__ == "__main__":
    main()
