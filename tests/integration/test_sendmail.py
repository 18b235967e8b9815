"""vsmtpd-sendmail (tools/vsmtpd-sendmail.c) against a running daemon: the
`submit` control command end to end.

Messages go in on stdin as local programs send them (LF line ends, no From:,
Date: nor Message-ID:) and are compared byte for byte in the Maildir: the
Received: field vsmtpd adds, the missing fields added at the end of the
header section, the rest exactly as given (CRLF turned into LF, as stored).
Also: -t with To/Cc/Bcc (Bcc removed), -f and -F, the "." line rule with and
without -i, and the exit codes (sysexits.h) for no recipients, a daemon that
is down, a message too big; an unknown local user is accepted and reported
later to the sender.
"""

import base64
import email.utils
import json
import os
import pwd
import re
import socket
import subprocess
from pathlib import Path

from helpers import split_delivered, wait_for_file

EX_USAGE, EX_DATAERR, EX_UNAVAILABLE = 64, 65, 69

SUBMIT_RECEIVED_RE = (r"Received: by (?P<host>\S+) \(vsmtpd, from user (?P<user>[^)]+)\)\n"
                      r"\tid (?P<id>[0-9A-Z]+); (?P<date>[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} "
                      r"\d{4} \d{2}:\d{2}:\d{2} [+-]\d{4})\n$")
QUEUED_RE = re.compile(r"queued as ([0-9A-Z]+)")
LOGIN = pwd.getpwuid(os.getuid()).pw_name


def sendmail_binary():
    build = os.environ.get("VSMTPD_BUILD") or str(Path(__file__).resolve().parents[2] / "build")
    return str(Path(build) / "vsmtpd-sendmail")


