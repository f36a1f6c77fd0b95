package deploy

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docker-compose.ha.yml runs two hardened clorebot replicas on one
// PostgreSQL (DESIGN.md §8): both read the database URL from a mounted
// secret file, neither starts before the database is healthy, and the
// database is not published.
func TestHAComposeRunsTwoReplicasOnPostgres(t *testing.T) {
	root := repoRoot(t)
	compose := read(t, filepath.Join(root, "docker-compose.ha.yml"))
	checkMounted(t, "docker-compose.ha.yml", compose, regexp.MustCompile(`-\s+\S+:(/[^:\s]+)`))
	services := regexp.MustCompile(`(?m)^  (clorebot-[a-z]):\n    <<: \*clorebot\n`).FindAllStringSubmatch(compose, -1)
	if len(services) != 2 {
		t.Fatalf("docker-compose.ha.yml has %d clorebot replicas built on the shared anchor, want 2", len(services))
	}
	if n := strings.Count(compose, "CLOREBOT_STORAGE_URL_FILE: /run/secrets/storage_url"); n != 2 {
		t.Errorf("%d replicas read storage.url from the secret file, want 2", n)
	}
	for _, want := range []string{
		"read_only: true", "cap_drop: [ALL]", "- no-new-privileges:true", "tmpfs:\n    - /tmp:",
		"Needs Docker Compose 2.24 or later", "condition: service_healthy", "pg_isready",
		"POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password", "stop_grace_period: 30s",
		"additional_contexts:\n      git: ${CLOREBOT_GIT_DIR:-.git}",
		"GO_IMAGE: ${CLOREBOT_GO_IMAGE:-golang:1.26-bookworm}",
	} {
		if !strings.Contains(compose, want) {
			t.Errorf("docker-compose.ha.yml lacks %q", want)
		}
	}
	pg := compose[strings.Index(compose, "\n  postgres:\n"):]
	if strings.Contains(pg, "ports:") {
		t.Error("the database's port is published: only the replicas need it")
	}
	if strings.Contains(compose, "postgres://") && !strings.Contains(compose, "printf 'postgres://") {
		t.Error("a database URL is written in the compose file: it holds a password and belongs in secrets/storage_url")
	}
}
