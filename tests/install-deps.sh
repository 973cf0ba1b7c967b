#!/usr/bin/env bash
# Installs what the test suite needs beyond cargo: a real SMTP server we did not write
# (aiosmtpd, a Python package), driven by tests/support/smtp_server.py; dkimpy, an independent
# DKIM verifier; openpyxl, which writes the .xlsx workbooks the import tests read; openssl,
# which makes the test certificates for TLS; util-linux's `script`, which gives the prompt
# tests a terminal; curl; Debian's Chromium with playwright-core (npm) to click the
# unsubscribe page; the official JavaScript mjml (npm, bench/mjml-js) that a Markdown issue's
# rendering is compared with; SpamAssassin; Postfix, for its test server `smtp-sink` (its mail system is
# not started); Dovecot (dovecot-imapd), the IMAP server the bounce tests start on their own
# config (its system service is not started). Idempotent.
set -euo pipefail
missing=()
command -v python3 >/dev/null || missing+=(python3 python3-pip)
command -v openssl >/dev/null || missing+=(openssl)
command -v script >/dev/null || missing+=(bsdutils)
command -v curl >/dev/null || missing+=(curl)
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v spamassassin >/dev/null || missing+=(spamassassin)
[ -x /usr/sbin/smtp-sink ] || missing+=(postfix)
[ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
here=$(dirname "$0")
if ! python3 -c 'import aiosmtpd, dkim, nacl, openpyxl' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check -r "$here/support/requirements.txt"
fi
python3 -c 'import aiosmtpd; print("aiosmtpd", aiosmtpd.__version__)'
if [ ! -d "$here/support/browser/node_modules/playwright-core" ]; then
    (cd "$here/support/browser" && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -d "$here/../bench/mjml-js/node_modules/mjml" ]; then
    (cd "$here/../bench/mjml-js" && npm ci --no-audit --no-fund --loglevel=error)
fi
