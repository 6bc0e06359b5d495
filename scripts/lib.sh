# Shared helpers for the README commands. Sourced, not run.
# Everything here is idempotent: it checks before it installs.

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "error: need root to run '$*' (install sudo or run as root)" >&2
        return 1
    fi
}

# Installs the given Debian packages if any is missing. `apt-get update` runs
# once per call, and only when something must be installed.
ensure_apt_packages() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    echo "==> installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# What every build needs beyond Rust itself: a C compiler and pkg-config for
# the -sys crates (ring, zstd).
ensure_build_tools() {
    command -v cargo >/dev/null 2>&1 || {
        echo "error: cargo not found; install Rust (https://rustup.rs) first" >&2
        return 1
    }
    ensure_apt_packages gcc libc6-dev pkg-config
}

# What the X11 parts need: Xvfb for the tests and the demo, the xcb headers
# scrap links against (host screen capture), and the libraries the viewer's
# window loads at run time (winit dlopens Xlib, Xlib-xcb, Xcursor, XInput2
# and xkbcommon-x11; softbuffer dlopens libxcb).
ensure_x11_packages() {
    ensure_apt_packages \
        xvfb \
        libxcb1-dev libxcb-shm0-dev libxcb-randr0-dev \
        libxcb1 libx11-6 libx11-xcb1 libxcursor1 libxi6 libxtst6 libxkbcommon0 libxkbcommon-x11-0
}
