"""`make install`: what lands where, with which modes, and that it is usable as installed.

Each test runs `make install DESTDIR=<its tmp dir>` from the repository root,
with BUILD set to the build directory under test (VSMTPD_BUILD; build/ when
unset), so the programs installed are the ones the other tests ran: they are
compared byte for byte. The make variables of that build's flavour (SAN=1 for
build-san/) go with it, so that if anything were out of date it would be
rebuilt with the same flags, never mixed into that directory with others.

Checked: the exact file list for PREFIX=/usr and for the default /usr/local
(the configuration stays in /etc either way), the modes (programs 755,
everything else 644), a unit naming the installed paths that
`systemd-analyze verify` accepts without a warning (skipped where there is no
systemd-analyze), every manual page having its NAME section, and an existing
vsmtpd.conf left alone by a second install.
"""

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("VSMTPD_BUILD") or REPO / "build")
# The make variables that select a build directory's flags (Makefile: SAN, FUZZ).
FLAVOUR = {"build-san": ["SAN=1"], "build-fuzz": ["FUZZ=1"]}


def make_install(destdir, *variables):
    """Runs make install into destdir; returns make's output."""
    env = dict(os.environ)
    # Called from `make integration`, the parent's jobserver descriptors are
    # not inherited: its MAKEFLAGS would only bring a warning.
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    cmd = ["make", "--no-print-directory", "install", "DESTDIR=%s" % destdir, "BUILD=%s" % BUILD]
    cmd += FLAVOUR.get(BUILD.name, []) + list(variables)
    p = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, "make install failed:\n%s%s" % (p.stdout, p.stderr)
    return p.stdout


def tools():
    """The programs built from tools/*.c that are installed (config-doc only writes docs/)."""
    return sorted(p.stem for p in (REPO / "tools").glob("*.c") if p.stem != "config-doc")


def man8():
    return sorted(p.name for p in (REPO / "docs").glob("*.8"))


def expected_files(prefix):
    """Every file make install writes, relative to DESTDIR, with its mode."""
    prefix = prefix.lstrip("/")
    files = {"%s/sbin/%s" % (prefix, name): 0o755 for name in ["vsmtpd"] + tools()}
    files.update({"%s/share/man/man8/%s" % (prefix, name): 0o644 for name in man8()})
    files["%s/share/man/man5/vsmtpd.conf.5" % prefix] = 0o644
    files["%s/lib/systemd/system/vsmtpd.service" % prefix] = 0o644
    files["etc/vsmtpd/vsmtpd.conf.example"] = 0o644
    return files


def installed_files(destdir):
    return {str(p.relative_to(destdir)): stat.S_IMODE(p.stat().st_mode)
            for p in Path(destdir).rglob("*") if not p.is_dir()}


