"""Delivery status notifications: the reports vsmtpd sends to a sender.

Each test builds the loopback world (world.py), makes a delivery fail, wait
or succeed, then reads the report where it lands (the Maildir of the local
sender user1@example.test, or a fake MX) and parses it with Python's email
package, checking each field against RFC 3464 (message/delivery-status),
RFC 3461 (NOTIFY, RET, ENVID, ORCPT) and RFC 6522 (multipart/report).
Mail from <> is never reported on: it is kept in the badmail directory.
"""

import email
import email.utils
import re

import pytest

from helpers import data_wire, events, fields, wait_event, wait_for_file
from world import MX1_IP, OTHER_IP

SENDER = "user1@example.test"       # local: its reports land in its Maildir
MESSAGE = (b"From: User One <user1@example.test>\r\n"
           b"To: someone@other.test\r\n"
           b"Subject: the original\r\n"
           b"Message-ID: <orig-1@example.test>\r\n"
           b"\r\n"
           b"The body of the original.\r\n")
REPORT_RE = r"event=report id=(\w+) orig=%s "


# ---- helpers ----------------------------------------------------------------------

def submit(env, rcpts, message=MESSAGE, sender=SENDER, mail_params=""):
    """One message; rcpts are addresses or (address, RCPT parameters). Returns its queue ID."""
    with env.connect() as c:
        assert c.reply().code == 220
        c.ehlo()
        r = c.cmd("MAIL FROM:<%s>%s" % (sender, mail_params))
        assert r.code == 250, r
        for rc in rcpts:
            addr, params = (rc, "") if isinstance(rc, str) else rc
            r = c.cmd("RCPT TO:<%s>%s" % (addr, params))
            assert r.code == 250, r
        assert c.cmd("DATA").code == 354
        c.send(data_wire(message))
        r = c.reply()
        assert r.code == 250, r
        c.quit()
    return r.queue_id()


def wait_report(d, qid, timeout=20):
    """The fields of the `event=report` line for the original qid."""
    return fields(d.wait_log(REPORT_RE % qid, timeout=timeout).string)


def reports(d, qid):
    return [fields(m.string) for m in d.log_matches(REPORT_RE % qid)]


def read_report(env, rid, user="user1"):
    """The report with queue ID rid as delivered into user's Maildir, parsed."""
    (path,) = wait_for_file(env.maildir(user) / "new" / ("*%s*" % rid))
    with open(path, "rb") as f:
        raw = f.read()
    assert raw.startswith(b"Return-Path: <>\n"), raw[:200]
    return email.message_from_bytes(raw)


def parts(report):
    """(text part, [per-message fields, per-recipient fields...], third part or None)."""
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    body = report.get_payload()
    assert 2 <= len(body) <= 3, [p.get_content_type() for p in body]
    assert body[0].get_content_type() == "text/plain"
    assert body[1].get_content_type() == "message/delivery-status"
    blocks = body[1].get_payload()
    assert len(blocks) >= 2
    return body[0], blocks, (body[2] if len(body) == 3 else None)


def recipient_blocks(blocks):
    return {b["Final-Recipient"].split(";", 1)[1].strip(): b for b in blocks[1:]}


def check_date(value):
    assert email.utils.parsedate_to_datetime(value) is not None, value


def check_report_headers(report, to=SENDER):
    assert report["From"] == "Mail Delivery System <postmaster@mx.example.test>"
    assert report["To"] == "<%s>" % to
    assert report["Auto-Submitted"] == "auto-replied"
    assert report["MIME-Version"] == "1.0"
    assert re.match(r"<\w+@mx\.example\.test>$", report["Message-ID"]), report["Message-ID"]
    check_date(report["Date"])


def check_per_message(block, envid=None):
    assert block["Reporting-MTA"] == "dns; mx.example.test"
    assert block["Original-Envelope-Id"] == envid
    assert block["Received-From-MTA"] == "dns; client.example ([127.0.0.1])"
    check_date(block["Arrival-Date"])


def rejecting_fake(world, ip=OTHER_IP, bad=("nobody@other.test",), code="550 5.1.1 no such user", **kw):
    """A fake MX refusing the recipients in bad with code."""
    return world.fake(ip, reply=lambda stage, arg, conn:
                      code if stage == "rcpt" and arg in bad else None, **kw)


# ---- failures -----------------------------------------------------------------------

