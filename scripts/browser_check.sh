#!/usr/bin/env bash
# The slow browser check: JupyterLab on localhost, notebook 02 run in headless Chromium, the step slider moved.
# Installs what it needs (Debian's chromium package, Playwright's Python package; never `playwright install`),
# then runs tests/test_browser.py. Run from anywhere, with the project's environment active.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -eq 0 ]; then apt-get update -q && apt-get install -y -q chromium; else sudo apt-get install -y -q chromium; fi
fi
python -m pip install -q playwright
python -m pytest tests/test_browser.py --runslow -q -p no:cacheprovider "$@"
