#!/bin/sh
# install-postfix.sh — make sure Postfix's binaries (and its load tools
# smtp-source and smtp-sink) are on this machine, without a running system
# Postfix.
#
# The benchmark never uses the system Postfix: it starts a private instance
# with its own main.cf/master.cf under a temporary directory (see servers.py).
# So the Debian package is installed with debconf's "No configuration" answer,
# which leaves /etc/postfix/main.cf absent and starts no service, and if a
# system Postfix is running anyway it is stopped (and disabled where systemd
# is in charge) so that it does not compete for the CPU during the runs.
#
# It also installs strace (for the untimed system-call profile, scenario (f))
# when it is missing; without it that one scenario is skipped.
#
# Idempotent: does nothing when both are already installed.
# Exit status: 0 when Postfix is usable, 1 otherwise (with the reason on
# stderr).
set -eu

if [ ! -x /usr/sbin/postfix ] || [ ! -x /usr/sbin/smtp-source ] || [ ! -x /usr/sbin/smtp-sink ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-postfix: Postfix is missing; run as root to install it" >&2
		exit 1
	fi
	echo "install-postfix: installing Postfix from Debian (no configuration, no service)"
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix >/dev/null
fi

if [ ! -x /usr/bin/strace ] && [ "$(id -u)" = 0 ]; then
	echo "install-postfix: installing strace"
	apt-get update -qq || true
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends strace >/dev/null \
		|| echo "install-postfix: strace could not be installed; scenario (f) will be skipped" >&2
fi

# A system Postfix uses /etc/postfix; stop it if it runs (ours never does).
if [ -f /etc/postfix/main.cf ] && /usr/sbin/postfix status >/dev/null 2>&1; then
	echo "install-postfix: stopping the system Postfix for the benchmark"
	/usr/sbin/postfix stop >/dev/null 2>&1 || true
	if [ -d /run/systemd/system ]; then
		systemctl disable --now postfix >/dev/null 2>&1 || true
	fi
fi

for b in /usr/sbin/postfix /usr/sbin/smtp-source /usr/sbin/smtp-sink /usr/lib/postfix/sbin/master; do
	if [ ! -x "$b" ]; then
		echo "install-postfix: $b is missing after the install" >&2
		exit 1
	fi
done
exit 0
