"""SIGKILL at a random moment never loses a message answered with 250 (issue 7).

Each round starts vsmtpd in the outbound world (world.py: dnsmasq for .test,
fake MX servers on 127.0.0.x) with Maildir users in example.test, runs a few
client threads sending concurrently (local recipients, remote ones, or both,
sometimes one the remote refuses so that a failure report is made; empty to
300 KB bodies; each message carries a unique token) and kills vsmtpd with
SIGKILL after a delay drawn from a seeded generator. The kill lands wherever
the daemon happens to be: reading DATA, committing a queue file, writing a
Maildir copy, relaying, queueing a report, writing recipient states,
removing a file. vsmtpd is restarted on the same spool, every queue file the
crash left is waited for (event=removed), and what landed is counted by token:
- a message whose client saw "250 ... queued as ID" reached every recipient,
  byte for byte, and each copy carries that ID in its Received: field;
- "unknown" (the client had sent the final dot; the reply was lost in the
  kill): it reached all its recipients or none;
- a message whose final dot was never sent reached nobody;
- a delivered message with a refused recipient has its failure report in the
  sender's Maildir; a message without one has none;
- a Maildir copy is never duplicated. A relayed copy (or a report) may come
  twice, only for a message whose queue file survived the kill (the remote
  had said 250, or the report was queued, and the recipient's state was not
  yet written); these are counted, printed and bounded per round;
- nothing is left in SPOOL/tmp, queue/, corrupt/, badmail/ nor any Maildir tmp/.
The seed of each round is printed (pytest -s, or in a failure's output);
VSMTPD_CRASH_SEED=N replays a run's choices (not the threads' timing). The
totals over the rounds are written at the end; docs/RELIABILITY.md quotes them.
"""
import collections
import os
import random
import re
import threading
import time

import pytest

from helpers import ConnectionClosed, all_files, data_wire
from world import MX1_IP, MX2_IP, OTHER_IP

ROUNDS = 20
CLIENTS = 4                  # concurrent client threads per round
BASE_SEED = int(os.environ.get("VSMTPD_CRASH_SEED") or random.SystemRandom().randrange(10 ** 9))
# Two kinds of round, drawn from the seed. "busy": the clients send until the
# kill, which comes early, so it mostly hits a transaction (DATA, commit) while
# delivery runs. "drain": each client sends a share and stops; the later kill
# mostly hits delivery alone (Maildir copies, relaying, state updates, removal).
# Intake outruns delivery (about 400 against 100 messages a second under ASan):
# the shares keep the queue a restart must drain short.
BUSY_SHARE = 0.5
BUSY = {"per_client": (100, 100), "kill_after": (0.02, 0.3)}
DRAIN = {"per_client": (8, 40), "kill_after": (0.02, 1.0)}
CLIENT_TIMEOUT = 10          # a reply the client waits for (the daemon is loaded, not hung)
RECOVERY_TIMEOUT = 30        # for each queue file the crash left to be delivered and removed
# A relayed duplicate needs a transaction the remote acknowledged inside an
# attempt still running at the kill: at most one per remote recipient (2 at
# most here) of each message being delivered (delivery_threads, 4 here).
MAX_RELAY_DUPS_PER_ROUND = 8

SENDER = "netonly@example.net"   # a local user: the failure reports land in its Maildir
LOCAL = ("user1@example.test", "user2@example.test", "user3@example.test")
REMOTE = ("a@remote.test", "b@remote.test", "c@other.test")
BOUNCED = "nobody@other.test"    # refused by other.test's MX: a failure report to SENDER
BOUNCED_SHARE = 0.2              # messages that carry it too
BODY_SIZES = (0, 100, 2000, 2000, 20000, 60000, 300000)

TOKEN_RE = re.compile(rb"^X-Crash-Token: ([\w-]+)", re.M)
OUR_ID_RE = re.compile(rb"\(vsmtpd\) with [A-Z0-9]+ id ([0-9A-Z]+)")

TOTALS = collections.Counter()


# ---- what the clients send -------------------------------------------------------------

class Sent:
    """One message a client began to send, and how far it got: "pending" (the
    final dot was not sent), "unknown" (sent, no reply read), "accepted" (250,
    qid known) or "refused" (another reply: not expected from a healthy daemon).
    rcpts: those that must receive it; bounced: BOUNCED was a recipient too."""

    def __init__(self, token, rcpts, bounced, message):
        self.token = token
        self.rcpts = rcpts
        self.bounced = bounced
        self.message = message
        self.state = "pending"
        self.qid = None
        self.reply = None

    def __repr__(self):
        return "Sent(%s %s qid=%s rcpts=%s %d bytes)" % (self.token, self.state, self.qid, self.rcpts,
                                                         len(self.message))