def sendmail(env, args, message, config=True):
    """Runs vsmtpd-sendmail -v in the test directory (with -C env.conf unless config is
    False); returns (exit status, stderr text, queue ID or None)."""
    argv = [sendmail_binary(), "-v"] + (["-C", str(env.conf)] if config else []) + list(args)
    p = subprocess.run(argv, input=message, cwd=str(env.root), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    err = p.stderr.decode("utf-8", "replace")
    m = QUEUED_RE.search(err)
    return p.returncode, err, (m.group(1) if m else None)


def submitted(env, args, message, **kw):
    rc, err, qid = sendmail(env, args, message, **kw)
    assert rc == 0 and qid, (rc, err)
    return qid


def delivered(env, daemon, qid, user, domain="example.test"):
    """The bytes of the one copy of qid in user's Maildir, once delivery is over."""
    daemon.wait_removed(qid)
    files = [f for f in env.new_files(user, domain) if f.read_bytes().find(qid.encode()) >= 0]
    assert len(files) == 1, env.mail_files()
    return files[0].read_bytes()


def check_submitted(data, qid, sender, rcpt, headers, added, body, user=LOGIN,
                    host="mx.example.test"):
    """Asserts a stored submission: Return-Path, Delivered-To, our Received:, the
    message's header fields, the fields vsmtpd added (a list; "DATE" stands for a
    Date: field, checked by parsing), then the body."""
    rp, dt, received, rest = split_delivered(data)
    assert rp == b"Return-Path: <" + sender.encode() + b">"
    assert dt == b"Delivered-To: " + rcpt.encode()
    m = re.match(SUBMIT_RECEIVED_RE, received.decode("utf-8"))
    assert m, received
    assert (m.group("host"), m.group("user"), m.group("id")) == (host, user, qid)
    assert email.utils.parsedate_to_datetime(m.group("date")) is not None
    assert rest.startswith(headers), rest
    rest = rest[len(headers):]
    for field in added:
        line, rest = rest.split(b"\n", 1)
        if field == "DATE":
            assert line.startswith(b"Date: "), line
            assert email.utils.parsedate_to_datetime(line[6:].decode()) is not None
        else:
            assert line == field.encode(), (line, field)
    assert rest == b"\n" + body, rest


def test_sendmail_plain_byte_exact(env):
    daemon = env.start()
    message = (b"Subject: from a local program\n"
               b"To: user1@example.test\n"
               b"\n"
               b"Hello,\n"
               b"..two dots stay two dots\n"
               b"  indented\tline  \n"
               b"last line\n")
    qid = submitted(env, ["user1@example.test"], message)
    data = delivered(env, daemon, qid, "user1")
    sender = "%s@mx.example.test" % LOGIN
    check_submitted(data, qid, sender, "user1@example.test",
                    b"Subject: from a local program\nTo: user1@example.test\n",
                    ["From: <%s>" % sender, "DATE", "Message-ID: <%s@mx.example.test>" % qid],
                    b"Hello,\n..two dots stay two dots\n  indented\tline  \nlast line\n")
    m = daemon.wait_log(r"event=submitted id=%s user=(\S+) from=<([^>]*)> nrcpt=1 size=(\d+)" % qid)
    assert m.group(1) == LOGIN and m.group(2) == sender
    env.assert_no_leftovers()


def test_sendmail_socket_option_and_machine_name(env):
    """-S alone: the config is not read; bare names get the machine's name."""
    daemon = env.start()
    qid = submitted(env, ["-S", str(env.root / "control.sock"), "user1@example.test"],
                    b"Subject: s\n\nbody\n", config=False)
    data = delivered(env, daemon, qid, "user1")
    host = socket.gethostname().lower()
    assert data.startswith(b"Return-Path: <%s@%s>\n" % (LOGIN.encode(), host.encode())), data[:200]
    assert b"\nFrom: <%s@%s>\n" % (LOGIN.encode(), host.encode()) in data


def test_sendmail_present_fields_are_kept_not_doubled(env):
    daemon = env.start()
    message = (b"From: Someone <someone@example.test>\r\n"
               b"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n"
               b"Message-ID: <kept@example.test>\r\n"
               b"Subject: all there\r\n"
               b"\r\n"
               b"body\r\n")
    qid = submitted(env, ["-f", "someone@example.test", "user2@example.test"], message)
    data = delivered(env, daemon, qid, "user2")
    check_submitted(data, qid, "someone@example.test", "user2@example.test",
                    message.replace(b"\r\n", b"\n").split(b"\n\n")[0] + b"\n", [], b"body\n")


def test_sendmail_line_ends_normalised_and_8bit_kept(env):
    daemon = env.start()
    message = b"Subject: mixed\r\n\nline one\rline two\r\nunicode: \xc3\xa9t\xc3\xa9\nno final newline"
    qid = submitted(env, ["-f", "a@example.test", "user1@example.test"], message)
    data = delivered(env, daemon, qid, "user1")
    _, _, _, rest = split_delivered(data)
    assert rest.endswith(b"\n\nline one\nline two\nunicode: \xc3\xa9t\xc3\xa9\nno final newline\n"), rest
    assert b"\r" not in data


def test_sendmail_body_without_header_section(env):
    daemon = env.start()
    qid = submitted(env, ["-f", "a@example.test", "user1@example.test"], b"just a body line\n")
    data = delivered(env, daemon, qid, "user1")
    check_submitted(data, qid, "a@example.test", "user1@example.test", b"",
                    ["From: <a@example.test>", "DATE", "Message-ID: <%s@mx.example.test>" % qid],
                    b"just a body line\n")


def test_sendmail_t_to_cc_bcc(env):
    daemon = env.start()
    message = (b"From: Boss <user1@example.test>\n"
               b"To: User One <user1@example.test>\n"
               b"Cc: \"Two, User\" <user2@example.test>,\n"
               b"  (a comment) netonly@example.net\n"
               b"Bcc: hidden: user3@example.test;\n"
               b"Subject: three fields\n"
               b"\n"
               b"To: not a header, the body\n")
    qid = submitted(env, ["-t", "CaseUser@example.test"], message)
    daemon.wait_log(r"event=submitted id=%s user=\S+ from=<[^>]*> nrcpt=5 " % qid)
    kept = (b"From: Boss <user1@example.test>\n"
            b"To: User One <user1@example.test>\n"
            b"Cc: \"Two, User\" <user2@example.test>,\n"
            b"  (a comment) netonly@example.net\n"
            b"Subject: three fields\n")
    for user, domain in (("user1", "example.test"), ("user2", "example.test"),
                         ("user3", "example.test"), ("netonly", "example.net"),
                         ("caseuser", "example.test")):
        data = delivered(env, daemon, qid, user, domain)
        assert b"Bcc" not in data and b"hidden" not in data
        _, dt, _, rest = split_delivered(data)
        assert rest.startswith(kept), rest
        assert rest.endswith(b"\n\nTo: not a header, the body\n")
    env.assert_no_leftovers()


def test_sendmail_t_resent_fields_win(env):
    daemon = env.start()
    message = (b"To: user1@example.test\n"
               b"Resent-To: user2@example.test\n"
               b"Resent-Bcc: user3@example.test\n"
               b"\nbody\n")
    qid = submitted(env, ["-t"], message)
    daemon.wait_removed(qid)
    assert env.new_files("user1") == []
    data = delivered(env, daemon, qid, "user2")
    assert b"Resent-Bcc" not in data and b"Resent-To: user2@example.test\n" in data
    assert len(env.new_files("user3")) == 1


def test_sendmail_bcc_removed_without_t(env):
    daemon = env.start()
    message = b"To: user1@example.test\nBcc: secret@example.test\nSubject: s\n\nbody\n"
    qid = submitted(env, ["user1@example.test"], message)
    data = delivered(env, daemon, qid, "user1")
    assert b"Bcc" not in data and b"secret" not in data


def test_sendmail_f_sets_return_path_and_F_the_from_name(env):
    daemon = env.start()
    qid = submitted(env, ["-f", "<Sender@Example.TEST>", "-F", "Jane \"J\" Doe", "user1@example.test"],
                    b"Subject: s\n\nbody\n")
    data = delivered(env, daemon, qid, "user1")
    check_submitted(data, qid, "Sender@example.test", "user1@example.test", b"Subject: s\n",
                    ["From: \"Jane \\\"J\\\" Doe\" <Sender@example.test>", "DATE",
                     "Message-ID: <%s@mx.example.test>" % qid], b"body\n")
    # a non-ASCII full name is an RFC 2047 encoded-word; a newline in it is no new field
    qid = submitted(env, ["-fuser2@example.test", "-F", "\u00c9lo\u00efse\nBcc: x", "user1@example.test"],
                    b"Subject: s\n\nbody\n")
    data = delivered(env, daemon, qid, "user1")
    m = re.search(rb"\nFrom: =\?UTF-8\?B\?([A-Za-z0-9+/=]+)\?= <user2@example.test>\n", data)
    assert m, data
    assert base64.b64decode(m.group(1)).decode() == "\u00c9lo\u00efse Bcc: x"


def test_sendmail_null_sender(env):
    daemon = env.start()
    qid = submitted(env, ["-f", "<>", "user1@example.test"], b"Subject: s\n\nbody\n")
    data = delivered(env, daemon, qid, "user1")
    check_submitted(data, qid, "", "user1@example.test", b"Subject: s\n",
                    ["From: MAILER-DAEMON@mx.example.test", "DATE",
                     "Message-ID: <%s@mx.example.test>" % qid], b"body\n")


def test_sendmail_dot_line_ends_input_without_i(env):
    daemon = env.start()
    message = b"Subject: dots\n\nbefore\n.\nafter\n"
    qid = submitted(env, ["-f", "a@example.test", "user1@example.test"], message)
    data = delivered(env, daemon, qid, "user1")
    assert data.endswith(b"\n\nbefore\n"), data
    for flag in ("-i", "-oi"):
        qid = submitted(env, [flag, "-f", "a@example.test", "user2@example.test"], message)
        data = delivered(env, daemon, qid, "user2")
        assert data.endswith(b"\n\nbefore\n.\nafter\n"), data
    # a CRLF "." line ends it too, and so does a "." on the last line without its newline
    qid = submitted(env, ["-f", "a@example.test", "user3@example.test"], b"S: x\r\n\r\nb\r\n.")
    data = delivered(env, daemon, qid, "user3")
    assert data.endswith(b"\n\nb\n"), data


def test_sendmail_no_recipients_is_usage_error(env):
    env.start()
    rc, err, _ = sendmail(env, [], b"Subject: s\n\nbody\n")
    assert rc == EX_USAGE and "no recipients" in err
    rc, err, _ = sendmail(env, ["-t"], b"Subject: no To\n\nbody\n")
    assert rc == EX_USAGE and "no recipients" in err
    rc, err, _ = sendmail(env, ["-t"], b"To: undisclosed-recipients:;\n\nbody\n")
    assert rc == EX_USAGE
    rc, err, _ = sendmail(env, ["-Q", "user1@example.test"], b"x\n")
    assert rc == EX_USAGE and "usage" in err
    rc, err, _ = sendmail(env, ["-bs", "user1@example.test"], b"x\n")
    assert rc == EX_USAGE
    rc, err, _ = sendmail(env, ["John Doe"], b"x\n")
    assert rc == EX_USAGE
    assert env.queue_files() == [] and env.mail_files() == []


def test_sendmail_bad_header_address_is_data_error(env):
    env.start()
    rc, err, _ = sendmail(env, ["-t"], b"To: \"unclosed <user1@example.test>\n\nbody\n")
    assert rc == EX_DATAERR and "To:" in err
    assert env.queue_files() == [] and env.mail_files() == []


def test_sendmail_daemon_down_is_unavailable(env):
    d = env.start()
    d.stop()
    rc, err, _ = sendmail(env, ["user1@example.test"], b"Subject: s\n\nbody\n")
    assert rc == EX_UNAVAILABLE and "cannot reach vsmtpd" in err
    rc, err, _ = sendmail(env, ["-S", str(env.root / "nowhere.sock"), "user1@example.test"],
                          b"Subject: s\n\nbody\n", config=False)
    assert rc == EX_UNAVAILABLE


def test_sendmail_unknown_local_user_is_reported_later(env):
    daemon = env.start()
    rc, err, qid = sendmail(env, ["-f", "user1@example.test", "nosuchuser@example.test"],
                            b"Subject: to nobody\n\nbody\n")
    assert rc == 0 and qid, err
    daemon.wait_log(r"event=failed id=%s to=<nosuchuser@example.test>" % qid)
    files = wait_for_file(env.maildir("user1") / "new" / "*")
    report = Path(files[0]).read_bytes()
    assert b"nosuchuser@example.test" in report and b"multipart/report" in report


def test_sendmail_message_too_big_is_data_error(env):
    env.start(servers=[("mx", env.server(max_message_size="1K"))])
    rc, err, _ = sendmail(env, ["user1@example.test"], b"Subject: big\n\n" + b"x" * 2000 + b"\n")
    assert rc == EX_DATAERR and "too large" in err, err
    assert env.queue_files() == [] and env.mail_files() == []


def test_sendmail_too_many_recipients_is_data_error(env):
    env.start(servers=[("mx", env.server(max_recipients="2"))])
    rc, err, _ = sendmail(env, ["user1@example.test, user2@example.test", "user3@example.test"], b"x\n")
    assert rc == EX_DATAERR and "too many recipients" in err, err


def test_sendmail_duplicate_recipients_get_one_copy(env):
    daemon = env.start()
    qid = submitted(env, ["-t", "USER1@example.test", "user1@example.test"],
                    b"To: user1@Example.Test, <user1@example.test>\n\nbody\n")
    daemon.wait_log(r"event=submitted id=%s user=\S+ from=<[^>]*> nrcpt=1 " % qid)
    delivered(env, daemon, qid, "user1")


# ---- the `submit` command itself, raw JSON lines on the control socket ----------

def control_call(env, **req):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(20)
        s.connect(str(env.root / "control.sock"))
        s.sendall(json.dumps(dict(req, cmd="submit")).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            assert chunk, "control socket closed"
            buf += chunk
        return json.loads(buf.split(b"\n", 1)[0])


def b64(data):
    return base64.b64encode(data).decode()


def test_submit_refusals_are_sentences(env):
    env.start()
    good = {"sender": "a@example.test", "recipients": ["user1@example.test"], "message_b64": b64(b"x\n")}
    cases = [
        ({"sender": None}, "missing argument 'sender'"),
        ({"sender": 7}, "argument 'sender' must be a string"),
        ({"sender": "no domain"}, "sender 'no domain' is not a valid address"),
        ({"sender": "a@b> x"}, "is not a valid address"),
        ({"recipients": None}, "missing argument 'recipients'"),
        ({"recipients": "user1@example.test"}, "must be an array"),
        ({"recipients": []}, "no recipients"),
        ({"recipients": [1]}, "must be an array of strings"),
        ({"recipients": ["user1@example.test", "bad address"]}, "recipient 'bad address'"),
        ({"recipients": ["a\u0000b@example.test"]}, "not allowed"),  # refused by the framing
        ({"message_b64": None}, "missing argument 'message_b64'"),
        ({"message_b64": "not base64!"}, "not valid base64"),
        ({"message_b64": "eA"}, "not valid base64"),   # unpadded
        ({"server": "nope"}, "no virtual server named 'nope'"),
        ({"user": 5}, "argument 'user' must be a string"),
    ]
    for change, error in cases:
        req = dict(good)
        for k, v in change.items():
            if v is None:
                req.pop(k)
            else:
                req[k] = v
        r = control_call(env, **req)
        assert r["ok"] is False and error in r["error"], (change, r)
    assert env.queue_files() == [] and env.mail_files() == []


def test_submit_named_server_postmaster_and_utf8(env):
    mx2 = env.server(listen="127.0.0.2:%d" % env.port, hostname="mx2.example.test",
                     local_domains="example.org", users=None)
    daemon = env.start(servers=[("mx", env.server()), ("mx2", mx2)])
    r = control_call(env, server="mx2", sender="", recipients=["postmaster", "\u00fcser@example.org"],
                     message_b64=b64(b"Subject: s\n\nbody\n"), user="we(ird) us\u00e9r\n")
    assert r["ok"], r
    qid = r["result"]["id"]
    m = daemon.wait_log(r"event=submitted id=%s user=(\S+) from=<> nrcpt=2 " % qid)
    assert m.group(1) == "we_ird__us__r_"
    data = delivered(env, daemon, qid, "postmaster", "example.org")
    check_submitted(data, qid, "", "postmaster@example.org", b"Subject: s\n",
                    ["From: MAILER-DAEMON@mx2.example.test", "DATE",
                     "Message-ID: <%s@mx2.example.test>" % qid], b"body\n",
                    user="we_ird__us__r_", host="mx2.example.test")
    delivered(env, daemon, qid, "\u00fcser", "example.org")


def test_sendmail_config_it_cannot_load_still_names_socket_and_host(env):
    """A user who may not read what config_load() checks (here: a TLS key that is
    not there) still finds the socket and the first server's hostname."""
    daemon = env.start()
    conf = env.root / "unloadable.conf"
    conf.write_text(env.conf.read_text().replace("hostname = mx.example.test",
                                                 "hostname = mx.example.test\ntls_cert = ./missing.pem"))
    p = subprocess.run([sendmail_binary(), "-v", "-C", str(conf), "user1@example.test"],
                       input=b"Subject: s\n\nbody\n", cwd=str(env.root), stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr
    qid = QUEUED_RE.search(p.stderr.decode()).group(1)
    data = delivered(env, daemon, qid, "user1")
    assert data.startswith(b"Return-Path: <%s@mx.example.test>\n" % LOGIN.encode())
    rc = subprocess.run([sendmail_binary(), "-C", str(env.root / "none.conf"), "user1@example.test"],
                        input=b"x\n", stderr=subprocess.PIPE, timeout=60)
    assert rc.returncode == 78 and b"cannot open" in rc.stderr   # EX_CONFIG


def test_sendmail_eleven_megabytes_byte_exact(env):
    daemon = env.start()
    body = b"".join(b"%08d " % i + b"y" * 90 + b"\n" for i in range(110000))
    qid = submitted(env, ["-f", "a@example.test", "user1@example.test"], b"Subject: big\n\n" + body)
    data = delivered(env, daemon, qid, "user1")
    assert data.endswith(b"\n\n" + body)