def test_dsn_remote_5xx_one_report_for_all_failed_recipients(world):
    """Two recipients refused with 550 in one transaction, one accepted: one
    failure report names both, with ENVID and ORCPT carried over, and returns
    the whole (small) original."""
    fake = rejecting_fake(world, bad=("nobody@other.test", "gone@other.test"))
    d = world.start()
    qid = submit(world.env, [("nobody@other.test", " ORCPT=rfc822;Nobody+2BTag@other.test"),
                             "gone@other.test", "someone@other.test"],
                 mail_params=" ENVID=env+2Bid-1")
    rep = wait_report(d, qid)
    assert (rep["kind"], rep["to"], rep["rcpts"]) == ("failure", "<%s>" % SENDER, "2")
    d.wait_removed(qid)
    assert [m.rcpts for m in fake.messages] == [["someone@other.test"]]

    report = read_report(world.env, rep["id"])
    check_report_headers(report)
    assert report["Subject"] == "Delivery Status Notification (Failure)"
    text, blocks, original = parts(report)
    check_per_message(blocks[0], envid="env+id-1")
    rcpts = recipient_blocks(blocks)
    assert sorted(rcpts) == ["gone@other.test", "nobody@other.test"]
    b = rcpts["nobody@other.test"]
    assert b["Original-Recipient"] == "rfc822; Nobody+Tag@other.test"
    assert b["Action"] == "failed"
    assert b["Status"] == "5.1.1"
    assert b["Remote-MTA"] == "dns; mx.other.test"
    assert b["Diagnostic-Code"] == "smtp; 550 5.1.1 no such user"
    check_date(b["Last-Attempt-Date"])
    assert rcpts["gone@other.test"]["Original-Recipient"] is None
    assert "nobody@other.test" in text.get_payload(decode=True).decode()
    assert original.get_content_type() == "message/rfc822"
    (inner,) = original.get_payload()
    assert inner["Message-ID"] == "<orig-1@example.test>"
    assert inner.get_payload() == "The body of the original.\n"
    assert reports(d, rep["id"]) == []     # the report was not reported on


def test_dsn_expiry_fails_with_4_4_7_and_the_last_reply(world):
    rejecting_fake(world, bad=("slow@other.test",), code="451 4.3.0 try later")
    d = world.start(expire="3s", delay_warning="0")
    qid = submit(world.env, ["slow@other.test"])
    rep = wait_report(d, qid, timeout=30)
    report = read_report(world.env, rep["id"])
    _, blocks, _ = parts(report)
    b = recipient_blocks(blocks)["slow@other.test"]
    assert (b["Action"], b["Status"]) == ("failed", "4.4.7")
    assert b["Diagnostic-Code"] == "smtp; 451 4.3.0 try later"


@pytest.mark.parametrize("rcpt, status", [("rcpt@nullmx.test", "5.1.10"),     # RFC 7505
                                          ("rcpt@nothere.test", "5.1.2")])     # NXDOMAIN
def test_dsn_dns_failures_reported(world, rcpt, status):
    d = world.start()
    qid = submit(world.env, [rcpt])
    report = read_report(world.env, wait_report(d, qid)["id"])
    b = recipient_blocks(parts(report)[1])[rcpt]
    assert (b["Action"], b["Status"], b["Remote-MTA"]) == ("failed", status, None)


def test_dsn_mail_loop_reported_with_5_4_6(world):
    d = world.start(max_hop_count="2")
    loop = b"".join(b"Received: from a%d.test by b%d.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
                    % (i, i) for i in range(3)) + MESSAGE
    qid = submit(world.env, ["someone@other.test"], message=loop)
    report = read_report(world.env, wait_report(d, qid)["id"])
    b = recipient_blocks(parts(report)[1])["someone@other.test"]
    assert (b["Action"], b["Status"]) == ("failed", "5.4.6")
    # The report itself is no loop: its own header has no Received: field.
    assert report["Received"] is None


def test_dsn_local_user_unknown_at_delivery_time(world, tmp_path):
    """A message queued for a user who is gone by the time it is delivered
    (the first run could not reach its LMTP server, the second run delivers
    to Maildirs with a users file that lacks the user) fails with 5.1.1."""
    d = world.start(users=None, mailbox="lmtp:unix:%s" % (tmp_path / "nothing.sock"), retry="1s")
    qid = submit(world.env, ["user9@example.test"])
    wait_event(d, "deferred", qid, "user9@example.test")
    d.stop()
    d = world.start(retry="1s")
    ev = wait_event(d, "failed", qid, "user9@example.test")
    assert ev["dsn"] == "5.1.1"
    report = read_report(world.env, wait_report(d, qid)["id"])
    b = recipient_blocks(parts(report)[1])["user9@example.test"]
    assert (b["Action"], b["Status"], b["Remote-MTA"]) == ("failed", "5.1.1", None)
    assert b["Diagnostic-Code"].startswith("smtp; 550 5.1.1 "), b["Diagnostic-Code"]


