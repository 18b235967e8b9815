"""Disk full: the spool's file system filling up, min_free_space, and a full Maildir.

Each test mounts small tmpfs file systems (root only: skipped with the
reason otherwise) inside its own directory and unmounts them at teardown,
even when it fails. The promises checked:
- a message the spool could not hold is answered 452 4.3.1 (RFC 3463), at
  the end of DATA or BDAT, never 250 and never a 451 with another code; its
  tmp/ file is gone; the messages queued before it are untouched and later
  delivered byte for byte; mail is accepted again once space returns;
- with min_free_space above the free space, MAIL gets 452 4.3.1 at once (and
  a MAIL whose SIZE= would go below it); the low state is logged once per
  transition; a reload with a lower minimum lets mail in again;
- a Maildir on a full file system defers the recipient with 4.3.1; the
  message stays queued and is delivered when space returns, with no report.

Mail that must wait in the queue goes to user1@remote.test: remote, and the
test resolver is a dead port, so each attempt defers for 5 minutes; a reload
that makes remote.test local and a queue.flush then deliver it to a Maildir.
"""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import data_wire, files_in, send_mail, wait_event, wait_for_file
from test_control import control
from test_delivery import check_stored

SENDER = "sender@remote.test"
WAITING = "user1@remote.test"       # stays queued until remote.test is made local
LOCAL = "user1@example.test"
MIB = 1024 * 1024
CACHE_WAIT = 1.2                    # the spool measures free space at most once a second


class Disks:
    """tmpfs mounts under one test's directory; all unmounted by umount_all()."""

    def __init__(self, root):
        self.root = Path(root)
        self.mounts = []

    def tmpfs(self, name, size):
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        if shutil.which("mount") is None:
            pytest.skip("no mount(8) to mount a tmpfs with")
        path = self.root / name
        path.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0700" % size, "tmpfs",
                            str(path)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip("cannot mount a tmpfs here: %s" % r.stderr.strip())
        self.mounts.append(path)
        return path

    def umount_all(self):
        errors = []
        for path in reversed(self.mounts):
            r = subprocess.run(["umount", str(path)], capture_output=True, text=True)
            if r.returncode != 0:
                # still busy (a daemon not yet stopped): detach it now, freed when unused
                r = subprocess.run(["umount", "-l", str(path)], capture_output=True, text=True)
                if r.returncode != 0:
                    errors.append("%s: %s" % (path, r.stderr.strip()))
        self.mounts = []
        return errors


@pytest.fixture
def disks(tmp_path):
    """Listed before `env` in a test's arguments, so that it is torn down after env
    has stopped the daemons (then plain umount succeeds)."""
    d = Disks(tmp_path)
    yield d
    errors = d.umount_all()
    if errors:
        pytest.fail("cannot unmount: %s" % "; ".join(errors), pytrace=False)


def free_bytes(path):
    st = os.statvfs(str(path))
    return st.f_bavail * st.f_frsize


def fill(path, leave=0):
    """Writes path until the file system has at most `leave` bytes free (0: until
    ENOSPC); returns the file's size."""
    block = b"f" * 65536
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            room = free_bytes(path.parent) - leave
            if leave and room <= 0:
                break
            want = block if not leave or room >= len(block) else block[:room]
            try:
                os.write(fd, want)
            except OSError as e:
                assert e.errno == 28, e      # ENOSPC
                break
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def message(n, size):
    """A message of about size bytes, unique by n: CRLF lines of 76 characters."""
    head = (b"From: <sender@remote.test>\r\nTo: <user1@remote.test>\r\n"
            b"Subject: filler %d\r\nMessage-ID: <fill-%d@remote.test>\r\n\r\n" % (n, n))
    line = (b"%05d " % n) + b"abcdefghijklmnopqrstuvwxyz0123456789" * 2 + b"\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


def greet(c):
    assert c.reply().code == 220
    c.ehlo()


