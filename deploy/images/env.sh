# shellcheck shell=bash disable=SC2034
# Sourced (bash) by deploy/images/build and scripts/compose-check, and by an operator before
# running podman or podman-compose by hand:   . deploy/images/env.sh
#
# Chooses the container engine: HAS_CONTAINER_ENGINE=podman or docker; unset: podman when
# installed, else docker when its engine answers, else podman, installed from Debian's packages.
# Podman is pointed at the configuration checked in beside this file, never the host's:
#   CONTAINERS_CONF          deploy/images/containers.conf (runc, cgroupfs, events in a file,
#                            rlimits inherited: see the comments there)
#   CONTAINERS_STORAGE_CONF  deploy/images/storage.conf (images and containers under
#                            HAS_CONTAINERS_DIR)
#   HAS_CONTAINERS_DIR       default: ${CARGO_TARGET_DIR:-<repo>/target}/containers
# Sets HAS_ENGINE (podman|docker) and HAS_COMPOSE (the compose command as an array).

has_images_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
has_repo=$(cd "$has_images_dir/../.." && pwd)

# Installs Debian packages that are missing (as scripts/test does).
has_apt_install() {
    (($#)) || return 0
    echo "installing: $*" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" \
        >/dev/null
}

has_engine_setup() {
    local engine=${HAS_CONTAINER_ENGINE:-}
    if [ -z "$engine" ]; then
        if command -v podman >/dev/null 2>&1; then
            engine=podman
        elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
            engine=docker
        else
            engine=podman
        fi
    fi
    case $engine in
    podman)
        local need=()
        command -v podman >/dev/null 2>&1 || need+=(podman)
        command -v runc >/dev/null 2>&1 || need+=(runc)
        command -v podman-compose >/dev/null 2>&1 || need+=(podman-compose)
        # netavark's bridge networks with DNS between containers (service names)
        [ -x /usr/lib/podman/netavark ] || need+=(netavark)
        [ -x /usr/lib/podman/aardvark-dns ] || need+=(aardvark-dns)
        # netavark 1.4 (bookworm) sets up the bridge's NAT with iptables, which it does not
        # depend on: without it every `RUN` and container start fails "netavark: No such file
        # or directory".
        [ -x /usr/sbin/iptables ] || need+=(iptables)
        has_apt_install "${need[@]}"
        : "${HAS_CONTAINERS_DIR:=${CARGO_TARGET_DIR:-$has_repo/target}/containers}"
        export HAS_CONTAINERS_DIR
        mkdir -p "$HAS_CONTAINERS_DIR"
        export CONTAINERS_CONF=$has_images_dir/containers.conf
        export CONTAINERS_STORAGE_CONF=$has_images_dir/storage.conf
        HAS_COMPOSE=(podman-compose)
        ;;
    docker)
        HAS_COMPOSE=(docker compose)
        ;;
    *)
        echo "HAS_CONTAINER_ENGINE must be podman or docker, not '$engine'" >&2
        return 2
        ;;
    esac
    HAS_ENGINE=$engine
    export HAS_ENGINE
}
