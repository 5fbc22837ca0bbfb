#!/usr/bin/env bash
# `make run`: a demo Rampart under ./var on 127.0.0.1:1143 (STARTTLS) and
# 127.0.0.1:1993 (implicit TLS), in the foreground until Ctrl-C.
set -euo pipefail
BIN=${1:-build/rampart}
VAR=${VAR:-var}
mkdir -p "$VAR/mail"
VAR=$(cd "$VAR" && pwd)
CONF="$VAR/rampart.conf"

if [ ! -f "$VAR/cert.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$VAR/key.pem" -out "$VAR/cert.pem" 2>/dev/null
  chmod 600 "$VAR/key.pem"
fi

RUN_USER_LINE=""
if [ "$(id -u)" -eq 0 ]; then
  # A server started as root drops to an unprivileged account.
  id rampart >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin rampart
  RUN_USER_LINE="user = rampart"
fi

if [ ! -f "$CONF" ]; then
  cat > "$CONF" <<CONF
# Demo configuration written by \`make run\`. See docs/configuration.md.
[server]
workers = 0
mail_root = mail
users_file = users
log_level = info
$RUN_USER_LINE

[tls]
cert = cert.pem
key = key.pem
min_version = TLSv1.2

[listener imap]
address = 127.0.0.1:1143
tls = starttls

[listener imaps]
address = 127.0.0.1:1993
tls = implicit

[security]
# Empty: no network may log in without TLS, loopback included.
trusted_networks =

[http]
# Prometheus /metrics and the status page (loopback only).
address = 127.0.0.1:9143

# lmtp: local delivery (RFC 2033) for an MTA on this machine
[listener lmtp]
address = 127.0.0.1:1024
protocol = lmtp
CONF
fi
# lmtp: a demo config written before LMTP existed gets the listener too.
grep -q '^protocol = lmtp' "$CONF" ||
  printf '\n[listener lmtp]\naddress = 127.0.0.1:1024\nprotocol = lmtp\n' >> "$CONF"

touch "$VAR/users"
if [ ! -f "$VAR/demo-credentials" ]; then
  PASS=$(openssl rand -base64 18 | tr -d '/+=' | cut -c1-20)
  printf '%s\n' "$PASS" | "$BIN" user add -c "$CONF" demo --password-stdin >/dev/null
  printf 'demo:%s\n' "$PASS" > "$VAR/demo-credentials"
  chmod 600 "$VAR/demo-credentials"
fi
if [ "$(id -u)" -eq 0 ]; then
  chown -R rampart: "$VAR/mail" "$VAR/users"
  # The key stays root's but readable by the server's group, so SIGHUP
  # can reload the certificate after the privilege drop.
  chgrp rampart "$VAR/key.pem" && chmod 640 "$VAR/key.pem"
fi

CRED=$(cat "$VAR/demo-credentials")
cat <<MSG

Rampart demo is starting.
  STARTTLS: 127.0.0.1:1143     implicit TLS: 127.0.0.1:1993
  user:password  $CRED          (also in $VAR/demo-credentials)
  certificate    $VAR/cert.pem (self-signed for localhost / 127.0.0.1)
  status page    http://127.0.0.1:9143/   metrics: curl http://127.0.0.1:9143/metrics

Try it:
  openssl s_client -connect 127.0.0.1:1993 -CAfile $VAR/cert.pem -quiet
     then type:  a LOGIN demo <password>   and   b LIST "" "*"
  curl --cacert $VAR/cert.pem "imaps://127.0.0.1:1993/INBOX" -u '$CRED'
  openssl s_client -starttls imap -connect 127.0.0.1:1143 -CAfile $VAR/cert.pem

Deliver over LMTP (127.0.0.1:1024, no TLS, loopback only):
  python3 -c 'import smtplib; smtplib.LMTP("127.0.0.1", 1024).sendmail("me@example.org", ["demo@example.org"], b"Subject: hi\r\n\r\nhello\r\n")'
  swaks --protocol LMTP --server 127.0.0.1:1024 --from me@example.org --to demo@example.org

Ctrl-C stops the server.
MSG
exec "$BIN" serve -c "$CONF"
