"""HTTPS client for the proxy scenario's verify (runs inside proxy-client).

  flash-probe.py cases CA CASES.json         one request per case, prints status + headers
      (a case's body is sent as JSON, its form form-encoded; json_bytes: N sends a chat-like
      JSON body of exactly N bytes)
  flash-probe.py loop CA URL MAX_SECONDS THREADS UNTIL_COLOUR
      requests without pause, a new connection each, until UNTIL_COLOUR has answered for 3 s
      (or MAX_SECONDS have passed); prints counts by status and by colour, and how many
      answers carried an X-Flash-Colour header other than the colour that answered
"""
import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse


def connect(ca, host, port=443):
    ctx = ssl.create_default_context(cafile=ca)
    return http.client.HTTPSConnection(host, port, context=ctx, timeout=10)


def headers(resp):
    """Headers by lower-case name; a repeated header's values joined with ', '."""
    out = {}
    for name, value in resp.getheaders():
        name = name.lower()
        out[name] = out[name] + ", " + value if name in out else value
    return out


def json_of_size(size):
    """A JSON document of exactly SIZE bytes, shaped like a batch of chat messages."""
    sentence = ("Hi! Can you send 2,500 sats to alice@flashapp.me for the pizza? "
                "Thanks - see you at 7:30pm. ")
    items, doc = [], ""
    while True:
        item = {"id": "msg-%04d" % len(items), "text": sentence * 100}
        candidate = json.dumps({"user": "u1", "messages": items + [item]})
        if len(candidate) > size:
            break
        items.append(item)
        doc = candidate
    if not items:
        raise ValueError("size %d too small" % size)
    # Pad the last message's text to the exact size.
    items[-1]["text"] += "x" * (size - len(doc))
    doc = json.dumps({"user": "u1", "messages": items})
    assert len(doc) == size, (len(doc), size)
    return doc


def request(ca, host, case):
    conn = connect(ca, host)
    try:
        body = case.get("body")
        hdrs = dict(case.get("headers", {}))
        if "json_bytes" in case:
            body = json_of_size(int(case["json_bytes"]))
        if "form" in case:
            body = urllib.parse.urlencode(case["form"])
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if body is not None and not isinstance(body, str):
            body = json.dumps(body, ensure_ascii=False)
            hdrs.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode("utf-8")
        conn.request(case.get("method", "GET"), case["path"], body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read().decode("utf-8", "replace")
        return {"name": case["name"], "status": resp.status,
                "headers": headers(resp),
                "body": data[:300]}
    finally:
        conn.close()


def cases(ca, path):
    with open(path) as fh:
        spec = json.load(fh)
    print(json.dumps([request(ca, spec["host"], c) for c in spec["cases"]]))


def loop(ca, url, seconds, threads, until_colour):
    host, path = url.split("/", 1)
    deadline = [time.monotonic() + float(seconds)]
    lock = threading.Lock()
    stats = {"total": 0, "ok": 0, "non_2xx": 0, "errors": 0, "statuses": {},
             "colours": {}, "sequence": [], "error_samples": [],
             "header_mismatch": 0, "mismatch_samples": []}

    def worker():
        while time.monotonic() < deadline[0]:
            try:
                conn = connect(ca, host)
                conn.request("GET", "/" + path)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                colour = json.loads(data).get("colour") if resp.status == 200 else None
                header = headers(resp).get("x-flash-colour")
                with lock:
                    stats["total"] += 1
                    stats["statuses"][str(resp.status)] = stats["statuses"].get(str(resp.status), 0) + 1
                    if 200 <= resp.status < 300:
                        stats["ok"] += 1
                        stats["colours"][colour] = stats["colours"].get(colour, 0) + 1
                        # X-Flash-Colour must name the colour that really answered.
                        if header != colour:
                            stats["header_mismatch"] += 1
                            if len(stats["mismatch_samples"]) < 5:
                                stats["mismatch_samples"].append([colour, header])
                        if not stats["sequence"] or stats["sequence"][-1] != colour:
                            stats["sequence"].append(colour)
                        if colour == until_colour and "seconds_to_switch" not in stats:
                            stats["seconds_to_switch"] = round(time.monotonic() - started, 2)
                            deadline[0] = min(deadline[0], time.monotonic() + 3)
                    else:
                        stats["non_2xx"] += 1
            except Exception as exc:  # every failure counts, none is retried
                with lock:
                    stats["total"] += 1
                    stats["errors"] += 1
                    if len(stats["error_samples"]) < 5:
                        stats["error_samples"].append(repr(exc))

    started = time.monotonic()
    pool = [threading.Thread(target=worker) for dummy in range(int(threads))]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    print(json.dumps(stats))


if __name__ == "__main__":
    if sys.argv[1] == "cases":
        cases(sys.argv[2], sys.argv[3])
    else:
        loop(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6])
