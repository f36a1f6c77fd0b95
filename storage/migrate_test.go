package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/clorebot/clorebot/commands"

	"github.com/clorebot/clorebot/storage/storagetest"
)

func TestEmbeddedMigrationsLoad(t *testing.T) {
	migs, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatalf("loadMigrations: %v", err)
	}
	if len(migs) == 0 || migs[0].version != 1 || migs[0].name != "init" {
		t.Fatalf("first migration = %+v, want version 1 named init", migs)
	}
	// 0018 and 0019 belong to work on other branches (issue 19), which this
	// branch's 0020 follows; drop the gap once they are merged.
	// 0023 is reserved for the coordinator's merge (issue 24's branches
	// have 0024 to 0027).
	reserved := map[int]bool{18: true, 19: true, 23: true}
	want := 1
	for i, m := range migs {
		for reserved[want] && m.version != want {
			want++
		}
		if m.version != want {
			t.Errorf("migration %d has version %d, want consecutive versions from 1", i, m.version)
		}
		want = m.version + 1
	}
}

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []int
		wantErr string
	}{
		{"sorted", fstest.MapFS{"m/0002_b.sql": file("B"), "m/0001_a.sql": file("A"), "m/README": file("x")}, []int{1, 2}, ""},
		{"empty", fstest.MapFS{"m/README": file("x")}, nil, ""},
		{"no name", fstest.MapFS{"m/0001.sql": file("A")}, nil, "want NNNN_name.sql"},
		{"short number", fstest.MapFS{"m/1_a.sql": file("A")}, nil, "want NNNN_name.sql"},
		{"not a number", fstest.MapFS{"m/00x1_a.sql": file("A")}, nil, "four-digit"},
		{"zero", fstest.MapFS{"m/0000_a.sql": file("A")}, nil, "four-digit"},
		{"duplicate", fstest.MapFS{"m/0001_a.sql": file("A"), "m/0001_b.sql": file("B")}, nil, "repeats"},
		{"missing dir", fstest.MapFS{}, nil, "read migrations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			migs, err := loadMigrations(tt.files, "m")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadMigrations: %v", err)
			}
			var got []int
			for _, m := range migs {
				got = append(got, m.version)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("versions = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOpenDoesNotMigrate(t *testing.T) {
	s := openStore(t, tempDBPath(t))
	v, err := s.SchemaVersion(context.Background())
	if err != nil || v != 0 {
		t.Fatalf("SchemaVersion = %d, %v; want 0, nil", v, err)
	}
}

func TestMigrateAppliesOnceAndRecords(t *testing.T) {
	ctx := context.Background()
	path := tempDBPath(t)
	s := openStore(t, path)
	clock := newFakeClock(epoch)
	s.Now = clock.Now

	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	want := make([]int, 0, len(s.migrations))
	for _, m := range s.migrations {
		want = append(want, m.version)
	}
	if !slices.Equal(applied, want) {
		t.Fatalf("applied = %v, want %v", applied, want)
	}
	assertRecorded(t, s, want)

	again, err := s.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second Migrate = %v, %v; want nothing applied", again, err)
	}
	assertRecorded(t, s, want)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	reopened, err := OpenAndMigrate(ctx, path)
	if err != nil {
		t.Fatalf("OpenAndMigrate after reopen: %v", err)
	}
	t.Cleanup(func() { reopened.Close() })
	if v, err := reopened.SchemaVersion(ctx); err != nil || v != s.latestVersion() {
		t.Fatalf("SchemaVersion after reopen = %d, %v; want %d", v, err, s.latestVersion())
	}
	assertRecorded(t, reopened, want)
}

