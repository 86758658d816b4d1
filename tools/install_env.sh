#!/usr/bin/env bash
# Create or update the environment: tools/install_env.sh .venv 2.13.0 (the Makefile's install rule).
# One install at a time: `make worker` started in two terminals after a `git pull` ran two pip installs into one
# environment at once. The second waits for the first (flock, where util-linux has it), then finds the install
# stamp newer than what it depends on and installs nothing.
set -euo pipefail
venv=$1
version=${2:-2.13.0}
stamp=$venv/.installed
mkdir -p "$venv"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$venv/.install.lock"
    if ! flock -n 9; then
        echo "another make is installing $venv: waiting for it"
        flock 9
    fi
fi
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt constraints.txt ] \
    && [ "$stamp" -nt tools/install_torch.sh ] && [ "$stamp" -nt tools/install_env.sh ]; then
    exit 0  # installed meanwhile by the make this one waited for
fi
rm -f "$stamp"  # an install cut short leaves no stamp: the next make installs again
test -x "$venv/bin/python" || python3 -m venv "$venv"
tools/install_torch.sh "$venv/bin/pip" "$version"
"$venv/bin/pip" install -q -c constraints.txt -e '.[dev]'
touch "$stamp"
