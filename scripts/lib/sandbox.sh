# shellcheck shell=bash
# Shared helpers for scripts/*: where Python 3.14 lives and how to run a command with it.
#
# Home Assistant 2026.x needs Python >= 3.14.2. Where `python3.14` is on PATH we use it
# directly; otherwise scripts/setup builds a Debian testing root under .sandbox/root and
# every command runs inside it (unshare + chroot, repo bind-mounted at the same path).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SANDBOX_ROOT="${REPO_ROOT}/.sandbox/root"
VENV="${REPO_ROOT}/.venv"

# True when a native python3.14 (>= 3.14.2) can be used without the sandbox.
native_python_ok() {
    command -v python3.14 >/dev/null 2>&1 &&
        python3.14 -c 'import sys; sys.exit(sys.version_info < (3, 14, 2))' 2>/dev/null
}

uses_sandbox() {
    [ "${INFLUXDB_INGEST_SANDBOX:-auto}" = "1" ] && return 0
    [ "${INFLUXDB_INGEST_SANDBOX:-auto}" = "0" ] && return 1
    ! native_python_ok
}

# Run "$@" from the repo root with the project's environment, inside the sandbox if needed.
in_env() {
    if ! uses_sandbox; then
        (cd "${REPO_ROOT}" && PATH="${VENV}/bin:${PATH}" "$@")
        return
    fi
    # Pass pip settings and a few useful variables through the chroot boundary.
    local -a passenv=(env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}"
        PATH="${VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    local var
    while IFS='=' read -r var _; do
        case "${var}" in
            PIP_* | CI | PYTEST_* | INFLUXDB_INGEST_* | HTTP_PROXY | HTTPS_PROXY | NO_PROXY | http_proxy | https_proxy | no_proxy)
                passenv+=("${var}=${!var}") ;;
        esac
    done < <(env)
    unshare --mount --propagation private -- bash -c '
        set -e
        root="$1"; repo="$2"; shift 2
        mount -t proc proc "${root}/proc"
        mount --rbind /dev "${root}/dev"
        mount -t tmpfs tmpfs "${root}/dev/shm" 2>/dev/null || true
        mkdir -p "${root}${repo}"
        mount --bind "${repo}" "${root}${repo}"
        for dir in /opt/pypi /opt/pypi-more /opt/wheels; do
            if [ -d "${dir}" ]; then mkdir -p "${root}${dir}"; mount --bind "${dir}" "${root}${dir}"; fi
        done
        exec chroot "${root}" "$@"
    ' sandbox "${SANDBOX_ROOT}" "${REPO_ROOT}" "${passenv[@]}" bash -c 'cd "$0" && exec "$@"' "${REPO_ROOT}" "$@"
}
