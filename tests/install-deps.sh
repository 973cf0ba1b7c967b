#!/usr/bin/env bash
# Installs what the test suite needs beyond cargo: a real SMTP server we did not write
# (aiosmtpd, a Python package), driven by tests/support/smtp_server.py; openssl, which makes
# the test certificates for TLS; util-linux's `script`, which gives the prompt tests a terminal.
# Idempotent.
set -euo pipefail
missing=()
command -v python3 >/dev/null || missing+=(python3 python3-pip)
command -v openssl >/dev/null || missing+=(openssl)
command -v script >/dev/null || missing+=(bsdutils)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check 'aiosmtpd==1.4.6'
fi
python3 -c 'import aiosmtpd; print("aiosmtpd", aiosmtpd.__version__)'
