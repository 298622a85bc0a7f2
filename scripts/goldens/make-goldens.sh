#!/bin/sh
# make-goldens.sh FIXTURE_DIR [SUITE]
# Writes FIXTURE_DIR/golden/<mod>.{base,split,reloc}.raw (or .reloc.err) for every
# FIXTURE_DIR/modules/<mod>.ko.xz, on FIXTURE_DIR/vmlinux.btf.xz: what libbpf's
# btf__distill_base() and btf__relocate() make of each module's .BTF (btf-goldens.c).
#
# libbpf comes from Debian SUITE (default trixie: libbpf 1.5; sid has 1.7): its libbpf-dev
# .deb is fetched from the mirror (SHA256 checked against the Packages index) and unpacked
# in a private directory; btf-goldens links its libbpf.a statically, so the system's own
# libbpf is neither used nor touched. Needs gcc, libelf-dev, zlib1g-dev, binutils, curl, xz.
set -eu
die() { echo "make-goldens: $*" >&2; exit 1; }
fix=$(cd "${1:?usage: make-goldens.sh FIXTURE_DIR [SUITE]}" && pwd)
suite=${2:-trixie}
here=$(cd "$(dirname "$0")" && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
arch=$(dpkg --print-architecture)
work=${XDG_CACHE_HOME:-$HOME/.cache}/modbtf/libbpf-$suite-$arch
mkdir -p "$work"

if [ ! -x "$work/btf-goldens" ] || [ "$here/btf-goldens.c" -nt "$work/btf-goldens" ]; then
	curl -fsSL "$mirror/dists/$suite/main/binary-$arch/Packages.xz" | xz -dc > "$work/Packages"
	stanza=$(awk 'BEGIN { RS = "" } /(^|\n)Package: libbpf-dev\n/ { print; exit }' "$work/Packages")
	file=$(echo "$stanza" | sed -n 's/^Filename: //p')
	sum=$(echo "$stanza" | sed -n 's/^SHA256: //p')
	[ -n "$file" ] || die "no libbpf-dev in $suite/$arch"
	deb=$work/${file##*/}
	if [ ! -f "$deb" ]; then
		curl -fsSL -o "$deb.tmp" "$mirror/$file"
		echo "$sum  $deb.tmp" | sha256sum -c --quiet >/dev/null || { rm -f "$deb.tmp"; die "$file: SHA256 mismatch"; }
		mv "$deb.tmp" "$deb"
	fi
	rm -rf "$work/root"
	dpkg-deb -x "$deb" "$work/root"
	lib=$(find "$work/root" -name libbpf.a | head -1)
	set -- -O2 -I"$work/root/usr/include" -o "$work/btf-goldens" "$here/btf-goldens.c"
	# A libbpf.a built on glibc >= 2.38 calls the C23 scanf/strtoull entry points.
	gcc "$@" "$lib" -lelf -lz 2>/dev/null || gcc "$@" "$here/isoc23-compat.c" "$lib" -lelf -lz
	echo "$stanza" | sed -n 's/^Version: //p' > "$work/version"
fi
echo "make-goldens: libbpf $(cat "$work/version") from $suite" >&2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
xz -dc "$fix/vmlinux.btf.xz" > "$tmp/vmlinux.btf"
mkdir -p "$fix/golden" "$tmp/btf"
for m in "$fix"/modules/*.ko.xz; do
	name=$(basename "$m" .ko.xz)
	xz -dc "$m" > "$tmp/$name.ko"
	# Byte order from the ELF header (EI_DATA), so objcopy reads any architecture.
	case $(od -An -tx1 -j5 -N1 "$tmp/$name.ko" | tr -d ' ') in
	01) bfd=elf64-little ;;
	02) bfd=elf64-big ;;
	*) die "$m: not a 64-bit ELF" ;;
	esac
	objcopy -I $bfd --dump-section .BTF="$tmp/btf/$name.btf" "$tmp/$name.ko" /dev/null
	rm -f "$fix/golden/$name".*
done
"$work/btf-goldens" "$tmp/vmlinux.btf" "$tmp/vmlinux.btf" "$fix/golden" "$tmp"/btf/*.btf
