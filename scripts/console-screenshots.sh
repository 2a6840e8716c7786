#!/usr/bin/env bash
# Regenerates docs/console-queue.png, docs/console-queue-phone.png and docs/console-stats.png: the browser test fills a
# real server with a small queue and saves what headless Chromium shows.
# Needs chromium and chromium-driver (apt-get install chromium chromium-driver).
set -euo pipefail
cd "$(dirname "$0")/.."
COMMENTGUARD_SCREENSHOTS=1 cargo test --locked --test browser queue_and_stats_pages_render_for_screenshots
ls -l docs/console-queue.png docs/console-queue-phone.png docs/console-stats.png
