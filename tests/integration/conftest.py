"""pytest fixtures for the vsmtpd integration tests.

`env` gives each test its own directory (tmp_path) holding a spool, the
Maildirs, a users file and the configuration, and starts real vsmtpd
processes there (env.start(...)); `daemon` is one started with the default
configuration below. At teardown every daemon still running gets SIGTERM and
must exit cleanly: status 0 and no AddressSanitizer/UBSan report on stderr,
or the test errors. Relative paths in the config resolve against the test
directory, which is the daemon's working directory.
"""

import os
from pathlib import Path

import pytest

from helpers import Daemon, SmtpClient, all_files, free_port, render_config, vsmtpd_binary

USERS = """# local recipients of [server mx]
user1
user2
user3
CaseUser
netonly@example.net
"""

DEAD_DNS_PORT = 9           # UDP discard port: nothing listens on loopback
MAX_SIZE = "12M"            # the default server's max_message_size
MAX_SIZE_BYTES = 12 * 1024 * 1024


class Env:
    """One test's world: directories, ports, configs and the daemons started in it."""

    def __init__(self, root):
        self.root = Path(root)
        self.spool = self.root / "spool"
        self.mail = self.root / "mail"
        self.users = self.root / "users"
        self.users.write_text(USERS)
        self.port = free_port(("127.0.0.1", "127.0.0.2"))
        self.conf = self.root / "vsmtpd.conf"
        self.daemons = []

    def server(self, **overrides):
        """The default [server mx] options, with overrides (a value None drops the key)."""
        opts = {
            "listen": "127.0.0.1:%d" % self.port,
            "hostname": "mx.example.test",
            "local_domains": "example.test, example.net",
            "mailbox": "maildir:./mail/%d/%u",
            "users": "./users",
            "relay_networks": "127.0.0.1/32",
            "max_message_size": MAX_SIZE,
            "max_recipients": "100",
            "max_connections_per_ip": "200",
            "max_connections": "1000",
        }
        for k, v in overrides.items():
            if v is None:
                opts.pop(k, None)
            else:
                opts[k] = v
        return opts

    def global_opts(self, **overrides):
        # No DNS query may leave the machine: by default the resolver is a
        # loopback port where nothing answers (lookups fail temporarily);
        # tests of remote delivery point `dns` at their own dnsmasq.
        opts = {"spool": "./spool", "log": "stderr", "workers": "2",
                "dns": "127.0.0.1:%d" % DEAD_DNS_PORT, "delivery_threads": "4",
                "control": str(self.root / "control.sock"),
                # the tests must not depend on how full this machine's disk is
                "min_free_space": "1M"}
        opts.update(overrides)
        return opts

    def write_config(self, servers=None, global_opts=None, path=None):
        servers = servers if servers is not None else [("mx", self.server())]
        text = render_config(global_opts or self.global_opts(), servers)
        path = Path(path) if path else self.conf
        path.write_text(text)
        return path

    def start(self, servers=None, global_opts=None, write=True):
        """Writes the config (unless write is False: reuse the last one) and starts vsmtpd."""
        if write:
            self.write_config(servers, global_opts)
        d = Daemon(self.root, self.conf)
        self.daemons.append(d)
        return d.start()

    def connect(self, addr="127.0.0.1", port=None, source=None, timeout=None):
        kw = {} if timeout is None else {"timeout": timeout}
        return SmtpClient(addr, port or self.port, source=source, **kw)

    def maildir(self, user, domain="example.test"):
        return self.mail / domain / user

    def new_files(self, user, domain="example.test"):
        d = self.maildir(user, domain) / "new"
        return sorted(d.iterdir()) if d.is_dir() else []

    def queue_files(self):
        return all_files(self.spool / "queue")

    def assert_no_leftovers(self):
        """Nothing in SPOOL/tmp, SPOOL/queue, nor any Maildir's tmp/."""
        assert all_files(self.spool / "tmp") == []
        assert self.queue_files() == []
        for tmp in self.mail.rglob("tmp"):
            assert all_files(tmp) == [], tmp

    def mail_files(self):
        """Every file under the Maildir root (relative paths)."""
        return all_files(self.mail)


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    errors = []
    for d in e.daemons:
        if d.proc is None or d.returncode is not None:   # not started, or stopped/killed by the test
            continue
        try:
            d.stop(check=True)
        except AssertionError as exc:
            errors.append(str(exc))
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def daemon(env):
    return env.start()


@pytest.fixture(scope="session", autouse=True)
def _binary_exists():
    path = vsmtpd_binary()
    assert os.access(path, os.X_OK), "vsmtpd binary not found at %s (set VSMTPD_BIN)" % path


# The outbound world's fixtures (`ca`, `world`): dnsmasq, fake MX/LMTP
# servers, Dovecot and a test CA, for test_outbound/test_lmtp/test_world.
from world import ca, world  # noqa: E402,F401
