#!/usr/bin/env bash
# Make sure Debian's chromium is present for the browser test; idempotent, always exits 0.
# Only Debian's packages are used: browser builds downloaded by other tools do not work here.
set -u

if [ -x /usr/bin/chromium ]; then
    exit 0
fi

if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_browser: /usr/bin/chromium missing and cannot apt-get install it (not root or no apt-get); the browser test will skip" >&2
    exit 0
fi

echo "ensure_browser: installing Debian's chromium for the browser test (apt-get, about a minute)..." >&2
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq >/dev/null 2>&1 \
    && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null 2>&1; then
    echo "ensure_browser: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)" >&2
else
    echo "ensure_browser: apt-get install chromium failed; the browser test will skip" >&2
fi
exit 0
