#!/usr/bin/env bash
# The stand-in for images/Dockerfile's python base where no container registry is reachable:
# Debian bookworm's minimal system with Python 3.11, from the Debian mirror apt uses here,
# imported into the Docker engine DOCKER_HOST names. Used by .ci/run; reused when present.
#   images/stand-in-base.sh <image name> <work directory>
# Then: docker build --build-arg PYTHON_IMAGE=<image name> -f images/Dockerfile .
set -euo pipefail
image=${1:?usage: stand-in-base.sh <image name> <work directory>}
work=${2:?usage: stand-in-base.sh <image name> <work directory>}
docker=${DOCKER:-docker}

if "$docker" image inspect "$image" >/dev/null 2>&1; then
    echo "stand-in base $image: already there"
    exit 0
fi

# The mirror of bookworm's main suite in apt's sources (deb822 .sources or one-line .list).
mirror=$(
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] && cat "$file" && echo
    done | awk '
        /^deb / { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { if ($(i + 1) == "bookworm") { print $i; exit } break } }
        /^URIs:/ { uri = $2 }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm" && uri != "") { print uri; exit } }
        /^$/ { uri = "" }'
)
if [ -z "$mirror" ]; then
    echo "stand-in-base.sh: no bookworm mirror in /etc/apt/sources.list*" >&2
    exit 2
fi

rootfs="$work/rootfs"
rm -rf "$rootfs"
mkdir -p "$work"
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$work/debootstrap.log"
# the Dockerfile calls `python`, as the python images provide it
ln -sf python3 "$rootfs/usr/bin/python"
# pip uses its own CA bundle unless told otherwise: the host's bundle, which trusts what this
# machine's network presents, is copied in and named in pip's global config
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/usr/local/share/host-ca-bundle.crt"
printf '[global]\ncert = /usr/local/share/host-ca-bundle.crt\n' >"$rootfs/etc/pip.conf"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | "$docker" import --change 'CMD ["python3"]' - "$image" >/dev/null
rm -rf "$rootfs"
echo "stand-in base $image: built from $mirror"
