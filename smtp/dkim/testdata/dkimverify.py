#!/usr/bin/env python3
"""Verify every DKIM-Signature of messages with python3-dkim, offline.

Usage: dkimverify.py RECORDS.json MSGFILE...
       dkimverify.py RECORDS.json < MESSAGE

RECORDS.json is a JSON object from a record name (selector._domainkey.domain,
no trailing dot) to the TXT record text; no DNS is queried. Every message
file is verified in this one process (the interpreter and `import dkim`
cost far more than a verification); with no file, the one message on
standard input is. For each DKIM-Signature of message k (0 for the first
file, or for standard input), topmost first, one JSON line is printed:
  {"msg": k, "index": 0, "d": "...", "s": "...", "a": "...", "ok": true, "error": ""}
A message python3-dkim cannot parse gives one line with index -1; a message
without signatures gives none.
Exit status: 0 when every message has at least one signature and all
verify, 1 when one fails or a message has none, 2 when python3-dkim (or
PyNaCl, needed for Ed25519) is missing, the arguments are wrong or a file
cannot be read, 3 on an unexpected error (a traceback on stderr).

Used by careerrelay's tests (internal/dkimtest) as an independent verifier.
"""
import json
import logging
import sys
import traceback

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


def describe(e):
    return "%s: %s" % (type(e).__name__, e)


def verify(k, msg, dnsfunc, log, collect, out):
    """Prints the verdict on each signature of message k; returns whether
    it has at least one and all verify."""
    try:
        d = dkim.DKIM(msg, logger=log)
    except Exception as e:  # a DKIMException, or a bug: either way, a verdict
        out.write(json.dumps({"msg": k, "index": -1, "d": "", "s": "", "a": "",
                              "ok": False, "error": describe(e)}) + "\n")
        return False
    n = sum(1 for name, _ in d.headers if name.lower() == b"dkim-signature")
    all_ok = n > 0
    for i in range(n):
        collect.lines = []
        ok, err = False, ""
        d.signature_fields = None
        try:
            ok = bool(d.verify(idx=i, dnsfunc=dnsfunc))
        except Exception as e:  # not only DKIMException: one message must not end the batch
            err = describe(e)
        if not ok and not err:
            err = "; ".join(collect.lines[-3:]) or "signature did not verify"
        sig = d.signature_fields or {}
        a = sig.get(b"a", b"").decode("ascii", "replace")
        if not ok and a.startswith("ed25519") and not HAVE_NACL:
            err += " (PyNaCl is missing: apt-get install python3-nacl)"
        out.write(json.dumps({
            "msg": k,
            "index": i,
            "d": sig.get(b"d", b"").decode("ascii", "replace"),
            "s": sig.get(b"s", b"").decode("ascii", "replace"),
            "a": a,
            "ok": ok,
            "error": err,
        }) + "\n")
        all_ok = all_ok and ok
    return all_ok


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1], encoding="utf-8") as f:
            records = {k.lower().rstrip("."): v for k, v in json.load(f).items()}
    except (OSError, ValueError) as e:
        print("%s: %s" % (sys.argv[1], e), file=sys.stderr)
        return 2

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

    out = sys.stdout
    all_ok = True
    files = sys.argv[2:]
    if not files:
        return 0 if verify(0, sys.stdin.buffer.read(), dnsfunc, log, collect, out) else 1
    for k, path in enumerate(files):
        try:
            with open(path, "rb") as f:
                msg = f.read()
        except OSError as e:
            out.flush()
            print("%s: %s" % (path, e), file=sys.stderr)
            return 2
        all_ok = verify(k, msg, dnsfunc, log, collect, out) and all_ok
    return 0 if all_ok else 1


if __name__ == "__main__":
    try:
        status = main()
    except Exception:  # not 1, which would pass for "a signature failed"
        traceback.print_exc()
        status = 3
    sys.exit(status)
