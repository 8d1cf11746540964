#!/bin/sh
# jfs installer.
#
#   From a checkout:        sh install.sh
#   Piped, from a checkout: curl -fsSL "$JFS_RELEASE_URL/install.sh" | JFS_SOURCE=/path/to/checkout sh
#   A release binary:       curl -fsSL "$JFS_RELEASE_URL/install.sh" | JFS_RELEASE_URL=... sh
#
# Variables:
#   JFS_INSTALL_DIR   where the jfs binary goes (default: $HOME/.local/bin)
#   JFS_SOURCE        a jfs checkout to build from (default: the directory of this script)
#   JFS_FROM          source | release (default: source when a checkout is found, else release)
#   JFS_VERSION       release to download, e.g. 0.1.0 (default: latest, the version named in
#                     $JFS_RELEASE_URL/latest)
#   JFS_RELEASE_URL   base URL of releases (required for a release install: the directory
#                     `bun run release` writes, dist/release, served over HTTP(S)); the binary is
#                     $URL/$VERSION/jfs-$OS-$ARCH with its sha256 in jfs-$OS-$ARCH.sha256 next to it
#
# Building from source installs Bun (the npm package "bun") when it is missing, installs the
# dependencies and compiles one self-contained binary with `bun build --compile`. Running it
# again rebuilds only when the sources changed.
set -eu

JFS_INSTALL_DIR=${JFS_INSTALL_DIR:-$HOME/.local/bin}
JFS_VERSION=${JFS_VERSION:-latest}
JFS_VERSION=${JFS_VERSION#v}
JFS_RELEASE_URL=${JFS_RELEASE_URL:-}

say() { printf 'jfs-install: %s\n' "$*"; }
die() { printf 'jfs-install: error: %s\n' "$*" >&2; exit 1; }

find_checkout() {
  if [ -n "${JFS_SOURCE:-}" ]; then
    [ -f "$JFS_SOURCE/package.json" ] || die "JFS_SOURCE=$JFS_SOURCE is not a jfs checkout"
    (cd "$JFS_SOURCE" && pwd)
    return
  fi
  case "$0" in
    */install.sh | install.sh)
      dir=$(cd "$(dirname "$0")" && pwd)
      if [ -f "$dir/package.json" ] && [ -f "$dir/src/main.ts" ]; then echo "$dir"; fi
      ;;
  esac
}

ensure_bun() {
  if command -v bun >/dev/null 2>&1; then return; fi
  for candidate in "$HOME/.local/bin/bun" "$HOME/.bun/bin/bun"; do
    if [ -x "$candidate" ]; then PATH="$(dirname "$candidate"):$PATH"; return; fi
  done
  command -v npm >/dev/null 2>&1 || die "Bun is missing and npm is not there to install it (install Node.js and npm first)"
  say "installing Bun with npm"
  if ! npm install -g bun >/dev/null 2>&1; then
    # No permission for the global prefix: install under ~/.local instead.
    npm install -g --prefix "$HOME/.local" bun >/dev/null || die "npm install bun failed"
    PATH="$HOME/.local/bin:$PATH"
  fi
  command -v bun >/dev/null 2>&1 || die "Bun was installed but is not on PATH"
}

# A digest of everything the binary is built from, so a second run can skip the build.
source_digest() {
  (cd "$1" && find src nfs release/build.ts package.json bun.lock tsconfig.json -type f 2>/dev/null | LC_ALL=C sort |
    xargs cat 2>/dev/null | sha256sum | cut -d' ' -f1)
}

build_from_source() {
  checkout=$1
  ensure_bun
  out="$checkout/dist/jfs"
  stamp="$checkout/dist/.source-sha256"
  digest=$(source_digest "$checkout")
  if [ -x "$out" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
    say "binary is up to date ($out)"
  else
    say "installing dependencies"
    (cd "$checkout" && { bun install --frozen-lockfile >/dev/null 2>&1 || bun install >/dev/null; }) ||
      die "bun install failed"
    say "building $out"
    mkdir -p "$checkout/dist"
    # --silent: bun run would echo "$ bun build ..." to stderr, the installer says what it does.
    (cd "$checkout" && bun run --silent build >/dev/null) || die "bun build --compile failed"
    echo "$digest" >"$stamp"
  fi
  install_binary "$out"
}

platform() {
  os=$(uname -s | tr '[:upper:]' '[:lower:]')
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "no release for CPU $(uname -m)" ;;
  esac
  case "$os" in linux | darwin) ;; *) die "no release for OS $os" ;; esac
  echo "$os-$arch"
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

install_release() {
  [ -n "$JFS_RELEASE_URL" ] ||
    die "set JFS_RELEASE_URL to the base URL of jfs releases (the dist/release directory of \`bun run release\`, served over HTTP)"
  command -v curl >/dev/null 2>&1 || die "curl is needed to download a release"
  base=${JFS_RELEASE_URL%/}
  name="jfs-$(platform)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  version=$JFS_VERSION
  if [ "$version" = latest ]; then
    curl -fsSL -o "$tmp/latest" "$base/latest" || die "download failed: $base/latest"
    version=$(head -n 1 "$tmp/latest" | tr -d ' \r')
    [ -n "$version" ] || die "$base/latest names no version"
  fi
  url="$base/$version/$name"
  say "downloading $url"
  curl -fsSL -o "$tmp/jfs" "$url" || die "download failed: $url"
  curl -fsSL -o "$tmp/jfs.sha256" "$url.sha256" || die "download failed: $url.sha256"
  want=$(cut -d' ' -f1 <"$tmp/jfs.sha256")
  got=$(sha256_of "$tmp/jfs")
  [ "$want" = "$got" ] || die "sha256 mismatch for $name: expected $want, got $got (nothing installed)"
  chmod +x "$tmp/jfs"
  # A binary for another libc or CPU would only fail later, at the user's first command.
  "$tmp/jfs" --version >/dev/null 2>&1 || die "$name $version does not run on this machine (nothing installed)"
  install_binary "$tmp/jfs"
}

install_binary() {
  mkdir -p "$JFS_INSTALL_DIR"
  target="$JFS_INSTALL_DIR/jfs"
  if [ -f "$target" ] && cmp -s "$1" "$target"; then
    say "$target is already this build"
  else
    cp "$1" "$target.tmp.$$" && chmod +x "$target.tmp.$$" && mv -f "$target.tmp.$$" "$target"
  fi
  say "installed $("$target" --version | head -n 1) at $target"
  case ":$PATH:" in
    *":$JFS_INSTALL_DIR:"*) ;;
    *) say "add it to your PATH:  export PATH=\"$JFS_INSTALL_DIR:\$PATH\"" ;;
  esac
}

checkout=$(find_checkout)
from=${JFS_FROM:-}
if [ -z "$from" ]; then
  if [ -n "$checkout" ]; then from=source; else from=release; fi
fi
case "$from" in
  source)
    [ -n "$checkout" ] || die "no checkout to build from: run install.sh inside one or set JFS_SOURCE"
    build_from_source "$checkout"
    ;;
  release) install_release ;;
  *) die "JFS_FROM must be source or release, got $from" ;;
esac
