#!/bin/sh
# Create the secret files docker-compose.yml mounts, if they are missing (never overwrites).
# They stay on the host, outside git (docker/secrets/.gitignore) and outside the image (.dockerignore).
# The directory is 0700 (only you); the files are 0644 because Compose bind-mounts them as they
# are, and the container's non-root user (uid 10001) must be able to read them.
set -eu
cd "$(dirname "$0")/secrets"
chmod 0700 .
umask 022
[ -s postgres_password ] || { openssl rand -hex 24 > postgres_password; echo "made postgres_password"; }
[ -s patient_ref_key ] || { openssl rand -hex 32 > patient_ref_key; echo "made patient_ref_key"; }
[ -s audit_signing_key.pem ] || {
    openssl genpkey -algorithm ed25519 -out audit_signing_key.pem && chmod 0644 audit_signing_key.pem
    echo "made audit_signing_key.pem"
}
