#!/usr/bin/env bash
# Installs what the test suite needs beyond cargo: a real SMTP server we did not write
# (aiosmtpd, a Python package), driven by tests/support/smtp_server.py. Idempotent.
set -euo pipefail
if ! command -v python3 >/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3 python3-pip
fi
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check 'aiosmtpd==1.4.6'
fi
python3 -c 'import aiosmtpd; print("aiosmtpd", aiosmtpd.__version__)'