def unit_settings(path):
    """The unit's Key=value lines as a dict of lists (a key may repeat)."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


@pytest.fixture(scope="module")
def usr(tmp_path_factory):
    """One `make install PREFIX=/usr` shared by the tests that only read it."""
    destdir = tmp_path_factory.mktemp("destdir-usr")
    make_install(destdir, "PREFIX=/usr")
    return destdir


@pytest.mark.parametrize("prefix", ["/usr", None])
def test_install_file_list_and_modes(tmp_path, prefix):
    make_install(tmp_path, *(["PREFIX=%s" % prefix] if prefix else []))
    want = expected_files(prefix or "/usr/local")
    got = installed_files(tmp_path)
    assert sorted(got) == sorted(want)
    for path, mode in want.items():
        assert got[path] == mode, "%s: mode %o, want %o" % (path, got[path], mode)
    assert (tmp_path / "etc/vsmtpd").stat().st_mode & 0o777 == 0o755


def test_install_copies_what_was_built_and_documented(usr):
    for name in ["vsmtpd"] + tools():
        assert (usr / "usr/sbin" / name).read_bytes() == (BUILD / name).read_bytes(), name
    for name in man8():
        assert (usr / "usr/share/man/man8" / name).read_bytes() == (REPO / "docs" / name).read_bytes()
    assert (usr / "usr/share/man/man5/vsmtpd.conf.5").read_bytes() == \
        (REPO / "docs/vsmtpd.conf.5").read_bytes()
    assert (usr / "etc/vsmtpd/vsmtpd.conf.example").read_bytes() == \
        (REPO / "etc/vsmtpd.conf.example").read_bytes()
    p = subprocess.run([str(usr / "usr/sbin/vsmtpd"), "-V"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.startswith("vsmtpd "), p


@pytest.mark.parametrize("prefix, sbin, unitdir", [
    ("/usr", "/usr/sbin", "usr/lib/systemd/system"),
    (None, "/usr/local/sbin", "usr/local/lib/systemd/system"),
])
def test_unit_names_installed_paths(tmp_path, prefix, sbin, unitdir):
    make_install(tmp_path, *(["PREFIX=%s" % prefix] if prefix else []))
    unit = tmp_path / unitdir / "vsmtpd.service"
    assert "@" not in unit.read_text(), "a placeholder was left in the unit"
    s = unit_settings(unit)
    conf = "/etc/vsmtpd/vsmtpd.conf"
    assert s["ExecStartPre"] == ["%s/vsmtpd -n -c %s" % (sbin, conf)]
    assert s["ExecStart"] == ["%s/vsmtpd -c %s" % (sbin, conf)]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["Type"] == ["simple"]
    assert s["RuntimeDirectory"] == ["vsmtpd"]     # the control socket's default /run/vsmtpd
    assert s["Restart"] == ["on-failure"]
    assert s["WantedBy"] == ["multi-user.target"]
    # Port 25 is bound as root and privileges dropped by vsmtpd itself, and Maildirs may be under /home.
    assert "User" not in s and "ProtectHome" not in s


def test_unit_passes_systemd_analyze_verify(usr, tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("no systemd-analyze here")
    # verify checks that the programs exist: point the unit at the installed copies.
    text = (usr / "usr/lib/systemd/system/vsmtpd.service").read_text()
    unit = tmp_path / "vsmtpd.service"
    unit.write_text(text.replace("=/usr/sbin/", "=%s/usr/sbin/" % usr))
    # Documentation=man:... is checked with man(1): find the installed pages.
    env = dict(os.environ, MANPATH=str(usr / "usr/share/man"))
    man_check = [] if shutil.which("man") else ["--man=no"]
    p = subprocess.run([analyze, "verify"] + man_check + [str(unit)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0 and p.stderr.strip() == "", p.stdout + p.stderr


def test_man_pages_have_name_section(usr):
    pages = sorted((usr / "usr/share/man").rglob("*.[0-9]"))
    assert sorted(p.name for p in pages) == sorted(man8() + ["vsmtpd.conf.5"])
    for page in pages:
        text = page.read_text()
        name = page.name.rsplit(".", 1)[0]
        m = re.search(r"^\.SH \"?NAME\"?\n(.*)$", text, re.M)
        assert m, "%s: no NAME section" % page.name
        # "name \- what it is", as whatis/apropos read it.
        assert m.group(1).startswith(name.replace("-", "\\-") + " \\- ") or \
            m.group(1).startswith(name + " \\- "), "%s: NAME line %r" % (page.name, m.group(1))


def test_man_pages_render(usr):
    if shutil.which("man") is None:
        pytest.skip("no man here")
    for page in sorted((usr / "usr/share/man").rglob("*.[0-9]")):
        p = subprocess.run(["man", "-l", str(page)], env=dict(os.environ, MANWIDTH="80", MANPAGER="cat"),
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and "NAME" in p.stdout, page.name + p.stderr


def test_install_never_overwrites_config(tmp_path):
    conf = tmp_path / "etc/vsmtpd/vsmtpd.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("# the admin's own\n")
    conf.chmod(0o640)
    make_install(tmp_path, "PREFIX=/usr")
    make_install(tmp_path, "PREFIX=/usr")    # a second install over the first works too
    assert conf.read_text() == "# the admin's own\n"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert (tmp_path / "etc/vsmtpd/vsmtpd.conf.example").is_file()