def test_dsn_ndr_copy_to_gets_the_same_report(world):
    rejecting_fake(world)
    d = world.start(ndr_copy_to="user3@example.test")
    qid = submit(world.env, ["nobody@other.test"])
    rep = wait_report(d, qid)
    assert rep["copy"] == "<user3@example.test>"
    mine = read_report(world.env, rep["id"])
    copy = read_report(world.env, rep["id"], user="user3")
    assert mine.as_bytes() == copy.as_bytes().replace(b"Delivered-To: user3@", b"Delivered-To: user1@")


@pytest.mark.parametrize("ret, part_type", [("FULL", "message/rfc822"), ("HDRS", "text/rfc822-headers")])
def test_dsn_ret_full_or_headers(world, ret, part_type):
    rejecting_fake(world)
    d = world.start()
    qid = submit(world.env, ["nobody@other.test"], mail_params=" RET=%s" % ret)
    _, _, third = parts(read_report(world.env, wait_report(d, qid)["id"]))
    assert third.get_content_type() == part_type
    if ret == "FULL":
        assert third.get_payload()[0].get_payload() == "The body of the original.\n"
    else:
        text = third.get_payload(decode=True)
        assert b"Message-ID: <orig-1@example.test>" in text
        assert b"The body of the original." not in text


def test_dsn_large_message_without_ret_returns_headers_only(world):
    rejecting_fake(world)
    d = world.start()
    big = MESSAGE + (b"x" * 76 + b"\r\n") * 1200           # 93 KB
    qid = submit(world.env, ["nobody@other.test"], message=big)
    _, _, third = parts(read_report(world.env, wait_report(d, qid)["id"]))
    assert third.get_content_type() == "text/rfc822-headers"


# ---- delays -------------------------------------------------------------------------

def test_dsn_delay_warning_once_then_delivered_without_more_reports(world):
    verdict = {"rcpt": "451 4.3.0 try later"}
    world.fake(OTHER_IP, reply=lambda stage, arg, conn: verdict.get(stage))
    d = world.start(delay_warning="1s", retry="1s", expire="1h")
    qid = submit(world.env, ["late@other.test"])
    rep = wait_report(d, qid)
    assert rep["kind"] == "delay"
    n = len(events(d, "deferred", qid))
    d.wait_log(r"event=deferred id=%s .* tries=%d " % (qid, n + 2), timeout=30)
    verdict.clear()
    wait_event(d, "delivered", qid, "late@other.test")
    d.wait_removed(qid)
    assert len(reports(d, qid)) == 1            # once, and no success report

    report = read_report(world.env, rep["id"])
    check_report_headers(report)
    assert report["Subject"] == "Delivery Status Notification (Delay)"
    _, blocks, third = parts(report)
    b = recipient_blocks(blocks)["late@other.test"]
    assert (b["Action"], b["Status"]) == ("delayed", "4.3.0")
    assert b["Diagnostic-Code"] == "smtp; 451 4.3.0 try later"
    assert b["Remote-MTA"] == "dns; mx.other.test"
    assert (email.utils.parsedate_to_datetime(b["Will-Retry-Until"]) -
            email.utils.parsedate_to_datetime(blocks[0]["Arrival-Date"])).total_seconds() == 3600
    assert third is None or third.get_content_type() == "text/rfc822-headers"


def test_dsn_notify_without_delay_gets_no_delay_report(world):
    world.fake(OTHER_IP, reply=lambda stage, arg, conn: "451 4.3.0 try later" if stage == "rcpt" else None)
    d = world.start(delay_warning="1s", retry="1s", expire="1h")
    qid = submit(world.env, [("late@other.test", " NOTIFY=FAILURE")])
    d.wait_log(r"event=deferred id=%s .* tries=3 " % qid, timeout=30)
    assert reports(d, qid) == []


# ---- success and NEVER ----------------------------------------------------------------

