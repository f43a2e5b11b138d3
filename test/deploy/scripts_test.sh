#!/usr/bin/env bash
# The shipped shell scripts parse (bash -n) and, when shellcheck is installed,
# pass it; certs/make-certs.sh makes a CA and a serving certificate with the
# Service SANs, prints the caBundle, and --renew keeps the CA.
# shellcheck source=test/deploy/lib.sh
. "$(dirname "$0")/lib.sh"
td_tmp
cd "$td_root"
scripts=(certs/make-certs.sh deploy/install.sh kind/e2e.sh test/helm/bootstrap test/deploy/sync-seed-profile test/deploy/*.sh test/deploy/lib.sh)
for s in "${scripts[@]}"; do bash -n "$s" || td_fail "$s: syntax"; done
if command -v shellcheck >/dev/null; then
  shellcheck -x -S warning "${scripts[@]}" || td_fail "shellcheck"
fi

ca=$(certs/make-certs.sh -o "$TD_TMP/c" -s hook -n sec -d 30 2>/dev/null)
[ "$(base64 -d <<<"$ca")" = "$(cat "$TD_TMP/c/ca.crt")" ] || td_fail "printed caBundle is not ca.crt"
openssl verify -CAfile "$TD_TMP/c/ca.crt" "$TD_TMP/c/tls.crt" >/dev/null || td_fail "cert not signed by the CA"
san=$(openssl x509 -in "$TD_TMP/c/tls.crt" -noout -ext subjectAltName)
for n in hook hook.sec hook.sec.svc hook.sec.svc.cluster.local; do
  grep -q "DNS:$n\(,\|$\)" <<<"$san" || td_fail "SAN $n missing: $san"
done
openssl x509 -in "$TD_TMP/c/tls.crt" -noout -ext extendedKeyUsage | grep -q 'TLS Web Server Authentication' || td_fail "no serverAuth EKU"
[ "$(stat -c %a "$TD_TMP/c/tls.key")" = 600 ] && [ "$(stat -c %a "$TD_TMP/c/ca.key")" = 600 ] || td_fail "key files not 0600"
openssl x509 -in "$TD_TMP/c/tls.crt" -noout -checkend $((29 * 86400)) >/dev/null || td_fail "-d 30 not honoured"
! openssl x509 -in "$TD_TMP/c/tls.crt" -noout -checkend $((31 * 86400)) >/dev/null || td_fail "-d 30 not honoured"
old_crt=$(cat "$TD_TMP/c/tls.crt")
ca2=$(certs/make-certs.sh -o "$TD_TMP/c" -s hook -n sec --renew 2>/dev/null)
[ "$ca2" = "$ca" ] || td_fail "--renew changed the CA"
[ "$(cat "$TD_TMP/c/tls.crt")" != "$old_crt" ] || td_fail "--renew did not issue a new cert"
openssl verify -CAfile "$TD_TMP/c/ca.crt" "$TD_TMP/c/tls.crt" >/dev/null || td_fail "renewed cert not signed by the CA"
if certs/make-certs.sh -o "$TD_TMP/x" -s 'Bad_Name' 2>/dev/null; then td_fail "bad service name accepted"; fi
td_log "ok: scripts parse; make-certs.sh SANs, caBundle, key modes, lifetime, --renew"
