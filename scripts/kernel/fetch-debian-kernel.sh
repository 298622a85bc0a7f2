#!/bin/sh
# fetch-debian-kernel.sh DEST [PACKAGE]
#   Downloads a Debian kernel image package for this system (default: the one
#   linux-image-cloud-amd64 depends on) with apt-get download.
# fetch-debian-kernel.sh --arch ARCH --version VER [--flavour F] [--suite S] [--modules] DEST
#   Downloads the kernel VER (e.g. 7.3.4) of any Debian architecture straight from the mirror:
#   reads dists/S/main/binary-ARCH/Packages.xz, resolves linux-image-VER+<abi>-FLAVOUR (and the
#   linux-binary-* / linux-modules-* packages it depends on in the newer layout), checks each .deb
#   against the SHA256 of the index. --modules also fetches the modules. Default flavour: the
#   cloud flavour where there is one, else the arch's generic one; default suites tried in order:
#   trixie-backports, trixie, sid. Mirror: $DEBIAN_MIRROR (default http://deb.debian.org/debian).
# Either way the packages are extracted under DEST/root (nothing is installed on the system) and
# the path of the kernel image (boot/vmlinuz-KVER or usr/lib/modules/KVER/vmlinuz) is printed.
set -eu
die() { echo "fetch-debian-kernel: $*" >&2; exit 1; }

arch= ver= flavour= suites= modules=0
while [ $# -gt 0 ]; do
	case $1 in
	--arch) arch=${2:?}; shift 2 ;;
	--version) ver=${2:?}; shift 2 ;;
	--flavour) flavour=${2:?}; shift 2 ;;
	--suite) suites=${2:?}; shift 2 ;;
	--modules) modules=1; shift ;;
	-*) die "unknown option $1" ;;
	*) break ;;
	esac
done
dest=${1:?usage: fetch-debian-kernel.sh [--arch ARCH --version VER [--flavour F] [--suite S] [--modules]] DEST [PACKAGE]}
mkdir -p "$dest"
cd "$dest"

# Older packages ship /boot/vmlinuz-KVER, newer ones /usr/lib/modules/KVER/vmlinuz.
image() { ls root/boot/vmlinuz-* root/boot/vmlinux-* root/usr/lib/modules/*/vmlinuz root/usr/lib/modules/*/vmlinux 2>/dev/null | head -1; }

if [ -z "$arch" ] && [ -z "$ver" ]; then
	pkg=${2:-$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)}
	[ -n "$pkg" ] || die "cannot resolve linux-image-cloud-amd64 (run apt-get update)"
	if ! ls "$pkg"_*.deb >/dev/null 2>&1; then
		apt-get download "$pkg" >/dev/null 2>&1 || die "apt-get download $pkg failed"
	fi
	deb=$(ls "$pkg"_*.deb | head -1)
	[ -d root ] || dpkg-deb -x "$deb" root
	echo "$PWD/$(image)"
	exit 0
fi
[ -n "$arch" ] && [ -n "$ver" ] || die "--arch and --version go together"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ -z "$flavour" ]; then
	case $arch in
	amd64) flavour=cloud-amd64 ;;
	arm64) flavour=cloud-arm64 ;;
	ppc64el) flavour=powerpc64le ;;
	armhf) flavour=armmp ;;
	i386) flavour=686-pae ;;
	*) flavour=$arch ;;
	esac
fi
command -v curl >/dev/null || die "curl not found (apt-get install curl)"

# A Packages stanza's field: field NAME FIELD < Packages
field() {
	awk -v p="$1" -v f="$2" 'BEGIN { RS = ""; FS = "\n" }
		{ name = ""; val = ""
		  for (i = 1; i <= NF; i++) {
			if ($i == "Package: " p) name = p
			if (index($i, f ": ") == 1) val = substr($i, length(f) + 3)
		  }
		  if (name != "" && val != "") { print val; exit } }'
}

fetch_index() {
	curl -fsSL "$mirror/dists/$1/main/binary-$arch/Packages.xz" | xz -dc > "$2.tmp" 2>/dev/null || { rm -f "$2.tmp"; return 1; }
	mv "$2.tmp" "$2"
}
find_image() {
	sed -n "s/^Package: \(linux-image-$(echo "$ver" | sed 's/\./\\./g')\(+[a-z0-9]*\)\{0,1\}-$flavour\)\$/\1/p" "$1" | head -1
}
found=
for suite in ${suites:-trixie-backports trixie sid}; do
	idx=Packages-$suite-$arch
	# A cached index is used until it lacks the version asked for; then it is fetched again.
	if [ -s "$idx" ] && [ -n "$(find_image "$idx")" ]; then :; else fetch_index "$suite" "$idx" || continue; fi
	img=$(find_image "$idx")
	[ -n "$img" ] && { found=$suite; break; }
done
[ -n "$found" ] || die "no linux-image-$ver*-$flavour for $arch in ${suites:-trixie-backports trixie sid}"
kver=${img#linux-image-}
# Newer packaging: the image is a meta package over linux-binary-* (the kernel) and linux-modules-*.
pkgs=$img
deps=$(field "$img" Depends < "$idx")
case $deps in
*"linux-binary-$kver "*) pkgs="linux-binary-$kver"; [ $modules = 1 ] && pkgs="$pkgs linux-modules-$kver" ;;
esac
for p in $pkgs; do
	file=$(field "$p" Filename < "$idx")
	sum=$(field "$p" SHA256 < "$idx")
	[ -n "$file" ] && [ -n "$sum" ] || die "$p: no Filename/SHA256 in $suite/$arch Packages"
	deb=${file##*/}
	if [ ! -f "$deb" ]; then
		curl -fsSL -o "$deb.tmp" "$mirror/$file" || { rm -f "$deb.tmp"; die "download of $mirror/$file failed"; }
		echo "$sum  $deb.tmp" | sha256sum -c --quiet >/dev/null 2>&1 || { rm -f "$deb.tmp"; die "$deb: SHA256 mismatch"; }
		mv "$deb.tmp" "$deb"
	fi
	[ -f "root/.$p" ] || { dpkg-deb -x "$deb" root && touch "root/.$p"; }
done
k=$(image)
[ -n "$k" ] || die "$pkgs hold no kernel image (vmlinuz/vmlinux)"
echo "$PWD/$k"
