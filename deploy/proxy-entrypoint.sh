#!/bin/sh
# Render the HAProxy configuration for $REPLICAS replicas of $APP_ADDRESS (Docker DNS), check
# it, and run HAProxy in the foreground (logs on stdout).
set -eu
python /proxy/render_proxy_config.py --bind 0.0.0.0:8080 --dns "${APP_ADDRESS}" \
  --replicas "${REPLICAS}" -o /tmp/haproxy.cfg
haproxy -c -q -f /tmp/haproxy.cfg
exec haproxy -W -db -f /tmp/haproxy.cfg
