# Shared by scripts/run and scripts/test. Sourced, not executed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ORION_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Create the virtualenv and install the pinned requirements file given.
python_env() {
    local requirements="$1"
    command -v python3 >/dev/null || die "python3 is required (3.11 or newer)"
    if [ ! -x "$PY" ]; then
        say "creating virtualenv in $VENV"
        python3 -m venv "$VENV"
    fi
    # The stamp holds the checksum of the file last installed, so any change to
    # it (a pull, a branch switch, a recompile) reinstalls, whatever the mtimes.
    # Each compiled file is self-contained: dev.txt pins base.txt's tree too.
    local stamp="$VENV/.installed-$(basename "$requirements" .txt)"
    local digest
    digest="$(sha256sum "$ROOT/$requirements" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
        say "installing $requirements"
        "$PY" -m pip install --quiet --disable-pip-version-check -r "$ROOT/$requirements"
        printf '%s\n' "$digest" >"$stamp"
    fi
}

# Install Debian packages that are missing (needs root, as on CI).
apt_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        die "missing Debian packages (${missing[*]}); run as root or install them"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
