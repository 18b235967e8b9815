#!/bin/sh
# make-run.sh — `make run`: start vsmtpd in the foreground with the example
# config, everything under ./run/ (spool, Maildirs, TLS certificate).
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
cat <<MSG
vsmtpd: starting with etc/vsmtpd.conf.example (Ctrl-C stops it).
  Try:  swaks --server 127.0.0.1:2525 --to user1@example.test
  Mail lands in run/mail/example.test/user1/new/
  The second virtual server: swaks --server 127.0.0.2:2525 --to anyone@example.org
  (lands in run/mail/example.org/anyone/new/). Log lines follow on stderr.
MSG
exec "$bin" -c etc/vsmtpd.conf.example
