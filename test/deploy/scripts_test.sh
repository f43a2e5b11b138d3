#!/usr/bin/env bash
# The shipped shell scripts parse (bash -n; shellcheck over every script is
# test/lint's); certs/make-certs.sh makes a CA and a serving certificate with the
# Service SANs, prints the caBundle, and --renew keeps the CA.
set -euo pipefail
# shellcheck source=test/deploy/lib.sh
. "$(dirname "$0")/lib.sh"
td_tmp
cd "$td_root"
scripts=(certs/make-certs.sh deploy/install.sh test/kind/e2e.sh test/helm/bootstrap test/deploy/sync-seed-profile test/deploy/*.sh)
for s in "${scripts[@]}"; do bash -n "$s" || die "$s: syntax"; done

ca=$(certs/make-certs.sh -o "$TD_TMP/c" -s hook -n sec -d 30 2>/dev/null)
[ "$(base64 -d <<<"$ca")" = "$(cat "$TD_TMP/c/ca.crt")" ] || die "printed caBundle is not ca.crt"
openssl verify -CAfile "$TD_TMP/c/ca.crt" "$TD_TMP/c/tls.crt" >/dev/null || die "cert not signed by the CA"
san=$(openssl x509 -in "$TD_TMP/c/tls.crt" -noout -ext subjectAltName)
for n in hook hook.sec hook.sec.svc hook.sec.svc.cluster.local; do
  grep -q "DNS:$n\(,\|$\)" <<<"$san" || die "SAN $n missing: $san"
done
openssl x509 -in "$TD_TMP/c/tls.crt" -noout -ext extendedKeyUsage | grep -q 'TLS Web Server Authentication' || die "no serverAuth EKU"
{ [ "$(stat -c %a "$TD_TMP/c/tls.key")" = 600 ] && [ "$(stat -c %a "$TD_TMP/c/ca.key")" = 600 ]; } || die "key files not 0600"
openssl x509 -in "$TD_TMP/c/tls.crt" -noout -checkend $((29 * 86400)) >/dev/null || die "-d 30 not honoured"
! openssl x509 -in "$TD_TMP/c/tls.crt" -noout -checkend $((31 * 86400)) >/dev/null || die "-d 30 not honoured"
old_crt=$(cat "$TD_TMP/c/tls.crt")
ca2=$(certs/make-certs.sh -o "$TD_TMP/c" -s hook -n sec --renew 2>/dev/null)
[ "$ca2" = "$ca" ] || die "--renew changed the CA"
[ "$(cat "$TD_TMP/c/tls.crt")" != "$old_crt" ] || die "--renew did not issue a new cert"
openssl verify -CAfile "$TD_TMP/c/ca.crt" "$TD_TMP/c/tls.crt" >/dev/null || die "renewed cert not signed by the CA"
if certs/make-certs.sh -o "$TD_TMP/x" -s 'Bad_Name' 2>/dev/null; then die "bad service name accepted"; fi
td_log "ok: scripts parse; make-certs.sh SANs, caBundle, key modes, lifetime, --renew"
