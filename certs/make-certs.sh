#!/usr/bin/env bash
# certs/make-certs.sh: a private CA and a serving certificate for the
# armorgate webhook Service, with the openssl CLI. Prints the CA as a base64
# caBundle on stdout (everything else goes to stderr), so:
#   CA_BUNDLE=$(certs/make-certs.sh -o /tmp/ag-certs)
# Usage: make-certs.sh [-o DIR] [-s SERVICE] [-n NAMESPACE] [-d DAYS] [--renew]
#   -o DIR        output directory (default ./armorgate-certs); gets ca.crt,
#                 ca.key, tls.crt, tls.key (keys mode 0600)
#   -s SERVICE    Service name (default armorgate-webhook)
#   -n NAMESPACE  namespace (default armorgate-system)
#   -d DAYS       serving cert lifetime (default 365; the CA lives 10 years)
#   --renew       keep an existing CA in DIR and issue a new serving cert
#                 (rotation without touching the webhook configurations)
# SANs: SERVICE, SERVICE.NAMESPACE, SERVICE.NAMESPACE.svc,
# SERVICE.NAMESPACE.svc.cluster.local. Keys: EC P-256.
set -euo pipefail

out=./armorgate-certs svc=armorgate-webhook ns=armorgate-system days=365 renew=0
while (($#)); do
  case $1 in
    -o) out=$2; shift 2 ;;
    -s) svc=$2; shift 2 ;;
    -n) ns=$2; shift 2 ;;
    -d) days=$2; shift 2 ;;
    --renew) renew=1; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "make-certs.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
[[ $svc =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || { echo "make-certs.sh: bad service name '$svc'" >&2; exit 2; }
[[ $ns =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || { echo "make-certs.sh: bad namespace '$ns'" >&2; exit 2; }
[[ $days =~ ^[1-9][0-9]{0,4}$ ]] || { echo "make-certs.sh: bad days '$days'" >&2; exit 2; }
command -v openssl >/dev/null || { echo "make-certs.sh: openssl not found" >&2; exit 1; }

mkdir -p "$out"
umask 077
tmp=$(mktemp -d "$out/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if ((renew)) && [ -s "$out/ca.crt" ] && [ -s "$out/ca.key" ]; then
  cp "$out/ca.crt" "$out/ca.key" "$tmp/"
  echo "make-certs.sh: reusing the CA in $out" >&2
else
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days 3650 \
    -subj "/CN=armorgate-webhook-ca" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$tmp/ca.crt" 2>/dev/null
fi

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/tls.key" 2>/dev/null
openssl req -new -key "$tmp/tls.key" -subj "/CN=$svc.$ns.svc" -out "$tmp/tls.csr" 2>/dev/null
cat >"$tmp/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:$svc,DNS:$svc.$ns,DNS:$svc.$ns.svc,DNS:$svc.$ns.svc.cluster.local
EXT
openssl x509 -req -in "$tmp/tls.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" \
  -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 \
  -extfile "$tmp/ext.cnf" -out "$tmp/tls.crt" 2>/dev/null
openssl verify -CAfile "$tmp/ca.crt" "$tmp/tls.crt" >/dev/null

chmod 644 "$tmp/ca.crt" "$tmp/tls.crt"
for f in ca.key ca.crt tls.key tls.crt; do mv -f "$tmp/$f" "$out/$f"; done
echo "make-certs.sh: wrote $out/{ca.crt,ca.key,tls.crt,tls.key} for $svc.$ns.svc (valid $days days)" >&2
base64 -w0 <"$out/ca.crt"
echo
