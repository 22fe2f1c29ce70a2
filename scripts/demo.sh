#!/usr/bin/env bash
# Run the OneMap demo: database, background worker and web server; Ctrl-C stops all of them cleanly.
# Assumes scripts/setup.sh ran (make demo does that first).
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
DEMO_DIR=${DEMO_DIR:-var/demo}
DEMO_SCALE=${DEMO_SCALE:-1}
DEMO_SEED=${DEMO_SEED:-1}
PY=.venv/bin/python
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

if ! "$PY" -c "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('$HOST', $PORT))" 2>/dev/null; then
  echo "error: $HOST:$PORT is already in use (another OneMap demo?). Stop it, or run: make demo PORT=8001" >&2
  exit 1
fi

if [ ! -f "$DEMO_DIR/manifest.json" ]; then
  say "Generating the demo exports into $DEMO_DIR (scale $DEMO_SCALE, seed $DEMO_SEED)"
  "$PY" manage.py demo_data --out "$DEMO_DIR" --scale "$DEMO_SCALE" --seed "$DEMO_SEED"
else
  say "Demo exports already in $DEMO_DIR (delete the folder to generate them again)"
fi
"$PY" manage.py demo_users >/dev/null

# Load every business system through its ETL mapping (idempotent: a second run reports "unchanged").
for system in registration planning landsupply; do
  say "Loading $system through etl/mappings/$system.yaml"
  "$PY" manage.py etl_run "$system" "$DEMO_DIR/$system"
done

PIDS=()
cleanup() {
  trap - INT TERM EXIT
  echo
  say "Stopping OneMap ..."
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -z "${DATABASE_URL:-}" ]; then "$PY" -m onemap.embedded_pg stop; fi
  say "Stopped."
}
trap cleanup INT TERM EXIT

mkdir -p var/log
"$PY" manage.py procrastinate worker >var/log/worker.log 2>&1 &
PIDS+=($!)
.venv/bin/gunicorn onemap.wsgi:application --bind "$HOST:$PORT" --workers 3 --timeout 120 \
  --access-logfile var/log/access.log --error-logfile var/log/web.log &
PIDS+=($!)

for _ in $(seq 1 100); do
  if "$PY" -c "import urllib.request; urllib.request.urlopen('http://$HOST:$PORT/accounts/login/', timeout=1)" 2>/dev/null; then
    break
  fi
  sleep 0.2
done

cat <<INFO

  OneMap 一张图 is running:  http://$HOST:$PORT/

  Demo logins (password: onemap-demo)
    supervisor   监管人员  browse the map, review findings
    analyst      分析人员  queries and statistics
    operator     数据管理员  loads and mismatch reports
    admin        系统管理员  everything, plus /admin/

  Services (login, API token or HTTP basic with the logins above):
    REST/GeoJSON  http://$HOST:$PORT/api/layers/   (docs: /api/docs/)
    OGC API       http://$HOST:$PORT/ogc/           (QGIS / GDAL OAPIF:)
    WMS / WMTS    http://$HOST:$PORT/mapproxy/service   /mapproxy/wmts/1.0.0/WMTSCapabilities.xml
    Vector tiles  http://$HOST:$PORT/tiles/<layer>/{z}/{x}/{y}.pbf

  Demo exports: $DEMO_DIR (manifest.json lists every planted defect)
  Logs: var/log/   ·   Press Ctrl-C to stop.

INFO
wait -n "${PIDS[@]}" || true
