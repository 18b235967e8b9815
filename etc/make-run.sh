#!/bin/sh
# make-run.sh — `make run`: start vsmtpd in the foreground with the example
# config, everything under ./run/ (spool, Maildirs, TLS certificate, the web
# console's account).
# $1: the vsmtpd binary.
set -e
cd "$(dirname "$0")/.."
bin=${1:-build/vsmtpd}
mkdir -p run/spool run/mail run/tls
# A self-signed certificate for the example's STARTTLS / implicit TLS servers.
if [ ! -f run/tls/mx.pem ] || [ ! -f run/tls/mx.key ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=mx.example.test" \
		-addext "subjectAltName=DNS:mx.example.test,DNS:submission.example.test" \
		-keyout run/tls/mx.key -out run/tls/mx.pem 2>/dev/null
fi
chmod 600 run/tls/mx.key
# git does not keep file modes; password files must not be readable by others.
for f in etc/passwd.example; do [ -f "$f" ] && chmod 600 "$f"; done
# The example with its console lines turned on. A copy, because the console
# saves settings into the file it was started with; made again only when the
# example is newer, so what was saved in the console stays.
if [ ! run/vsmtpd.conf -nt etc/vsmtpd.conf.example ]; then
	sed -e 's/^# \(console\(_users\)\{0,1\} *=\)/\1/' etc/vsmtpd.conf.example > run/vsmtpd.conf
fi
# A demo admin account with a fresh password at every start (crypt(3) SHA-512, made here).
password=$(openssl rand -hex 9)
umask 077
printf 'admin:%s:admin\n' "$(printf '%s' "$password" | openssl passwd -6 -stdin)" > run/console.users
umask 022
cat <<MSG
vsmtpd: starting with run/vsmtpd.conf (etc/vsmtpd.conf.example, console on; Ctrl-C stops it).
  Try:  swaks --server 127.0.0.1:2525 --to user1@example.test
  Mail lands in run/mail/example.test/user1/new/
  The second virtual server: swaks --server 127.0.0.2:2525 --to anyone@example.org
  (lands in run/mail/example.org/anyone/new/). Log lines follow on stderr.
  Web console: http://127.0.0.1:8025/  user admin, password $password
MSG
exec "$bin" -c run/vsmtpd.conf
