#!/bin/sh
# Installs one pinned warrant release binary for this machine, verified by its SHA-256.
#
# The one install path for every CI: the GitHub Action (action.yml) calls it, and GitLab jobs or
# a plain shell call it directly. POSIX sh; needs curl or wget, and sha256sum or shasum.
#
#   sh install.sh --repo OWNER/warrant --version v0.1.0 --checksum SHA256
#
# --checksum is the SHA-256 of this machine's asset (64 hex digits), or the lines of the
# release's SHA256SUMS file: then the line naming this machine's asset is used, so one value
# serves every OS and architecture. Take it from a SHA256SUMS you verified
# (`gh attestation verify SHA256SUMS --repo OWNER/warrant`); the download itself is trusted for
# nothing. There is no "latest": an install is always a pinned version and checksum.
#
# The asset is downloaded to a temporary file beside the destination, checked against the
# checksum, checked to run, and only then renamed to DIR/warrant. A checksum mismatch, a missing
# asset, an interrupted download or a binary that does not run leaves nothing behind, and an
# earlier DIR/warrant untouched.
#
# Options (each may be given in the environment instead):
#   --version TAG      WARRANT_VERSION       release tag, e.g. v0.1.0 (required)
#   --checksum SUM     WARRANT_CHECKSUM      see above (required)
#   --repo OWNER/NAME  WARRANT_REPO          GitHub repository whose releases to download
#   --base-url URL     WARRANT_DOWNLOAD_URL  download from URL/TAG/ASSET instead of
#                                            $GITHUB_SERVER_URL/OWNER/NAME/releases/download
#                                            ($GITHUB_SERVER_URL: https://github.com if unset)
#   --dir DIR          WARRANT_INSTALL_DIR   where to put warrant (default: $HOME/.local/bin)
#
# Assets are named warrant-<arch>-<os>: warrant-x86_64-unknown-linux-musl,
# warrant-aarch64-unknown-linux-musl, warrant-x86_64-apple-darwin, warrant-aarch64-apple-darwin.
# Prints the installed path on stdout; everything else goes to stderr. Exits non-zero on any
# failure.
set -eu

say() { printf 'warrant install: %s\n' "$*" >&2; }
fail() {
	say "$*"
	exit 1
}

usage() {
	cat >&2 <<'USAGE'
usage: install.sh --version TAG --checksum SHA256|SHA256SUMS-lines
                  (--repo OWNER/NAME | --base-url URL) [--dir DIR]
USAGE
}

version=${WARRANT_VERSION:-}
checksum=${WARRANT_CHECKSUM:-}
repo=${WARRANT_REPO:-}
base_url=${WARRANT_DOWNLOAD_URL:-}
dir=${WARRANT_INSTALL_DIR:-}

while [ $# -gt 0 ]; do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	--version=* | --checksum=* | --repo=* | --base-url=* | --dir=*)
		option=${1%%=*}
		value=${1#*=}
		shift
		;;
	--version | --checksum | --repo | --base-url | --dir)
		[ $# -ge 2 ] || fail "$1 needs a value"
		option=$1
		value=$2
		shift 2
		;;
	*)
		usage
		fail "unknown argument: $1"
		;;
	esac
	case $option in
	--version) version=$value ;;
	--checksum) checksum=$value ;;
	--repo) repo=$value ;;
	--base-url) base_url=$value ;;
	--dir) dir=$value ;;
	esac
done

# --- What to download -----------------------------------------------------------------------

case $version in
'') fail "no version: pass --version vX.Y.Z (a release tag; installs are always pinned)" ;;
[0-9]*) version=v$version ;;
esac
case $version in
v[0-9]*) ;;
*) fail "version '$version' is not a release tag like v0.1.0" ;;
esac
case $version in
*[!A-Za-z0-9.+-]*) fail "version '$version' is not a release tag like v0.1.0" ;;
esac

if [ -z "$base_url" ]; then
	case $repo in
	'') fail "no repository: pass --repo OWNER/NAME (or --base-url)" ;;
	*[!A-Za-z0-9._/-]* | /* | */ | */*/* | *..*) fail "repository '$repo' is not OWNER/NAME" ;;
	*/*) ;;
	*) fail "repository '$repo' is not OWNER/NAME" ;;
	esac
	# Inside GitHub Actions, the server the workflow runs on (github.com or GitHub Enterprise).
	base_url=${GITHUB_SERVER_URL:-https://github.com}/$repo/releases/download
fi
base_url=${base_url%/}
case $base_url in
https://*) curl_protocols='=https' ;;
http://*) curl_protocols='=http,https' ;;
*) fail "download URL '$base_url' is neither https:// nor http://" ;;
esac

