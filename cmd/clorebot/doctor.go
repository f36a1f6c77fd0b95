package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/internal/config"
	"github.com/clorebot/clorebot/storage"
)

// doctorCmd checks the deployment as configured, one line per check.
type doctorCmd struct {
	Send    bool          `help:"Also send a signed test.ping to each subscriber and a test message to each notify URL (otherwise they are only connected to)."`
	Timeout time.Duration `help:"Give up on each network check after this long." default:"5s"`
	JSON    bool          `help:"Print one JSON document (docs/schema/doctor.json) instead of lines."`
}

// Check levels, as the doors' findings name them.
const (
	levelOK      = chat.FindingOK
	levelWarning = chat.FindingWarning
	levelFailed  = chat.FindingFailed
)

// checkLine is one result: level, what was checked, what was found, and
// what to do about it (for warnings and failures).
type checkLine = chat.Finding

// doctor runs the checks and collects their lines.
type doctor struct {
	e       *env
	cfg     *config.Config
	send    bool
	timeout time.Duration
	client  *http.Client
	lines   []checkLine
	json    bool
}

func (d *doctor) add(level, name, found, fix string) {
	d.lines = append(d.lines, checkLine{Level: level, Check: name, Found: found, Fix: fix})
}

// Run prints one line per check and exits 1 when one failed. It changes
// nothing: no database is created or migrated, no order is made, and
// receivers get a message only with --send.
func (c doctorCmd) Run(e *env) error {
	d := &doctor{e: e, send: c.Send, timeout: c.Timeout, json: c.JSON, client: &http.Client{
		Timeout:       c.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	cfg, err := e.load()
	if err != nil {
		d.add(levelFailed, "config", e.configSource()+": "+strings.ReplaceAll(err.Error(), "\n", "; "),
			"fix the keys named above (clorebot config check shows the effective configuration)")
	} else {
		d.cfg = cfg
		d.add(levelOK, "config", e.configSource()+": valid", "")
		d.checkConfigFile()
		d.checkDatabase()
		d.checkClore()
		d.checkDoors()
		d.checkWebhookKeys()
		d.checkReceivers()
	}
	return d.report(e.stdout)
}

// checkDoors runs the deployment checks of every platform serve can run
// (frontDoors), in their order.
func (d *doctor) checkDoors() {
	for _, f := range frontDoors {
		if f.doctor != nil {
			f.doctor(d)
		}
	}
}

// finding adds a door's finding as a line.
func (d *doctor) finding(f chat.Finding) { d.lines = append(d.lines, f) }

// report prints the lines and a summary; it returns an exit error when a
// check failed.
func (d *doctor) report(w io.Writer) error {
	count := map[string]int{}
	for _, l := range d.lines {
		count[l.Level]++
	}
	if d.json {
		if err := writeDoctorJSON(w, d.lines, count); err != nil {
			return err
		}
	} else {
		for _, l := range d.lines {
			fmt.Fprintf(w, "%-8s %-10s %s\n", l.Level, l.Check, l.Found)
			if l.Fix != "" && l.Level != levelOK {
				fmt.Fprintf(w, "%-8s %-10s → %s\n", "", "", l.Fix)
			}
		}
		fmt.Fprintf(w, "%d ok, %d warning(s), %d failed\n", count[levelOK], count[levelWarning], count[levelFailed])
	}
	if count[levelFailed] > 0 {
		return &exitError{code: exitFailure}
	}
	return nil
}

// ctx is a context for one network check.
func (d *doctor) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(d.e.ctx, d.timeout)
}

// checkDatabase: the file exists, is writable, migrated, and private.
func (d *doctor) checkDatabase() {
	if d.cfg.Storage.URL != "" {
		d.checkPostgres()
		return
	}
	path := d.cfg.Storage.Path
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	dir := filepath.Dir(path)
	given := cmp.Or(d.cfg.Storage.Given, d.cfg.Storage.Path) // as written, before it was made relative to the file
	if filepath.Dir(given) != "." {
		// A data directory of its own (not the working directory, nor the
		// configuration file's) is private.
		d.checkMode("data dir", dir, 0o700)
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		d.add(levelWarning, "database", path+" does not exist yet", "clorebot serve (or clorebot migrate) creates it, mode 0600")
		if syscall.Access(dir, 2) != nil { // W_OK
			d.add(levelFailed, "database", dir+" is not writable by this user: the database cannot be created", "chown the directory to the user clorebot runs as")
		}
		return
	}
	if err != nil {
		d.add(levelFailed, "database", err.Error(), "check storage.path")
		return
	}
	if fi.IsDir() {
		d.add(levelFailed, "database", path+" is a directory", "point storage.path at a file")
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		d.add(levelFailed, "database", err.Error(), "chown it to the user clorebot runs as, mode 0600")
		return
	}
	f.Close()
	// Before opening: storage narrows a world-readable database as it opens it.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		d.checkMode("database", p, 0o600)
	}
	ctx, cancel := d.ctx()
	defer cancel()
	st, err := storage.Open(ctx, path)
	if err != nil {
		d.add(levelFailed, "database", "cannot open "+path+": "+err.Error(), "restore it from a backup or move it away to start afresh")
		return
	}
	defer st.Close()
	d.checkSchema(ctx, st, path)
}

