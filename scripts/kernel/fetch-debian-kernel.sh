#!/bin/sh
# fetch-debian-kernel.sh DEST [PACKAGE]
# Downloads a Debian kernel image package (default: the one linux-image-cloud-amd64 depends on)
# with apt-get download, extracts it under DEST and prints the path of its vmlinuz.
# Nothing is installed on the system.
set -eu
dest=${1:?usage: fetch-debian-kernel.sh DEST [PACKAGE]}
pkg=${2:-$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)}
[ -n "$pkg" ] || { echo "fetch-debian-kernel: cannot resolve linux-image-cloud-amd64 (run apt-get update)" >&2; exit 1; }
mkdir -p "$dest"
cd "$dest"
if ! ls "$pkg"_*.deb >/dev/null 2>&1; then
	apt-get download "$pkg" >/dev/null 2>&1 || { echo "fetch-debian-kernel: apt-get download $pkg failed" >&2; exit 1; }
fi
deb=$(ls "$pkg"_*.deb | head -1)
[ -d root ] || dpkg-deb -x "$deb" root
ls "$dest"/root/boot/vmlinuz-* | head -1
