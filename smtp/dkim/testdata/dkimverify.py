#!/usr/bin/env python3
"""Verify every DKIM-Signature of a message with python3-dkim, offline.

Usage: dkimverify.py RECORDS.json < MESSAGE

RECORDS.json is a JSON object from a record name (selector._domainkey.domain,
no trailing dot) to the TXT record text; no DNS is queried. For each
DKIM-Signature, topmost first, one JSON line is printed:
  {"index": 0, "d": "...", "s": "...", "a": "...", "ok": true, "error": ""}
A message python3-dkim cannot parse gives one line with index -1.
Exit status: 0 when there is at least one signature and all verify, 1 when
one fails or there is none, 2 when python3-dkim (or PyNaCl, needed for
Ed25519) is missing or the arguments are wrong.

Used by careerrelay's tests (internal/dkimtest) as an independent verifier.
"""
import json
import logging
import sys

try:
    import dkim
except ImportError:
    print("python3-dkim is not installed (Debian: apt-get install python3-dkim)", file=sys.stderr)
    sys.exit(2)
try:
    import nacl.signing  # noqa: F401  dkim needs it for Ed25519
    HAVE_NACL = True
except ImportError:
    HAVE_NACL = False


class Collect(logging.Handler):
    """Keeps the log messages of one verification, for the error text."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        records = {k.lower().rstrip("."): v for k, v in json.load(f).items()}
    msg = sys.stdin.buffer.read()

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii")
        rec = records.get(name.lower().rstrip("."))
        return rec.encode("ascii") if rec is not None else None

    log = logging.getLogger("dkimverify")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    collect = Collect()
    log.addHandler(collect)

    try:
        d = dkim.DKIM(msg, logger=log)
    except dkim.DKIMException as e:
        print(json.dumps({"index": -1, "d": "", "s": "", "a": "", "ok": False,
                          "error": "%s: %s" % (type(e).__name__, e)}))
        return 1
    n = sum(1 for name, _ in d.headers if name.lower() == b"dkim-signature")
    all_ok = n > 0
    for i in range(n):
        collect.lines = []
        ok, err = False, ""
        try:
            ok = bool(d.verify(idx=i, dnsfunc=dnsfunc))
        except dkim.DKIMException as e:
            err = "%s: %s" % (type(e).__name__, e)
        if not ok and not err:
            err = "; ".join(collect.lines[-3:]) or "signature did not verify"
        sig = d.signature_fields or {}
        a = sig.get(b"a", b"").decode("ascii", "replace")
        if not ok and a.startswith("ed25519") and not HAVE_NACL:
            err += " (PyNaCl is missing: apt-get install python3-nacl)"
        print(json.dumps({
            "index": i,
            "d": sig.get(b"d", b"").decode("ascii", "replace"),
            "s": sig.get(b"s", b"").decode("ascii", "replace"),
            "a": a,
            "ok": ok,
            "error": err,
        }))
        all_ok = all_ok and ok
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
