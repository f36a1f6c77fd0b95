-- 0011_watch_rent: how a watch rents when it triggers (a webhook
-- price-alert's image, hours, use_spot and ssh_key), as a JSON object;
-- '{}' means the defaults. The SSH key is a public key, not a secret.

ALTER TABLE watches ADD COLUMN rent TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(rent) AND json_type(rent) = 'object');
