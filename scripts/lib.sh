# Shared set-up for the scripts: a Rust toolchain on a fresh Debian machine (idempotent).
# Sourced, not run.

log() { printf '\n== %s\n' "$*"; }

# Installs the Debian packages given as arguments that are missing.
ensure_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
  fi
}

# Puts cargo on PATH, installing the stable toolchain with rustup if there is none.
ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    ensure_apt curl ca-certificates
    log "installing the Rust toolchain (rustup, stable)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
}

# Makes the Python virtual environment the process driver's tests, `ensemble bench hooks` and the
# packing tests (charmcraft) use
# (.venv: ops, charmlibs-rollingops and charmcraft from PyPI, pinned in
# scripts/python-requirements.txt),
# with Debian's /usr/bin/python3, which charmlibs-rollingops also calls by that path.
ensure_python_venv() {
  ensure_apt python3 python3-venv
  if [ ! -x .venv/bin/pip ]; then
    log "creating the Python venv (.venv)"
    /usr/bin/python3 -m venv .venv
  fi
  local want have
  want=$(grep -c . scripts/python-requirements.txt)
  have=$(.venv/bin/pip freeze 2>/dev/null | grep -cxF -f scripts/python-requirements.txt || true)
  if [ "$have" -ne "$want" ]; then
    log "installing the Python packages (scripts/python-requirements.txt)"
    .venv/bin/pip install -q --disable-pip-version-check -r scripts/python-requirements.txt
  fi
}