def pick_rcpts(rng):
    """(recipients that must get it, whether BOUNCED is added)."""
    kind = rng.choice(("local", "remote", "both"))
    local = rng.sample(LOCAL, rng.randint(1, 2)) if kind != "remote" else []
    remote = rng.sample(REMOTE, rng.randint(1, 2)) if kind != "local" else []
    return local + remote, rng.random() < BOUNCED_SHARE


def refuse_bounced(stage, arg, conn):
    """FakeSmtp reply hook: 550 for BOUNCED at RCPT, the default otherwise."""
    return "550 5.1.1 <%s>: no such user" % arg if stage == "rcpt" and arg == BOUNCED else None


def make_message(rng, token):
    """A message (CRLF lines) of a random size; every 7th body line starts with
    a dot, so dot-stuffing is on the path too."""
    size = rng.choice(BODY_SIZES)
    hexed = rng.randbytes(size // 2 + 1).hex()[:size]
    lines = [hexed[i:i + 76] for i in range(0, len(hexed), 76)]
    lines = [("." + l if i % 7 == 3 else l).encode() for i, l in enumerate(lines)]
    head = [b"From: <%s>" % SENDER.encode(), b"To: undisclosed-recipients:;",
            b"Subject: crash test " + token, b"Message-ID: <%s@crash.test>" % token,
            b"X-Crash-Token: " + token, b""]
    return b"\r\n".join(head + lines + [b""])


def transact(c, m, rng, errors):
    """One transaction on an open session; False when the session cannot go on."""
    rcpts = m.rcpts + ([BOUNCED] if m.bounced else [])
    for line, code in [("MAIL FROM:<%s>" % SENDER, 250)] + [("RCPT TO:<%s>" % r, 250) for r in rcpts] + \
            [("DATA", 354)]:
        r = c.cmd(line)
        if r.code != code:
            m.state, m.reply = "refused", r
            errors.append("%s: %r answered %r" % (m.token.decode(), line, r))
            return False
    wire = data_wire(m.message)
    body, dot = wire[:-3], wire[-3:]
    while body:
        n = rng.choice((1000, 8192, 65536))
        c.send(body[:n])
        body = body[n:]
    m.state = "unknown"         # from here on vsmtpd may have it
    c.send(dot)
    r = c.reply()
    if r.code != 250:
        m.state, m.reply = "refused", r
        errors.append("%s: end of data answered %r" % (m.token.decode(), r))
        return False
    m.state, m.reply, m.qid = "accepted", r, r.queue_id()
    return True


def run_client(env, seed, share, tag, msgs, lock, stop, errors):
    """Sessions of 1-5 messages each until it sent its share, stop is set or vsmtpd is gone."""
    rng = random.Random(seed)
    n = 0
    try:
        while not stop.is_set() and n < share:
            with env.connect(timeout=CLIENT_TIMEOUT) as c:
                assert c.reply().code == 220
                c.ehlo()
                for _ in range(rng.randint(1, 5)):
                    if stop.is_set() or n == share:
                        break
                    token = ("%s-%d" % (tag, n)).encode()
                    n += 1
                    m = Sent(token, *pick_rcpts(rng), make_message(rng, token))
                    with lock:
                        msgs.append(m)
                    if not transact(c, m, rng, errors):
                        return
                r = c.cmd("QUIT")      # not c.quit(): the kill may come between 221 and EOF
                if r.code != 221:
                    errors.append("%s: QUIT answered %r" % (tag, r))
                    return
    except (ConnectionClosed, OSError):
        return                  # the kill (reset, refused, EOF): what this test is about
    except Exception as exc:    # noqa: BLE001 -- reported by the test, not lost with the thread
        errors.append("%s: %r" % (tag, exc))


# ---- what landed ----------------------------------------------------------------------------

def maildir_writes(env, pid):
    """Maildir copies the daemon is writing now: its open files in a Maildir's tmp/
    (unnamed O_TMPFILE files show as ".../tmp/#INODE (deleted)"; named ones as is)."""
    fds = "/proc/%d/fd" % pid
    n = 0
    for fd in os.listdir(fds) if os.path.isdir(fds) else []:
        try:
            target = os.readlink(os.path.join(fds, fd))
        except OSError:
            continue        # closed meanwhile
        n += target.startswith(str(env.mail) + "/") and "/tmp/" in target
    return n


class Snapshot:
    """The spool and the Maildirs right after the kill; maildir_writes counted just before it."""

    def __init__(self, env, maildir_writes_before):
        queue = env.spool / "queue"
        self.queue = set(p.name for p in queue.iterdir()) if queue.is_dir() else set()
        self.spool_tmp = len(all_files(env.spool / "tmp"))
        self.maildir_writes = maildir_writes_before


def copies(env, fakes):
    """{(token, address): [(queue ID, stored bytes, form)]} of every Maildir copy and
    every message a fake received in full. A report in SENDER's Maildir counts
    as a copy for SENDER: the token and queue ID are the original's, from the
    headers it quotes."""
    out = collections.defaultdict(list)
    for path in sorted(env.mail.rglob("*")):
        if not path.is_file() or path.parent.name not in ("new", "cur"):
            continue
        box = path.parent.parent
        address = "%s@%s" % (box.name, box.parent.name)
        data = path.read_bytes()
        tok, qid = TOKEN_RE.search(data), OUR_ID_RE.search(data)
        out[(tok.group(1) if tok else None, address)].append((qid.group(1).decode() if qid else None, data,
                                                            "lf"))
    for f in fakes:
        with f.lock:
            got = list(f.messages)
        for msg in got:
            tok, qid = TOKEN_RE.search(msg.data), OUR_ID_RE.search(msg.data)
            for rcpt in msg.rcpts:
                out[(tok.group(1) if tok else None, rcpt)].append((qid.group(1).decode() if qid else None,
                                                                   msg.data, "crlf"))
    return out


def check_report(m, reached, landed, at_kill, problems, twice):
    """A report on BOUNCED exists when the message was delivered, and only then;
    it may be sent twice only if the message's queue file survived the kill."""
    reports = landed.get((m.token, SENDER), [])
    if m.bounced and reached and not reports:
        problems.append("failure report LOST: %r" % m)
    elif reports and not (m.bounced and reached):
        problems.append("a report on %r, which %s" % (m, "was not delivered" if m.bounced else
                                                      "had no failing recipient"))
    ids = set(qid for qid, _, _ in reports)
    if reports and m.qid is not None and ids != {m.qid}:
        problems.append("%r: its reports quote queue IDs %s" % (m, sorted(ids, key=str)))
    if len(reports) > 1:
        twice.append("%s (%s): %d reports" % (m.token.decode(), sorted(ids, key=str)[0], len(reports)))
        if len(reports) > 2 or not ids <= at_kill.queue:
            problems.append("report sent %d times outside the crash window: %r" % (len(reports), m))


def check(msgs, landed, at_kill):
    """(problems, relayed duplicates, reports sent twice) of one round."""
    problems, dups, twice = [], [], []
    known = set()
    for m in msgs:
        known.update((m.token, r) for r in m.rcpts + ([SENDER] if m.bounced else []))
        found = {r: landed.get((m.token, r), []) for r in m.rcpts}
        reached = [r for r in m.rcpts if found[r]]
        check_report(m, reached, landed, at_kill, problems, twice)
        if m.state == "accepted" and len(reached) != len(m.rcpts):
            problems.append("LOST after 250: %r, missing %s" % (m, sorted(set(m.rcpts) - set(reached))))
        elif m.state == "unknown" and reached and len(reached) != len(m.rcpts):
            problems.append("partly delivered: %r reached only %s" % (m, reached))
        elif m.state in ("pending", "refused") and reached:
            problems.append("delivered without a final dot or after a refusal: %r" % m)
        want = m.message
        for r in reached:
            ids = set(qid for qid, _, _ in found[r])
            if m.qid is not None and ids != {m.qid}:
                problems.append("%r: copies for %s carry queue IDs %s" % (m, r, sorted(ids, key=str)))
            for _, data, form in found[r]:
                if not data.endswith(want if form == "crlf" else want.replace(b"\r\n", b"\n")):
                    problems.append("%r: the copy for %s differs from what was sent" % (m, r))
            n = len(found[r])
            if n == 1:
                continue
            if r in LOCAL:
                problems.append("Maildir DUPLICATE: %r has %d copies for %s" % (m, n, r))
                continue
            dups.append("%s (%s) to %s: %d copies" % (m.token.decode(), sorted(ids)[0], r, n))
            if n > 2 or not ids <= at_kill.queue:
                problems.append("relayed duplicate outside the crash window: %r, %d copies for %s, "
                                "queue IDs %s, queued at the kill: %s" % (m, n, r, sorted(ids),
                                                                          ids <= at_kill.queue))
    for key in landed:
        if key not in known:
            problems.append("a copy of nothing that was sent: token %r to %s" % key)
    return problems, dups, twice


# ---- the rounds --------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def totals(request):
    """Writes the totals over every round run, whatever the capture mode."""
    TOTALS.clear()
    yield TOTALS
    if not TOTALS["rounds"]:
        return
    line = ("crash test totals (base seed %d): %s" %
            (BASE_SEED, " ".join("%s=%d" % kv for kv in sorted(TOTALS.items()))))
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        print("\n" + line)


def wait_queue_empty(env, timeout):
    """Polls SPOOL/queue (reports the restart queues would show up there) until empty."""
    deadline = time.monotonic() + timeout
    while env.queue_files():
        assert time.monotonic() < deadline, "queue not empty: %s" % env.queue_files()
        time.sleep(0.05)


@pytest.mark.parametrize("round_no", range(ROUNDS))
def test_crash_kill9_loses_no_accepted_message(world, round_no):
    env = world.env
    seed = BASE_SEED + round_no
    rng = random.Random(seed)
    kind = "busy" if rng.random() < BUSY_SHARE else "drain"
    plan = BUSY if kind == "busy" else DRAIN
    kill_at = rng.uniform(*plan["kill_after"])
    replay = "seed %d; replay: VSMTPD_CRASH_SEED=%d pytest '%s'" % (
        seed, BASE_SEED, os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0])
    print("round %d: %s; %s, kill after %.3fs" % (round_no, replay, kind, kill_at))

    fakes = [world.fake(ip, reply=refuse_bounced) for ip in (MX1_IP, MX2_IP, OTHER_IP)]
    d = world.start()
    msgs, lock, stop, errors = [], threading.Lock(), threading.Event(), []
    threads = [threading.Thread(target=run_client, daemon=True,
                                args=(env, rng.randrange(2 ** 32), rng.randint(*plan["per_client"]),
                                      "r%dc%d" % (round_no, i), msgs, lock, stop, errors))
               for i in range(CLIENTS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    # The kill moment is the experiment's random variable, so a timed sleep
    # is what is meant here (not a wait for the daemon to get somewhere).
    time.sleep(max(0.0, t0 + kill_at - time.monotonic()))
    writing = maildir_writes(env, d.proc.pid)
    d.kill9()
    stop.set()
    for t in threads:
        t.join(CLIENT_TIMEOUT + 5)
        assert not t.is_alive(), "a client thread did not end after the kill"
    at_kill = Snapshot(env, writing)

    d2 = env.start(write=False)
    for qid in sorted(at_kill.queue):
        d2.wait_removed(qid, timeout=RECOVERY_TIMEOUT)
    wait_queue_empty(env, RECOVERY_TIMEOUT)
    d2.stop()

    landed = copies(env, fakes)
    problems, dups, twice = check(msgs, landed, at_kill)
    states = collections.Counter(m.state for m in msgs)
    unknown_delivered = sum(1 for m in msgs if m.state == "unknown" and landed.get((m.token, m.rcpts[0])))
    round_totals = {
        "rounds": 1, "rounds_" + kind: 1, "messages": len(msgs), "accepted": states["accepted"],
        "unknown": states["unknown"], "unknown_delivered": unknown_delivered,
        "not_sent": states["pending"], "refused": states["refused"],
        "queued_at_kill": len(at_kill.queue), "spool_tmp_at_kill": at_kill.spool_tmp,
        "maildir_writes_at_kill": at_kill.maildir_writes, "relayed_dups": len(dups),
        "accepted_finished_by_restart": sum(1 for m in msgs if m.qid in at_kill.queue),
        "bounced": sum(1 for m in msgs if m.bounced and m.state in ("accepted", "unknown")),
        "reports": sum(len(v) for k, v in landed.items() if k[1] == SENDER), "reports_twice": len(twice),
        "maildir_found_already": len(d2.log_matches(r"event=delivered .* already=yes")),
        # where the kill landed, as far as can be seen from outside
        "rounds_kill_in_a_transaction": any(m.state in ("pending", "unknown") for m in msgs),
        "rounds_kill_with_a_queue": bool(at_kill.queue),
        "rounds_kill_in_a_maildir_write": bool(at_kill.maildir_writes),
        "rounds_kill_in_a_relay_window": bool(dups),
        "rounds_kill_when_idle": not at_kill.queue and all(m.state in ("accepted", "refused") for m in msgs),
    }
    TOTALS.update(round_totals)
    print("round %d: %s" % (round_no, " ".join("%s=%d" % kv for kv in round_totals.items()
                                                if kv[0] != "rounds")))
    for dup in dups:
        print("round %d: relayed duplicate %s" % (round_no, dup))
    for dup in twice:
        print("round %d: report sent twice %s" % (round_no, dup))

    assert not errors, "client errors (%s):\n%s" % (replay, "\n".join(errors))
    assert not problems, "%s:\n%s\n--- restarted vsmtpd:\n%s" % (replay, "\n".join(problems[:30]),
                                                                 d2.log_tail(40))
    assert len(dups) <= MAX_RELAY_DUPS_PER_ROUND, "%s: %d relayed duplicates" % (replay, len(dups))
    env.assert_no_leftovers()
    assert all_files(env.spool / "corrupt") == []
    assert all_files(env.spool / "badmail") == []
