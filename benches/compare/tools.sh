# Sourced by the comparison scripts: installs the Debian packages of the
# tools they run, if missing.
#
#   ensure_tools caddy:caddy h2load:nghttp2-client ...   # command:package
#
# Needs root for apt-get. Debian starts the services it installs where
# systemd runs (nginx, caddy); they are stopped again, since the scripts
# start their own instances on ephemeral ports.
ensure_tools() {
    local packages=() tool
    for tool in "$@"; do
        command -v "${tool%%:*}" >/dev/null || [ -x "/usr/sbin/${tool%%:*}" ] || packages+=("${tool##*:}")
    done
    [ "${#packages[@]}" -gt 0 ] || return 0
    echo "== installing ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl stop caddy nginx 2>/dev/null || true
    fi
}
