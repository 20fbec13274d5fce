# Shared by the PostgreSQL operations (sourced, not run): find pg_ctl for a data directory and
# run it as the directory's owner (pg_ctl refuses to run as root).

# acmangkut runs allow-listed commands with PATH=/usr/local/bin:/usr/bin:/bin; runuser and
# nginx live in sbin.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

# data_dir DIR: DIR when it is a PostgreSQL data directory (has PG_VERSION), else dies.
data_dir() {
    local dir=${1:-}
    [[ -n "$dir" ]] || die "usage: $(basename "$0") DATA_DIR"
    [[ -f "$dir/PG_VERSION" ]] || die "$dir is not a PostgreSQL data directory (no PG_VERSION)"
    printf '%s\n' "$dir"
}

# pg_ctl_for DIR ARGS...: pg_ctl of DIR's major version (Debian's /usr/lib/postgresql/N/bin,
# else $PGBIN, else the one on PATH) with ARGS and -D DIR, as DIR's owner when run as root.
pg_ctl_for() {
    local dir=$1 bin owner
    shift
    bin=${PGBIN:-/usr/lib/postgresql/$(cat "$dir/PG_VERSION")/bin}
    if [[ ! -x "$bin/pg_ctl" ]]; then
        bin=$(command -v pg_ctl) || die "pg_ctl not found (set PGBIN)"
        bin=$(dirname "$bin")
    fi
    owner=$(stat -c %U "$dir")
    if [[ "$(id -u)" -eq 0 && "$owner" != root ]]; then
        # cd /: the caller's directory may be one the owner cannot enter.
        (cd / && runuser -u "$owner" -- "$bin/pg_ctl" "$@" -D "$dir")
    else
        "$bin/pg_ctl" "$@" -D "$dir"
    fi
}

# running DIR: whether DIR's server is running (pg_ctl status: 0 running, 3 stopped).
running() {
    pg_ctl_for "$1" status >/dev/null
}
