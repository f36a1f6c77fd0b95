#!/usr/bin/env bash
# Send one signed request to clorebot (Standard Webhooks) from cron or a shell.
# The secret is the configured text secret as written (no whsec_ prefix): openssl
# computes the HMAC with it directly, no base64 decoding of keys involved.
#
#   CLOREBOT_URL=https://clorebot.example.com CLOREBOT_SECRET_FILE=/etc/clorebot/cron.secret \
#     clorebot-webhook.sh /webhook/create-order '{"gpu_type": "RTX 4090", "hours": 2}'
#
# curl retries transient failures with the same webhook-id: clorebot answers a
# repeated id with its first answer, so a retry never rents twice.
set -euo pipefail
route=${1:?usage: clorebot-webhook.sh ROUTE JSON}
body=${2:?usage: clorebot-webhook.sh ROUTE JSON}
secret=$(cat "${CLOREBOT_SECRET_FILE:?set CLOREBOT_SECRET_FILE}")
id="cron_$(date +%s)_$(openssl rand -hex 8)"
ts=$(date +%s)
sig=$(printf '%s.%s.%s' "$id" "$ts" "$body" | openssl dgst -sha256 -hmac "$secret" -binary | openssl base64 -A)
curl -sS --fail-with-body --retry 3 -X POST "${CLOREBOT_URL:?set CLOREBOT_URL}${route}" \
  -H 'content-type: application/json' \
  -H "webhook-id: ${id}" -H "webhook-timestamp: ${ts}" -H "webhook-signature: v1,${sig}" \
  --data-binary "$body"
