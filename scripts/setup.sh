# Sourced by scripts/demo and scripts/test: installs the Debian packages Tracemark needs when any
# is missing, then builds in release. Safe to run again; it installs nothing that is present.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(pkg-config libopenblas-dev libdnnl-dev libcurl4-openssl-dev libssl-dev openssl libsqlite3-dev zlib1g-dev dataset-fashion-mnist)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

command -v swift >/dev/null || { echo "error: swift is not on PATH (Swift 6.3 is required)" >&2; exit 1; }
# scripts/test lets `swift test` build instead. Both build with -enable-testing, so one build
# serves the other; without it each would compile every module (SwiftNIO included) again.
if [ "${TRACEMARK_SKIP_BUILD:-0}" != 1 ]; then
  echo "building tracemark (release)…" >&2
  swift build -c release -Xswiftc -enable-testing --product tracemark >&2
fi