def test_dsn_notify_success_for_local_delivery(world):
    d = world.start()
    qid = submit(world.env, [("user2@example.test", " NOTIFY=SUCCESS,DELAY"), "user3@example.test"])
    rep = wait_report(d, qid)
    assert (rep["kind"], rep["rcpts"]) == ("success", "1")
    report = read_report(world.env, rep["id"])
    assert report["Subject"] == "Delivery Status Notification (Success)"
    _, blocks, third = parts(report)
    rcpts = recipient_blocks(blocks)
    assert list(rcpts) == ["user2@example.test"]
    assert (rcpts["user2@example.test"]["Action"], rcpts["user2@example.test"]["Status"]) == \
        ("delivered", "2.0.0")
    assert third is None or third.get_content_type() == "text/rfc822-headers"


def test_dsn_notify_success_relayed_to_a_peer_without_dsn(world):
    world.fake(OTHER_IP)                         # its EHLO has no DSN
    d = world.start()
    qid = submit(world.env, [("someone@other.test", " NOTIFY=SUCCESS")])
    report = read_report(world.env, wait_report(d, qid)["id"])
    b = recipient_blocks(parts(report)[1])["someone@other.test"]
    assert (b["Action"], b["Status"], b["Remote-MTA"]) == ("relayed", "2.0.0", "dns; mx.other.test")


def test_dsn_notify_success_to_a_dsn_peer_is_its_business(world):
    fake = world.fake(OTHER_IP, extensions=["PIPELINING", "8BITMIME", "DSN", "ENHANCEDSTATUSCODES"])
    d = world.start()
    qid = submit(world.env, [("someone@other.test", " NOTIFY=SUCCESS")])
    d.wait_removed(qid)
    assert reports(d, qid) == []
    assert "NOTIFY=SUCCESS" in fake.commands()[2].upper()


def test_dsn_notify_never_suppresses_the_failure_report(world):
    rejecting_fake(world)
    d = world.start()
    qid = submit(world.env, [("nobody@other.test", " NOTIFY=NEVER")])
    wait_event(d, "failed", qid, "nobody@other.test")
    d.wait_removed(qid)
    assert reports(d, qid) == []
    assert world.env.mail_files() == []


# ---- no bounce loops ---------------------------------------------------------------------

def badmail(env):
    return env.spool / "badmail"


def test_dsn_failed_mail_from_null_sender_is_kept_as_badmail(world):
    rejecting_fake(world)
    d = world.start()
    qid = submit(world.env, ["nobody@other.test"], sender="")
    d.wait_log(r"event=badmail id=%s " % qid)
    d.wait_removed(qid)
    assert reports(d, qid) == []
    eml = (badmail(world.env) / ("%s.eml" % qid)).read_bytes()
    assert eml.endswith(MESSAGE) and eml.startswith(b"Received: ")
    (line,) = (badmail(world.env) / ("%s.txt" % qid)).read_text().splitlines()
    f = fields(line)
    assert (f["id"], f["to"], f["dsn"], f["relay"]) == (qid, "<nobody@other.test>", "5.1.1", "mx.other.test")
    assert f["reason"] == "550 5.1.1 no such user"


def test_dsn_bounce_of_a_bounce_is_kept_as_badmail(world):
    """The sender's domain does not exist: its failure report fails in turn,
    and that report (from <>) is kept in badmail, not bounced again."""
    rejecting_fake(world)
    d = world.start()
    qid = submit(world.env, ["nobody@other.test"], sender="someone@nothere.test")
    rid = wait_report(d, qid)["id"]
    ev = wait_event(d, "failed", rid, "someone@nothere.test")
    assert ev["dsn"] == "5.1.2"
    d.wait_log(r"event=badmail id=%s " % rid)
    d.wait_removed(rid)
    assert reports(d, rid) == []
    kept = email.message_from_bytes((badmail(world.env) / ("%s.eml" % rid)).read_bytes())
    assert kept.get_content_type() == "multipart/report"
    world.env.assert_no_leftovers()


def test_dsn_badmail_directory_setting(world, tmp_path):
    rejecting_fake(world)
    where = tmp_path / "kept" / "bad"
    d = world.start(badmail=str(where))
    qid = submit(world.env, ["nobody@other.test"], sender="")
    d.wait_log(r"event=badmail id=%s path=%s/%s.eml " % (qid, re.escape(str(where)), qid))
    assert (where / ("%s.eml" % qid)).exists()
    assert not badmail(world.env).exists()
