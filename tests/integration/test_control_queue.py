"""Queue commands of the control API against a running daemon: list, show,
hold, release, flush, delete, bounce, summary, and the delivery counters.

Mail for remote.test waits in the queue: the test config's resolver is a
dead loopback port, so every attempt defers (4.4.3) and is retried in 5
minutes — unless an admin acts. The sender is a local user, so a failure
report (after a bounce) lands in its Maildir where the test reads it.
"""

import email
import re
import time

from helpers import send_mail, wait_event, wait_for_file
from test_control import control

SENDER = "user1@example.test"
MESSAGE = b"Subject: waiting\r\nMessage-ID: <w-1@example.test>\r\n\r\nin the queue\r\n"


def queued(env, d, rcpts=("someone@remote.test",)):
    """Sends one message that stays queued; returns its ID after the first deferral."""
    with env.connect() as c:
        qid = send_mail(c, SENDER, list(rcpts), MESSAGE)
        c.quit()
    for r in rcpts:
        wait_event(d, "deferred", qid, r)
    return qid


def when_idle(c, cmd, **args):
    """cmd on a message, retried while its delivery attempt is still finishing
    (the admin's "try again in a moment"), under a deadline."""
    deadline = time.monotonic() + 10
    while True:
        r = c.call(cmd, **args)
        if r["ok"] or "being delivered right now" not in r["error"] or time.monotonic() > deadline:
            assert r["ok"], r
            return r["result"]
        time.sleep(0.02)


def test_queue_list_show_and_summary(env):
    d = env.start()
    qid = queued(env, d, ("a@remote.test", "b@remote.test"))
    c = control(env)
    # the deferral is logged before the attempt writes the states: poll under a deadline
    deadline = time.monotonic() + 10
    while True:
        (m,) = c.ok("queue.list")
        if m["recipients"][-1]["tries"] == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert (m["id"], m["sender"], m["held"]) == (qid, SENDER, False)
    assert m["size"] > len(MESSAGE)
    assert [(r["address"], r["state"], r["tries"]) for r in m["recipients"]] == \
        [("a@remote.test", "deferred", 1), ("b@remote.test", "deferred", 1)]
    assert all(r["next_try"] > m["arrival"] for r in m["recipients"])
    assert c.ok("queue.list", domain="REMOTE.test")[0]["id"] == qid
    assert c.ok("queue.list", domain="other.test") == []
    assert c.ok("queue.list", sender="nobody@example.test") == []
    assert c.ok("queue.list", state="pending") == []
    show = c.ok("queue.show", id=qid)
    assert "Message-ID: <w-1@example.test>" in show["headers"]
    assert "in the queue" not in show["headers"]
    (row,) = c.ok("queue.summary")
    assert row["domain"] == "remote.test" and row["recipients"] == 2
    r = c.call("queue.show", id="NOSUCHID")
    assert not r["ok"] and r["error"]
    assert c.ok("stats", name="mx")["servers"]["mx"]["deferred"] == 2


def test_queue_hold_release_and_flush(env):
    d = env.start()
    qid = queued(env, d)
    c = control(env)
    assert when_idle(c, "queue.hold", id=qid) == {"id": qid, "state": "held"}
    assert env.queue_files() == []
    assert (env.spool / "hold" / qid).exists()
    assert c.ok("queue.list")[0]["held"] is True
    assert c.ok("queue.list", state="held")[0]["id"] == qid
    r = c.call("queue.flush", id=qid)
    assert not r["ok"] and "release it first" in r["error"]
    mark = d.log_mark()
    assert c.ok("queue.release", id=qid) == {"id": qid, "state": "queued"}
    ev = wait_event(d, "deferred", qid, "someone@remote.test", start=mark)
    assert ev["tries"] == "2"                     # tried at once, not in 5 minutes
    mark = d.log_mark()
    assert c.ok("queue.flush", id=qid) == {"flushed": 1}
    assert wait_event(d, "deferred", qid, "someone@remote.test", start=mark)["tries"] == "3"
    mark = d.log_mark()
    assert c.ok("queue.flush", domain="remote.test") == {"flushed": 1}
    assert wait_event(d, "deferred", qid, "someone@remote.test", start=mark)["tries"] == "4"
    assert c.ok("queue.flush") == {"flushed": 1}


def test_queue_delete_sends_no_report(env):
    d = env.start()
    qid = queued(env, d)
    c = control(env)
    assert when_idle(c, "queue.delete", id=qid) == {"id": qid, "state": "deleted"}
    d.wait_log(r"event=deleted id=%s" % qid)
    assert env.queue_files() == [] and c.ok("queue.list") == []
    assert d.log_matches(r"event=report .*orig=%s" % qid) == []
    assert env.mail_files() == []


def test_queue_bounce_fails_with_a_report(env):
    d = env.start()
    qid = queued(env, d)
    c = control(env)
    assert c.ok("queue.bounce", id=qid) == {"id": qid, "state": "bouncing"}
    ev = wait_event(d, "failed", qid, "someone@remote.test")
    assert ev["dsn"] == "5.0.0"
    d.wait_removed(qid)
    rid = d.wait_log(r"event=report id=(\w+) orig=%s kind=failure" % qid).group(1)
    (path,) = wait_for_file(env.maildir("user1") / "new" / ("*%s*" % rid))
    report = email.message_from_bytes(open(path, "rb").read())
    block = report.get_payload()[1].get_payload()[1]
    assert (block["Action"], block["Status"]) == ("failed", "5.0.0")
    assert re.search(r"returned by the administrator", block["Diagnostic-Code"])
