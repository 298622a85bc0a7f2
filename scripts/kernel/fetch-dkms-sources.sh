#!/bin/sh
# fetch-dkms-sources.sh DEST [PACKAGE...]
#   Downloads Debian DKMS source packages (default: a set of small out-of-tree modules in Debian 12)
#   into DEST with apt-get download (nothing is installed; a .deb already in DEST is not fetched
#   again) and prints DEST. Packages apt does not know are skipped with a note on stderr.
set -eu
dest=${1:?usage: fetch-dkms-sources.sh DEST [PACKAGE...]}
shift
[ $# -gt 0 ] || set -- acpi-call-dkms adv-17v35x-dkms apfs-dkms bbswitch-dkms dm-writeboost-dkms \
	gost-crypto-dkms lime-forensics-dkms nat-rtsp-dkms rapiddisk-dkms tp-smapi-dkms vpoll-dkms
mkdir -p "$dest"
cd "$dest"
need=
for p in "$@"; do
	ls "$p"_*.deb >/dev/null 2>&1 || need="$need $p"
done
# One apt-get for all (after reading the package lists again if apt has none or stale ones); if one
# name is unknown, each on its own so the others still come.
if [ -n "$need" ] && ! apt-get download $need >/dev/null 2>&1; then
	apt-get update -qq >/dev/null 2>&1 || true
	for p in $need; do
		ls "$p"_*.deb >/dev/null 2>&1 && continue
		apt-get download "$p" >/dev/null 2>&1 || echo "fetch-dkms-sources: $p: apt-get download failed (skipped)" >&2
	done
fi
ls ./*.deb >/dev/null 2>&1 || { echo "fetch-dkms-sources: nothing fetched" >&2; exit 1; }
echo "$PWD"