// assertRecorded checks schema_migrations holds exactly versions, with names
// and UTC application times.
func assertRecorded(t *testing.T, s *Store, versions []int) {
	t.Helper()
	rows, err := s.read.QueryContext(context.Background(),
		`SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("query schema_migrations: %v", err)
	}
	defer rows.Close()
	var got []int
	for rows.Next() {
		var (
			v        int
			name, at string
		)
		if err := rows.Scan(&v, &name, &at); err != nil {
			t.Fatalf("scan: %v", err)
		}
		if name == "" || !strings.HasSuffix(at, "Z") {
			t.Errorf("version %d recorded as name %q at %q; want a name and a UTC time", v, name, at)
		}
		got = append(got, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("rows: %v", err)
	}
	if !slices.Equal(got, versions) {
		t.Fatalf("recorded versions = %v, want %v", got, versions)
	}
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	path := tempDBPath(t)
	s, _ := newStoreAt(t, path)
	if _, err := s.write.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', '2030-01-01T00:00:00.000000000Z')`); err != nil {
		t.Fatalf("insert future version: %v", err)
	}
	latest := s.latestVersion()
	checkErr := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, ErrSchemaTooNew) {
			t.Fatalf("err = %v, want ErrSchemaTooNew", err)
		}
		for _, v := range []string{"version 9999", fmt.Sprintf("version %d", latest)} {
			if !strings.Contains(err.Error(), v) {
				t.Errorf("error %q does not name %q", err, v)
			}
		}
	}

	t.Run("Migrate", func(t *testing.T) {
		applied, err := s.Migrate(ctx)
		checkErr(t, err)
		if len(applied) != 0 {
			t.Errorf("applied = %v, want nothing", applied)
		}
	})
	t.Run("Open", func(t *testing.T) {
		s2, err := Open(ctx, path)
		if err == nil {
			s2.Close()
		}
		checkErr(t, err)
	})
	t.Run("OpenAndMigrate", func(t *testing.T) {
		s2, err := OpenAndMigrate(ctx, path)
		if err == nil {
			s2.Close()
		}
		checkErr(t, err)
	})
}

func TestMigration0002OnTopOf0001(t *testing.T) {
	storagetest.Skip(t, "migrations before PostgreSQL's baseline (0026)")
	ctx := context.Background()
	path := tempDBPath(t)
	old := openStore(t, path)
	old.migrations = old.migrations[:1]
	if applied, err := old.Migrate(ctx); err != nil || !slices.Equal(applied, []int{1}) {
		t.Fatalf("Migrate to 0001 = %v, %v", applied, err)
	}
	o := Order{ServerID: 3, CloreOrderID: ptr(int64(30)), State: OrderRunning}
	_, err := old.write.ExecContext(ctx, `INSERT INTO orders (clore_order_id, server_id, state,
		created_at, updated_at) VALUES (30, 3, 'running', ?, ?)`, formatTime(epoch), formatTime(epoch))
	if err != nil {
		t.Fatalf("insert a 0001 order: %v", err)
	}
	if err := old.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s, _ := newStoreAt(t, path)
	if v, err := s.SchemaVersion(ctx); err != nil || v != s.latestVersion() {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, s.latestVersion())
	}
	got, err := s.GetOrderByCloreID(ctx, 30)
	if err != nil || got.ServerID != o.ServerID || got.State != o.State {
		t.Fatalf("0001 order after 0002 = %+v, %v", got, err)
	}
	job := createJob(t, s, newJob("after-upgrade"))
	job = claimJob(t, s, job.ID, "w", epoch)
	got.State = OrderCancelled
	u := &commands.JobUpdate{Job: job, Order: &got, Events: []commands.Event{{Type: "order.cancelled", JobID: job.ID}}}
	if err := s.SaveJob(ctx, "w", u); err != nil {
		t.Fatalf("SaveJob on an upgraded database: %v", err)
	}
	if _, err := s.CreateWatch(ctx, &commands.Watch{Owner: "x", State: commands.WatchActive}, 0); err != nil {
		t.Fatalf("CreateWatch on an upgraded database: %v", err)
	}
}

// Every index of the jobs table is used by a query; the one no query read
// (requester and creation time over every kind) is dropped.
func TestJobsIndexes(t *testing.T) {
	storagetest.Skip(t, "sqlite_schema")
	s, _ := newStore(t)
	rows, err := s.read.QueryContext(context.Background(),
		`SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'jobs' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	want := []string{"jobs_awaiting_idx", "jobs_in_flight_idx", "jobs_open_other_idx", "jobs_rent_created_idx", "jobs_rent_order_idx",
		"jobs_reply_expiring_idx"} // WipeReplyTargets (0022)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("jobs indexes = %v, want %v", got, want)
	}
}
