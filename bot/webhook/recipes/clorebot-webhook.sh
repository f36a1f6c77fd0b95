#!/usr/bin/env bash
# Send one signed request to clorebot (Standard Webhooks) from cron, CI or a shell.
# The secret is the configured text secret as written (no whsec_ prefix): openssl
# computes the HMAC with it directly, no base64 decoding of keys involved.
#
#   CLOREBOT_URL=https://clorebot.example.com CLOREBOT_SECRET_FILE=/etc/clorebot/cron.secret \
#     clorebot-webhook.sh /webhook/create-order '{"gpu_type": "RTX 4090", "hours": 2}'
#   clorebot-webhook.sh /webhook/jobs/JOB_ID     # no body: a signed GET
#
# The secret is read from the file CLOREBOT_SECRET_FILE, else taken from
# CLOREBOT_SECRET (CI systems hand secrets over in the environment).
# CLOREBOT_WEBHOOK_ID fixes the webhook-id: a request repeated with the same id
# (a retried CI step) gets the first answer and never rents twice. curl retries
# transient failures with the same id for the same reason.
set -euo pipefail
route=${1:?usage: clorebot-webhook.sh ROUTE [JSON]}
body=${2-}
if [ -n "${CLOREBOT_SECRET_FILE-}" ]; then
  secret=$(cat "$CLOREBOT_SECRET_FILE")
else
  secret=${CLOREBOT_SECRET:?set CLOREBOT_SECRET_FILE or CLOREBOT_SECRET}
fi
id=${CLOREBOT_WEBHOOK_ID:-"req_$(date +%s)_$(openssl rand -hex 8)"}
ts=$(date +%s)
sig=$(printf '%s.%s.%s' "$id" "$ts" "$body" | openssl dgst -sha256 -hmac "$secret" -binary | openssl base64 -A)
if [ -n "$body" ]; then
  send=(-X POST -H 'content-type: application/json' --data-binary "$body")
else
  send=(-X GET)
fi
curl -sS --fail-with-body --retry 3 "${send[@]}" "${CLOREBOT_URL:?set CLOREBOT_URL}${route}" \
  -H "webhook-id: ${id}" -H "webhook-timestamp: ${ts}" -H "webhook-signature: v1,${sig}"
