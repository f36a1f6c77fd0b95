// Code by Zapier (Run JavaScript), placed before a "Webhooks by Zapier" Custom
// Request step. Input Data: secret (the key's secret as configured in
// clorebot), gpu_type, hours, callback_url (optional). The Custom Request step
// sends POST <clorebot>/webhook/create-order with Data = {{body}} (raw, not
// re-encoded) and the headers content-type: application/json,
// webhook-id: {{webhook_id}}, webhook-timestamp: {{webhook_timestamp}},
// webhook-signature: {{webhook_signature}}.
const crypto = require('crypto');
const secret = inputData.secret.startsWith('whsec_')
  ? Buffer.from(inputData.secret.slice('whsec_'.length), 'base64')
  : inputData.secret;
const request = { gpu_type: inputData.gpu_type, hours: Number(inputData.hours || 1) };
if (inputData.callback_url) request.callback_url = inputData.callback_url;
const body = JSON.stringify(request);
const id = 'zap_' + crypto.randomUUID();
const timestamp = Math.floor(Date.now() / 1000).toString();
const signature = crypto.createHmac('sha256', secret)
  .update(`${id}.${timestamp}.${body}`)
  .digest('base64');
output = { body, webhook_id: id, webhook_timestamp: timestamp, webhook_signature: `v1,${signature}` };
