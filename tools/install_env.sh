#!/usr/bin/env bash
# Create or update the environment (the Makefile's install rule):
#   tools/install_env.sh .venv 2.13.0 pyproject.toml constraints.txt ...   (the rule's prerequisites last)
# One install at a time: `make worker` started in two terminals after a `git pull` ran two pip installs into one
# environment at once. The second waits for the first (flock where util-linux has it, else Python's fcntl), then
# finds the install stamp newer than every prerequisite and installs nothing.
set -euo pipefail
venv=$1
version=$2
shift 2
stamp=$venv/.installed
mkdir -p "$venv"
fresh() {
    [ -f "$stamp" ] || return 1
    for dep in "$@"; do [ "$stamp" -nt "$dep" ] || return 1; done
}
if [ -z "${REGTUNE_INSTALL_LOCKED:-}" ]; then
    lock=$venv/.install.lock
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$lock"
        if ! flock -n 9; then
            echo "another make is installing $venv: waiting for it"
            flock 9 || echo "note: could not lock $lock (a file system without locks): installing unlocked"
        fi
    elif command -v python3 >/dev/null 2>&1; then  # macOS has no flock(1): the same lock, held by python3
        exec env REGTUNE_INSTALL_LOCKED=1 python3 -c 'import fcntl, subprocess, sys
with open(sys.argv[1], "w") as f:
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("another make is installing the environment: waiting for it", flush=True)
        fcntl.flock(f, fcntl.LOCK_EX)
    except OSError:
        pass
    sys.exit(subprocess.call(sys.argv[2:]))' "$lock" "$0" "$venv" "$version" "$@"
    fi
fi
if fresh "$@"; then
    exit 0  # installed meanwhile by the make this one waited for
fi
rm -f "$stamp"  # an install cut short leaves no stamp: the next make installs again
test -x "$venv/bin/pip" || python3 -m venv "$venv"  # (pip, not python: a venv cut short has python alone)
tools/install_torch.sh "$venv/bin/pip" "$version"
"$venv/bin/pip" install -q -c constraints.txt -e '.[dev]'
touch "$stamp"
