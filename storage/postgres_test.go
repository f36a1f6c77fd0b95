package storage

import (
	"strings"
	"testing"
	"testing/fstest"
)

// Every migration from PostgreSQL's baseline on has its PostgreSQL file: a
// new NNNN_name.sql without NNNN_name.pg.sql fails here, on SQLite too.
func TestEveryMigrationHasItsPostgreSQLFile(t *testing.T) {
	migs, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPGMigrations(migs); err != nil {
		t.Fatal(err)
	}
	if migs[len(migs)-1].version < pgBaseline {
		t.Fatalf("the newest migration is %d, before the baseline %d", migs[len(migs)-1].version, pgBaseline)
	}
}

func TestCheckPGMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	base := func() fstest.MapFS {
		return fstest.MapFS{
			"m/0001_a.sql": file("A"), "m/0026_z.sql": file("Z"), "m/0026_z.pg.sql": file("PZ"),
		}
	}
	ok := base()
	missing := base()
	missing["m/0027_next.sql"] = file("N")
	early := base()
	early["m/0001_a.pg.sql"] = file("PA")
	orphan := base()
	orphan["m/0028_gone.pg.sql"] = file("G")
	for _, tt := range []struct {
		name    string
		fs      fstest.MapFS
		wantErr string
	}{
		{"complete", ok, ""},
		{"a new version without its PostgreSQL file", missing, "0027_next has no PostgreSQL file"},
		{"a PostgreSQL file before the baseline", early, "PostgreSQL begins at version 26"},
		{"a PostgreSQL file without its SQLite file", orphan, "no SQLite file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			migs, err := loadMigrations(tt.fs, "m")
			if err == nil {
				err = checkPGMigrations(migs)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if migs[1].pg != "PZ" || migs[1].sql != "Z" {
					t.Errorf("0026 = %+v, want both texts", migs[1])
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPGQueryRewrite(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`SELECT a FROM t WHERE x = ? AND y = ?`, `SELECT a FROM t WHERE x = $1 AND y = $2`},
		{`VALUES (?1, ?2) ON CONFLICT (k) DO UPDATE SET v = ?2 WHERE t.v <= ?3`, `VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = $2 WHERE t.v <= $3`},
		{`SELECT ?2, ?, ?1`, `SELECT $2, $3, $1`},
		{`SELECT '?', "a?b", ? -- why?` + "\n" + `/* ? */ , ?`, `SELECT '?', "a?b", $1 -- why?` + "\n" + `/* ? */ , $2`},
		{`SELECT 'it''s ?', ?`, `SELECT 'it''s ?', $1`},
		{`SELECT count(*) FROM jobs INDEXED BY jobs_rent_created_idx WHERE id = ?`, `SELECT count(*) FROM jobs  WHERE id = $1`},
		{`SELECT indexed_by FROM reindexed`, `SELECT indexed_by FROM reindexed`},
	} {
		if got := rewritePlaceholders(tt.in); got != tt.want {
			t.Errorf("rewrite(%q)\n = %q\nwant %q", tt.in, got, tt.want)
		}
	}
}