os=$(uname -s)
cpu=$(uname -m)
case $os in
Linux) os=unknown-linux-musl ;;
Darwin) os=apple-darwin ;;
*) fail "no warrant release is built for $os (Linux and macOS only); build from source with cargo" ;;
esac
case $cpu in
x86_64 | amd64) cpu=x86_64 ;;
aarch64 | arm64) cpu=aarch64 ;;
*) fail "no warrant release is built for $cpu (x86_64 and aarch64 only); build from source with cargo" ;;
esac
asset=warrant-$cpu-$os
url=$base_url/$version/$asset

# --- The expected checksum ------------------------------------------------------------------

is_sha256() {
	case $1 in
	*[!0-9a-f]*) return 1 ;;
	esac
	[ ${#1} -eq 64 ]
}

# The asset's SHA-256 from --checksum: a single digest, or the line of a SHA256SUMS list (as
# sha256sum writes it, "DIGEST  NAME" or "DIGEST *NAME") that names the asset.
expected_checksum() {
	set -f
	# shellcheck disable=SC2086 # split into words on purpose
	set -- $checksum
	[ $# -ne 0 ] || fail "no checksum: pass --checksum with the SHA-256 of $asset from the release's SHA256SUMS; refusing to install an unverified binary"
	if [ $# -eq 1 ]; then
		printf '%s\n' "$1"
		return 0
	fi
	found=
	while IFS= read -r line; do
		# shellcheck disable=SC2086 # split into words on purpose
		set -- $line
		[ $# -ne 0 ] || continue
		[ $# -eq 2 ] || fail "cannot read the checksum line '$line' (expected: DIGEST  NAME)"
		[ "${2#\*}" = "$asset" ] || continue
		[ -z "$found" ] || [ "$found" = "$1" ] || fail "the checksum list has two different lines for $asset"
		found=$1
	done <<LINES
$checksum
LINES
	[ -n "$found" ] || fail "the checksum list has no line for $asset (this machine's asset); nothing was installed"
	printf '%s\n' "$found"
}

expected=$(expected_checksum) || exit 1
expected=$(printf '%s\n' "$expected" | tr 'A-F' 'a-f')
is_sha256 "$expected" || fail "checksum '$expected' is not a SHA-256 (64 hex digits)"

# --- The tools ------------------------------------------------------------------------------

if command -v curl >/dev/null 2>&1; then
	downloader=curl
elif command -v wget >/dev/null 2>&1; then
	downloader=wget
else
	fail "needs curl or wget to download $url"
fi
if command -v sha256sum >/dev/null 2>&1; then
	hasher=sha256sum
elif command -v shasum >/dev/null 2>&1; then
	hasher=shasum
else
	fail "needs sha256sum or shasum to verify the download"
fi

# --- Download, verify, install --------------------------------------------------------------

[ -n "$dir" ] || dir=${HOME:?HOME is not set: pass --dir}/.local/bin
mkdir -p "$dir" || fail "cannot create $dir"
target=$dir/warrant

# The temporary file lives beside the target so that the final rename is atomic, and goes
# away however this script ends.
partial=$(mktemp "$dir/.warrant-install.XXXXXX") || fail "cannot create a temporary file in $dir"
trap 'rm -f "$partial"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

say "downloading $url"
status=0
if [ $downloader = curl ]; then
	curl --fail --silent --show-error --location --proto "$curl_protocols" \
		--retry 3 --connect-timeout 30 --max-time 900 --max-filesize 536870912 \
		--output "$partial" "$url" || status=$?
else
	wget --quiet --tries=3 --timeout=30 --output-document="$partial" "$url" || status=$?
fi
[ "$status" -eq 0 ] || fail "cannot download $url ($downloader exit $status): is $asset an asset of release $version? Nothing was installed."

if [ $hasher = sha256sum ]; then
	actual=$(sha256sum "$partial")
else
	actual=$(shasum -a 256 "$partial")
fi
actual=${actual%% *}
if [ "$actual" != "$expected" ]; then
	fail "SHA-256 mismatch for $asset $version: expected $expected, downloaded $actual. Nothing was installed."
fi

chmod 755 "$partial"
if ! reported=$("$partial" --version 2>&1); then
	fail "the verified $asset does not run on this machine ($reported). Nothing was installed."
fi
mv -f "$partial" "$target" || fail "cannot move the verified binary to $target"
say "installed $reported ($asset, sha256 $actual) at $target"
case ":${PATH:-}:" in
*":$dir:"*) ;;
*) say "$dir is not on PATH; add it to run warrant by name" ;;
esac
printf '%s\n' "$target"
