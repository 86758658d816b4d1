#!/usr/bin/env bash
# Install PyTorch into the given venv: a CUDA build where an NVIDIA GPU is visible, a CPU build elsewhere.
#   tools/install_torch.sh .venv/bin/pip 2.13.0
# PyPI's default Linux wheel is the multi-GB CUDA build. Without a GPU we ask PyTorch's CPU index for the
# same version when it answers; where it does not (an offline mirror, a wheel directory) plain pip resolves
# the version from whatever the local pip configuration offers.
set -euo pipefail
pip=$1
version=${2:-2.13.0}
if "$pip" show torch >/dev/null 2>&1 && [ "$("$pip" show torch | awk '/^Version:/{print $2}' | cut -d+ -f1)" = "$version" ]; then
    exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "GPU found: installing the CUDA build of torch==$version"
    exec "$pip" install "torch==$version"
fi
cpu_index=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
if timeout 5 python3 -c "import socket,sys,urllib.parse; socket.getaddrinfo(urllib.parse.urlparse(sys.argv[1]).hostname, 443)" "$cpu_index" 2>/dev/null; then
    echo "no GPU: installing the CPU build of torch==$version from $cpu_index"
    exec "$pip" install "torch==$version" --index-url "$cpu_index"
fi
echo "no GPU, $cpu_index unreachable: installing torch==$version as the local pip configuration offers it"
exec "$pip" install "torch==$version"