def transaction(c, rcpt, msg):
    """MAIL, RCPT, DATA, content; returns the final reply (the message's verdict)."""
    r = c.cmd("MAIL FROM:<%s>" % SENDER)
    assert (r.code, r.enh) == (250, "2.1.0"), r
    r = c.cmd("RCPT TO:<%s>" % rcpt)
    assert r.code == 250, r
    r = c.cmd("DATA")
    if r.code != 354:
        return r
    c.send(data_wire(msg))
    return c.reply()


def assert_452(r):
    assert (r.code, r.enh, r.message) == (452, "4.3.1", "Insufficient system storage"), r


def make_remote_local(env, d, **global_opts):
    """Reloads (SIGHUP) with remote.test local, then flushes the queue."""
    env.write_config(servers=[("mx", env.server(local_domains="example.test, example.net, remote.test"))],
                     global_opts=env.global_opts(**global_opts))
    mark = d.log_mark()
    os.kill(d.pid, signal.SIGHUP)
    d.wait_log(r"event=reloaded\b", start=mark)
    c = control(env)
    c.ok("queue.flush")
    c.close()


# ---- the spool's file system fills up -------------------------------------------------

def test_full_spool_says_452_keeps_the_queue_and_recovers(disks, env):
    fs = disks.tmpfs("spoolfs", 4 * MIB)
    spool = fs / "spool"
    env.spool = spool
    opts = dict(spool=str(spool), min_free_space="0")
    d = env.start(global_opts=env.global_opts(**opts))
    filler = fs / "filler"
    fill(filler, leave=3 * MIB)            # about 3 MiB left for mail

    queued = {}                            # id -> message: every 250 given
    refused = None
    with env.connect() as c:
        greet(c)
        for n in range(40):
            msg = message(n, 300 * 1024)
            r = transaction(c, WAITING, msg)
            if r.code == 250:
                qid = r.queue_id()
                assert (spool / "queue" / qid).is_file(), "250 for %s, not in queue/" % qid
                queued[qid] = msg
                continue
            assert_452(r)
            refused = n
            break
        assert refused is not None, "the disk never filled"
        assert len(queued) >= 5
        # the failed message left nothing in tmp/; nothing queued was touched
        assert files_in(spool / "tmp") == []
        assert sorted(env.queue_files()) == sorted(queued)
        d.wait_log(r"event=spool_error .*No space left on device")

        # BDAT: a chunk may get "250 ... octets received", the message never a 250
        msg = message(100, 200 * 1024)
        half = len(msg) // 2
        c.send(b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n" % (SENDER.encode(), WAITING.encode()))
        c.send(b"BDAT %d\r\n" % half + msg[:half])
        c.send(b"BDAT %d LAST\r\n" % (len(msg) - half) + msg[half:])
        mail, rcpt, chunk, last = c.read(4)
        assert (mail.code, rcpt.code, chunk.code) == (250, 250, 250), (mail, rcpt, chunk)
        assert "queued" not in chunk.message
        assert_452(last)
        assert files_in(spool / "tmp") == []

        # space comes back: the same connection is served again
        filler.unlink()
        msg = message(200, 100 * 1024)
        r = transaction(c, WAITING, msg)
        assert (r.code, r.enh) == (250, "2.0.0"), r
        queued[r.queue_id()] = msg
        c.quit()
    assert sorted(env.queue_files()) == sorted(queued)

    # every message that got a 250 is delivered, byte for byte, once remote.test is local
    make_remote_local(env, d, **opts)
    for qid in queued:
        d.wait_removed(qid)
    stored = wait_for_file(env.maildir("user1", "remote.test") / "new" / "*", count=len(queued))
    assert len(stored) == len(queued)
    by_id = {}
    for path in stored:
        data = Path(path).read_bytes()
        qid = [q for q in queued if (b" id %s" % q.encode()) in data]
        assert len(qid) == 1, path
        by_id[qid[0]] = path
    for qid, msg in queued.items():
        check_stored(by_id[qid], SENDER, WAITING, msg, qid)
    assert env.queue_files() == [] and files_in(spool / "tmp") == []


# ---- min_free_space ------------------------------------------------------------------------

def test_min_free_space_refuses_mail_until_lowered(disks, env):
    fs = disks.tmpfs("spoolfs", 4 * MIB)
    spool = fs / "spool"
    env.spool = spool
    d = env.start(global_opts=env.global_opts(spool=str(spool), min_free_space="8M"))
    for _ in range(2):
        with env.connect() as c:
            greet(c)
            assert_452(c.cmd("MAIL FROM:<%s>" % SENDER))
            c.quit()
    d.wait_log(r"event=mail .*result=rejected code=4\.3\.1 reason=low_space")
    assert len(d.log_matches(r"event=low_space state=low .*min=8388608\b")) == 1
    assert env.queue_files() == []

    # lowered by a reload: new sessions use it
    env.write_config(global_opts=env.global_opts(spool=str(spool), min_free_space="1M"))
    mark = d.log_mark()
    os.kill(d.pid, signal.SIGHUP)
    d.wait_log(r"event=reloaded\b", start=mark)
    room = free_bytes(fs) - MIB
    with env.connect() as c:
        greet(c)
        assert_452(c.cmd("MAIL FROM:<%s> SIZE=%d" % (SENDER, room + 64 * 1024)))   # would not fit
        msg = message(1, 64 * 1024)
        qid = send_mail(c, SENDER, [LOCAL], msg, greet=False, params=" SIZE=%d" % len(msg))
        c.quit()
    d.wait_log(r"event=low_space state=ok .*min=1048576\b", start=mark)
    d.wait_removed(qid)
    (path,) = files_in(env.maildir("user1") / "new")
    check_stored(path, SENDER, LOCAL, msg, qid)

    # the space goes between MAIL and DATA: DATA is refused before any content
    with env.connect() as c:
        greet(c)
        assert c.cmd("MAIL FROM:<%s>" % SENDER).code == 250
        assert c.cmd("RCPT TO:<%s>" % LOCAL).code == 250
        filler = fs / "filler"
        fill(filler, leave=MIB // 2)
        time.sleep(CACHE_WAIT)
        assert_452(c.cmd("DATA"))
        assert files_in(spool / "tmp") == []
        filler.unlink()
        time.sleep(CACHE_WAIT)
        msg = message(2, 1024)
        assert c.cmd("RSET").code == 250
        qid = send_mail(c, SENDER, [LOCAL], msg, greet=False)
        c.quit()
    d.wait_removed(qid)
    assert len(d.log_matches(r"event=low_space state=low\b")) == 2
    assert len(d.log_matches(r"event=low_space state=ok\b")) == 2


# ---- a full Maildir ----------------------------------------------------------------------

def test_full_maildir_defers_with_431_then_delivers(disks, env):
    mailfs = disks.tmpfs("mailfs", MIB)
    env.mail = mailfs
    d = env.start(servers=[("mx", env.server(mailbox="maildir:%s/%%d/%%u" % mailfs, retry="1s"))],
                  global_opts=env.global_opts(min_free_space="0"))
    filler = mailfs / "filler"
    fill(filler)
    msg = message(1, 200 * 1024)
    with env.connect() as c:
        qid = send_mail(c, SENDER, [LOCAL], msg)
        c.quit()
    ev = wait_event(d, "deferred", qid, LOCAL)
    assert ev["dsn"] == "4.3.1", ev
    assert "No space left on device" in ev["reason"], ev
    wait_event(d, "deferred", qid, LOCAL, start=d.log_mark())     # and again, a second later
    assert env.queue_files() == [qid]
    assert files_in(env.maildir("user1") / "new") == []
    assert files_in(env.maildir("user1") / "tmp") == []             # no partial copy left

    filler.unlink()
    (path,) = wait_for_file(env.maildir("user1") / "new" / "*")
    d.wait_removed(qid)
    check_stored(path, SENDER, LOCAL, msg, qid)
    assert env.queue_files() == []
    assert not d.log_matches(r"event=failed\b")
    assert not d.log_matches(r"event=(report|badmail)\b")
    assert [p for p in env.mail_files() if p != "filler"] == [
        str(Path(path).relative_to(mailfs))]