// checkPostgres: storage.url's database answers and is migrated.
func (d *doctor) checkPostgres() {
	name := storageName(d.cfg)
	ctx, cancel := d.ctx()
	defer cancel()
	st, err := storage.OpenConfig(ctx, storageOptions(d.cfg))
	if err != nil {
		d.add(levelFailed, "database", "cannot open "+name+": "+err.Error(), "check storage.url, the server and the user's rights (docs/postgresql.md)")
		return
	}
	defer st.Close()
	d.checkSchema(ctx, st, name)
}

// checkSchema reports the schema version of st, the database at path.
func (d *doctor) checkSchema(ctx context.Context, st *storage.Store, path string) {
	cur, latest, err := st.SchemaStatus(ctx)
	switch {
	case err != nil:
		d.add(levelFailed, "database", "cannot read the schema version: "+err.Error(), "is it a clorebot database?")
	case cur > latest:
		d.add(levelFailed, "database", fmt.Sprintf("%s is at schema version %d, newer than this clorebot knows (%d)", path, cur, latest), "run the newer clorebot that migrated it")
	case cur < latest:
		d.add(levelWarning, "database", fmt.Sprintf("%s is at schema version %d of %d: migrations pending", path, cur, latest), "clorebot migrate (serve migrates at start)")
	default:
		d.add(levelOK, "database", fmt.Sprintf("%s writable, migrated (schema version %d)", path, cur), "")
		d.checkOrders(ctx, st)
	}
}

// checkMode warns when others than the owner may read path.
// checkConfigFile: a configuration file that holds secrets itself (not
// through CLOREBOT_*_FILE or secret_file) is readable by its owner only.
func (d *doctor) checkConfigFile() {
	path := d.e.cli.Config
	if path == "" {
		path = config.DefaultPath
	}
	fi, err := os.Stat(path)
	if err != nil {
		return // no file: the defaults and the environment
	}
	m := fi.Mode().Perm()
	if m&0o077 == 0 {
		return
	}
	keys, err := config.SecretsInFile(path)
	if err != nil || len(keys) == 0 {
		return
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	d.add(levelWarning, "config", fmt.Sprintf("%s is mode %#o: group or others may read the secrets it holds (%s)", path, m, strings.Join(keys, ", ")),
		fmt.Sprintf("chmod 600 %s, or move the secrets to CLOREBOT_<SECTION>_<KEY>_FILE files", path))
}

func (d *doctor) checkMode(name, path string, want fs.FileMode) {
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		d.add(levelWarning, name, fmt.Sprintf("%s is mode %#o: others may read it", path, m), fmt.Sprintf("chmod %#o %s", want, path))
	}
}
