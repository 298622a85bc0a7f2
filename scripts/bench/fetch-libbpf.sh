#!/bin/sh
# fetch-libbpf.sh [DEST]: Debian trixie's libbpf (>= 1.5: btf__distill_base, btf__relocate) for the
# benchmark's C reference, unpacked under DEST (default ~/.cache/modbtf/libbpf-trixie) and nothing
# installed: apt-get runs on a private source list and state directory beside it, so the system's
# sources, pins and package database stay as they are. Prints DEST; pass it as LIBBPF_DIR.
set -eu
dest=${1:-${HOME}/.cache/modbtf/libbpf-trixie}
if [ -f "$dest/usr/include/bpf/btf.h" ]; then echo "$dest"; exit 0; fi
state="$dest.apt"
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/debs" "$dest"
echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main' > "$state/sources.list"
: > "$state/status"
set -- -o Dir::Etc::SourceList="$state/sources.list" -o Dir::Etc::SourceParts=/dev/null \
	-o Dir::State::Lists="$state/lists" -o Dir::State::Status="$state/status" \
	-o Dir::Cache="$state/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root
apt-get "$@" update >/dev/null
(cd "$state/debs" && apt-get "$@" download libbpf1 libbpf-dev >/dev/null)
for deb in "$state"/debs/*.deb; do dpkg-deb -x "$deb" "$dest"; done
echo "$dest"
