#!/usr/bin/env bash
# Reproduces docs/trace.png: the tour's execution trace of its one-P section (goroutines
# blocking in system calls, sysmon retaking the P) opened in a real trace viewer, headless.
#
# The viewer is Catapult's trace viewer, the one `chrome://tracing` was (Chromium 156 no longer
# has that page). An offline build of it ships with Go, which the project already uses for the
# harness's Go contender: $(go env GOROOT)/src/internal/trace/traceviewer/static, the files
# `go tool trace` serves. This script serves them and the trace on 127.0.0.1 from node, loads
# them the way `go tool trace` does (Catapult's embedding instructions), zooms to the read(2)
# on the pipe, selects it and takes a screenshot. Each run traces a fresh run of the tour, so
# the timings, thread ids and the way the read comes back differ from the committed picture.
#
# Installs, if missing: Debian's `chromium`, `nodejs` and `npm` (apt-get), and
# puppeteer-core from npm into the work directory (it drives the apt Chromium and downloads
# no browser). Needs Go and cargo; apt-get needs root, and Chromium runs with --no-sandbox.
#
# Usage: docs/screenshot.sh [out.png]      (default docs/trace.png; work dir $GORO_SHOT_DIR or
#                                           /tmp/goro-screenshot)
set -euo pipefail

cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-docs/trace.png}")
work=${GORO_SHOT_DIR:-/tmp/goro-screenshot}
mkdir -p "$work/site"

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
if [ ! -d "$work/node_modules/puppeteer-core" ]; then
    (cd "$work" && PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-audit --no-fund --silent \
        puppeteer-core@24.43.1)
fi

# The tour writes its trace to the temporary directory and says where.
log=$(env -u GORO_TRACE TMPDIR="$work" cargo run --release -q -p tour)
trace=$(sed -n 's/^Execution trace of this section written to //p' <<<"$log")
[ -s "$trace" ] || { echo "the tour printed no trace path" >&2; exit 1; }
cp "$trace" "$work/site/trace.json"

static=$(go env GOROOT)/src/internal/trace/traceviewer/static
[ -f "$static/trace_viewer_full.html" ] || static=$(go env GOROOT)/src/cmd/trace/static # older Go
cp "$static/trace_viewer_full.html" "$static/webcomponents.min.js" "$work/site/"

cat >"$work/site/index.html" <<'EOF'
<html>
<head>
<script src="webcomponents.min.js"></script>
<link rel="import" href="trace_viewer_full.html">
<style>
  html, body { box-sizing: border-box; overflow: hidden; margin: 0; padding: 0;
               width: 100%; height: 100%; }
  #trace-viewer { width: 100%; height: 100%; }
</style>
<script>
'use strict';
// As `go tool trace` embeds the viewer: a timeline view, fed through the importer.
document.addEventListener('WebComponentsReady', function() {
  var container = document.createElement('track-view-container');
  container.id = 'track_view_container';
  var viewer = document.createElement('tr-ui-timeline-view');
  viewer.track_view_container = container;
  Polymer.dom(viewer).appendChild(container);
  viewer.id = 'trace-viewer';
  viewer.globalMode = true;
  Polymer.dom(document.body).appendChild(viewer);
  window.viewer = viewer;
  fetch('trace.json').then(function(r) { return r.text(); }).then(function(text) {
    var model = new tr.Model();
    var opts = new tr.importer.ImportOptions();
    opts.shiftWorldToZero = false;
    return new tr.importer.Import(model, opts).importTracesWithProgressDialog([text])
      .then(function() {
        viewer.model = model;
        viewer.viewTitle = 'goro tour: one P, goroutines blocking in system calls';
        window.traceLoaded = true;
      });
  }).catch(function(e) { window.traceError = String((e && e.stack) || e); });
});
</script>
</head>
<body></body>
</html>
EOF

cat >"$work/shot.js" <<'EOF'
// node shot.js SITE_DIR OUT_PNG: serves SITE_DIR on 127.0.0.1, opens it in Chromium, shoots.
const http = require('http');
const fs = require('fs');
const path = require('path');
const puppeteer = require('puppeteer-core');
const [site, out] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

(async () => {
  const server = http.createServer((req, res) => {
    const file = path.join(site, path.basename(new URL(req.url, 'http://x').pathname));
    fs.readFile(file, (err, data) => {
      if (err) { res.writeHead(404); res.end(); return; }
      res.writeHead(200, {'Content-Type': file.endsWith('.js') ? 'text/javascript' :
                          file.endsWith('.html') ? 'text/html' : 'application/json'});
      res.end(data);
    });
  }).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const browser = await puppeteer.launch({executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu']});
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.setViewport({width: 1400, height: 650});
    await page.goto(`http://127.0.0.1:${server.address().port}/index.html`);
    await page.waitForFunction('window.traceLoaded || window.traceError', {timeout: 120000});
    const err = await page.evaluate('window.traceError');
    if (err) throw new Error(err);
    // What a person would do: hide the viewer's banner about running on the Web Components
    // polyfill, turn the flow arrows on, select the longest read(2) and zoom around it.
    const what = await page.evaluate(() => {
      Polymer.dom(viewer.root).querySelector('#polyfill-warning').clearMessages();
      let read;
      for (const proc of viewer.model.getAllProcesses())
        for (const t of Object.values(proc.threads))
          for (const s of t.sliceGroup.slices)
            if (s.title === 'syscall 0' && (!read || s.duration > read.duration)) read = s;
      if (!read) throw new Error('no read(2) in the trace');
      viewer.trackView.viewport.selectedFlowEvents = new Set(['flow']);
      viewer.brushingStateController.changeSelectionFromTimeline(new tr.model.EventSet([read]));
      window.zoomTo = [read.start - 3, read.end + 1.5];
      return `read(2) at ${read.start.toFixed(3)} ms for ${read.duration.toFixed(3)} ms`;
    });
    await sleep(500);
    await page.evaluate(() => {
      const tv = viewer.trackView;
      const dt = new tr.ui.TimelineDisplayTransform();
      dt.set(tv.viewport.currentDisplayTransform);
      dt.xSetWorldBounds(zoomTo[0], zoomTo[1], tv.modelTrackContainer_.canvas.clientWidth);
      tv.viewport.setDisplayTransformImmediately(dt);
    });
    await sleep(500);
    await page.screenshot({path: out});
    console.log(`${what}; screenshot in ${out}`);
  } finally {
    await browser.close();
    server.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
EOF

node "$work/shot.js" "$work/site" "$out"
