#!/usr/bin/env bash
# Builds the libcurl the agent ships with and prints its install prefix
# (include/, lib/libcurl.a) on stdout, for cmake -DARMORGATE_CURL_PREFIX=...
#
# Why: every Debian libcurl binary package links ~30 libraries (ssh2, rtmp,
# ldap, gssapi, ...) and keeps the agent's peak RSS >= 11.4 MB; this one is
# HTTP(S) only, static, for static OpenSSL (bench/agent/README.md).
# What: Debian's own curl source package (`apt-get source`: upstream plus
# Debian's security patches, the same tree as Debian's OpenSSL flavour),
# not upstream's tarball. Security fixes come from rerunning this after
# `apt-get update` has seen a new source version (the cache key changes).
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/armorgate/curl/<version>-<flags hash>;
# a second run costs ~0 s. Built in a temp dir and renamed into place, so an
# interrupted build never leaves a half cache.
# Root is needed only once, to add a deb-src entry when apt has none for curl
# (/etc/apt/sources.list.d/armorgate-src.sources) and run apt-get update.
# usage: cmake/build-minimal-curl.sh
set -euo pipefail

# Part of the cache key with the flags: bump it when the steps below change
# what gets built.
RECIPE=1
CFLAGS_CURL="-O2 -fPIC"
CONFIGURE=(
  --disable-shared --enable-static --disable-dependency-tracking
  --with-openssl --enable-threaded-resolver
  # gzip for large API responses; costs nothing measurable in peak RSS
  # (bench/agent/README.md). Checked below: configure drops it silently.
  --with-zlib
  --disable-ldap --disable-ldaps --disable-rtsp --disable-dict --disable-telnet --disable-tftp --disable-pop3
  --disable-imap --disable-smb --disable-smtp --disable-gopher --disable-mqtt --disable-ftp --disable-file
  --disable-manual --disable-ntlm --disable-alt-svc --disable-cookies --disable-unix-sockets
  --without-libssh2 --without-libssh --without-librtmp --without-libpsl --without-brotli --without-zstd
  --without-nghttp2 --without-libidn2 --without-gssapi
  # The agent always names its CA (CAINFO file or CAINFO_BLOB, CAPATH NULL);
  # with neither in the kubeconfig it falls back to the system store, as
  # with Debian's libcurl, whose defaults these are.
  --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --with-ca-path=/etc/ssl/certs --without-ca-fallback
)

log() { echo "build-minimal-curl: $*" >&2; }
die() {
  log "$*"
  exit 1
}

# The source version `apt-get source curl` would fetch (local lists only).
src_version() {
  { apt-get source --print-uris curl 2>/dev/null || true; } | sed -n "s/^'[^']*' curl_\(.*\)\.dsc .*/\1/p" | head -n1
}

# "URI suite component" of every Debian archive apt uses for binary packages.
debian_targets() {
  # shellcheck disable=SC2016 # apt's format fields, not shell
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' 'Origin: Debian' | sort -u
}

# deb-src for every Debian suite apt is configured with (deb822, one stanza
# per archive), in a file of our own; then refresh the lists.
add_deb_src() {
  local f=/etc/apt/sources.list.d/armorgate-src.sources keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  local targets
  [ -f "$keyring" ] || keyring=""
  # The archives' Origin is known only from downloaded Release files.
  [ -n "$(debian_targets)" ] || apt-get update -qq
  targets=$(debian_targets)
  [ -n "$targets" ] || die "apt is configured with no Debian archive"
  log "adding deb-src entries ($f)"
  awk -v keyring="$keyring" '
    { if (!($1 in suites)) order[n++] = $1
      if (index(" " suites[$1] " ", " " $2 " ") == 0) suites[$1] = suites[$1] (suites[$1] ? " " : "") $2
      if (index(" " comps[$1] " ", " " $3 " ") == 0) comps[$1] = comps[$1] (comps[$1] ? " " : "") $3 }
    END { for (i = 0; i < n; i++) {
            u = order[i]
            printf "%sTypes: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n", (i ? "\n" : ""), u, suites[u], comps[u]
            if (keyring != "") printf "Signed-By: %s\n", keyring } }
  ' <<<"$targets" >"$f.tmp"
  mv "$f.tmp" "$f"
  apt-get update -qq
}

version=$(src_version)
if [ -z "$version" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    die "apt has no deb-src entry for curl; run this once as root to add one"
  fi
  add_deb_src
  version=$(src_version)
  [ -n "$version" ] || die "apt-get source still finds no curl source package"
fi

key=$version-$(printf '%s\n' "RECIPE=$RECIPE" "CFLAGS=$CFLAGS_CURL" "${CONFIGURE[@]}" | sha256sum | cut -c1-12)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/armorgate/curl
prefix=$cache/$key
if [ -f "$prefix/lib/libcurl.a" ]; then
  echo "$prefix"
  exit 0
fi

mkdir -p "$cache"
# One builder at a time; whoever waited finds the result in place.
exec 9>"$cache/.lock"
flock 9
if [ -f "$prefix/lib/libcurl.a" ]; then
  echo "$prefix"
  exit 0
fi
rm -rf "$cache"/.build.* # left by a killed build (we hold the lock)
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
log "building libcurl $version (Debian source) into $prefix"

cd "$tmp"
apt-get source -qq --only-source "curl=$version" >"$tmp/source.log" 2>&1 || {
  cat "$tmp/source.log" >&2
  die "apt-get source curl=$version failed"
}
src=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'curl-*' | head -n1)
[ -n "$src" ] || die "apt-get source left no curl-* directory"
# dpkg-source applies the whole series; its last two patches turn the tree
# into the GnuTLS and NSS flavours, which Debian's OpenSSL build pops too.
# (Without autoreconf: the patches' build-file changes are for ldap, gssapi,
# zsh and the library renames, none of which this build uses.)
for p in 99_nss.patch 90_gnutls.patch; do
  [ -f "$src/debian/patches/$p" ] || continue
  patch -d "$src" -R -p1 -s --no-backup-if-mismatch <"$src/debian/patches/$p" ||
    die "could not pop $p: Debian's source layout changed; check debian/rules"
done

mkdir "$tmp/build"
cd "$tmp/build"
"$src/configure" --prefix="$prefix" "${CONFIGURE[@]}" CFLAGS="$CFLAGS_CURL" >"$tmp/configure.log" 2>&1 || {
  tail -n 40 "$tmp/configure.log" >&2
  die "configure failed (log above)"
}
grep -q '^#define HAVE_LIBZ 1' lib/curl_config.h || die "configure found no zlib (install zlib1g-dev)"
grep -q '^#define USE_OPENSSL 1' lib/curl_config.h || die "configure found no OpenSSL (install libssl-dev)"
# Only the library and its headers: no curl tool, docs or tests.
make -C lib -j"$(nproc)" >"$tmp/make.log" 2>&1 || {
  tail -n 40 "$tmp/make.log" >&2
  die "make failed"
}
make -C lib install DESTDIR="$tmp/dest" >>"$tmp/make.log" 2>&1
make -C include install DESTDIR="$tmp/dest" >>"$tmp/make.log" 2>&1
rm -f "$tmp/dest$prefix/lib/libcurl.la"
printf 'Debian source package curl %s\nCFLAGS=%s\nconfigure %s\n' "$version" "$CFLAGS_CURL" "${CONFIGURE[*]}" \
  >"$tmp/dest$prefix/armorgate-curl.txt"
mv -T "$tmp/dest$prefix" "$prefix"
log "done in $(($(date +%s) - start)) s"
echo "$prefix"
