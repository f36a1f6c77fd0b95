package commands

// ParseSSHKey checks an SSH public key as rent's --ssh-key does and returns
// it normalised (single spaces). Its errors name --ssh-key and never quote
// more than the start of the key; front doors with a field of their own
// (the webhook's ssh_key) use it so that both accept the same keys.
func ParseSSHKey(s string) (string, error) { return parseSSHKey(s) }
