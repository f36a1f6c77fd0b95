// Command webhookload measures the inbound webhook listener on loopback, in
// one process and one run: the real API (bot/webhook over a temporary
// SQLite database, durable dedup and a durable job per request, the sandbox
// marketplace; jobs are not run, so nothing is rented) against a bare
// net/http handler that verifies the same Standard Webhooks signature and
// answers 202. It drives both with signed create-order requests (a fresh
// webhook-id each) and with bad-signature requests, and prints requests per
// second, p50, p99 and max latency, and the API/bare ratios. With -jobs the
// command layer's job workers run meanwhile, their Clore calls spaced as
// against real Clore (1.1 s, create_order 5.5 s), so that the queued rents
// hold the limiter as in production while requests keep arriving. With
// -requests each run sends that many requests instead of running for a
// time: the API's run then leaves that many rent jobs queued, and its max
// latency answers "does any request take over 1 s with thousands of jobs
// queued?".
//
//	go run ./cmd/webhookload -duration 20s -concurrency 8
//	go run ./cmd/webhookload -duration 20s -concurrency 8 -jobs
//	go run ./cmd/webhookload -requests 30000 -concurrency 32 -jobs
//	go run ./cmd/webhookload -duration 20s -concurrency 8 -storage-url postgres://… -instances 2
//
// With -storage-url the API stands on PostgreSQL (a database of its own,
// created in that server for the run and dropped after) instead of a
// SQLite file; with -instances 2 two API stacks (each its own Store, its
// own connection pool, command layer and listener) share that database,
// as two serve processes do (DESIGN.md §8), and the clients alternate
// between them. They run in this one OS process, on the same cores as two
// processes on one machine would.
//
// It only ever talks to 127.0.0.1 and stops after -duration (at most 60 s)
// or -requests (at most 1,000,000) per run.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/httpserver"
	"github.com/clorebot/clorebot/storage"
)

// Bounds of the flags.
const (
	maxDuration = 60 * time.Second
	maxRequests = 1_000_000
	// interleave is how many alternating slices of API and bare traffic each
	// kind of request is measured in.
	interleave     = 8
	maxConcurrency = 256
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "webhookload:", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// run parses the flags, sets both targets up, measures and reports.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("webhookload", flag.ContinueOnError)
	fs.SetOutput(stdout)
	duration := fs.Duration("duration", 5*time.Second, "total measuring time, split evenly over the four runs (at most 60s)")
	requests := fs.Int("requests", 0, fmt.Sprintf("send this many requests in each run instead of running for -duration (at most %d)", maxRequests))
	concurrency := fs.Int("concurrency", 8, fmt.Sprintf("concurrent clients in each run (1..%d)", maxConcurrency))
	out := fs.String("out", "", "also write the results as JSON to this file")
	storageURL := fs.String("storage-url", "", "run the API on PostgreSQL: a server URL (postgres://…), in which a database of the run's own is created and dropped")
	instances := fs.Int("instances", 1, "API stacks sharing the database, the clients alternating between them (1 or 2; 2 needs -storage-url)")
	jobs := fs.Bool("jobs", false, "run the job workers during the runs, with Clore's spacing (1.1s, create_order 5.5s)")
	traceOut := fs.String("trace", "", "write an execution trace of the first slice of the signed create-order run against the API to this path (that slice is then not in the CPU profiles)")
	cpuProfile := fs.String("cpuprofile", "", fmt.Sprintf("write CPU profiles of the signed create-order run against the API to this path + .0 … .%d, one per slice (read them together: go tool pprof PATH.*)", interleave-1))
	memProfile := fs.String("memprofile", "", "write a heap profile (allocations since the start) to this path at the end")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *memProfile != "" {
		runtime.MemProfileRate = 64 * 1024
	}
	switch {
	case *duration <= 0 || *duration > maxDuration:
		return fmt.Errorf("%w: -duration must be above 0 and at most 60s, got %s", errUsage, *duration)
	case *concurrency < 1 || *concurrency > maxConcurrency:
		return fmt.Errorf("%w: -concurrency must be from 1 to %d, got %d", errUsage, maxConcurrency, *concurrency)
	case *requests < 0 || *requests > maxRequests:
		return fmt.Errorf("%w: -requests must be from 1 to %d, got %d", errUsage, maxRequests, *requests)
	case *instances < 1 || *instances > 2:
		return fmt.Errorf("%w: -instances must be 1 or 2, got %d", errUsage, *instances)
	case *instances > 1 && *storageURL == "":
		return fmt.Errorf("%w: -instances 2 needs -storage-url: two stacks share a PostgreSQL database", errUsage)
	case fs.NArg() > 0:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	r, err := newRig(ctx, *jobs, *storageURL, *instances)
	if err != nil {
		return err
	}
	rep, err := r.measure(ctx, plan{d: *duration / 4, n: *requests, conc: *concurrency, profile: *cpuProfile, trace: *traceOut})
	if rep != nil {
		rep.JobsRunning = *jobs
	}
	if cerr := r.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			return err
		}
		if err := errors.Join(pprof.Lookup("allocs").WriteTo(f, 0), f.Close()); err != nil {
			return err
		}
	}
	rep.print(stdout)
	if *out != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", *out, err)
		}
	}
	return nil
}

// rig is the two targets and what the API stands on.
type rig struct {
	dir         string
	store       *storage.Store
	stores      []*storage.Store // every instance's, store first
	apis        []*httpserver.Server
	apiURLs     []string
	dropDB      func() error
	stopSandbox func() error
	stopJobs    func()
	svc         *commands.Service
	api         *httpserver.Server
	apiURL      string
	bare        *http.Server
	bareURL     string
	key         webhook.Key
	body        []byte // a create-order the sandbox can serve
}

// newRig starts the sandbox, the command layer over a temporary database
// (SQLite, or a database of its own on the PostgreSQL at pgURL), the API
// (instances of it on that database) and the bare handler, all on
// 127.0.0.1.
func newRig(ctx context.Context, runJobs bool, pgURL string, instances int) (_ *rig, err error) {
	dir, err := os.MkdirTemp("", "webhookload-")
	if err != nil {
		return nil, err
	}
	r := &rig{dir: dir}
	defer func() {
		if err != nil {
			err = errors.Join(err, r.close())
		}
	}()
	o := storage.Options{Path: filepath.Join(dir, "clorebot.db")}
	if pgURL != "" {
		if o.URL, r.dropDB, err = createDatabase(ctx, pgURL); err != nil {
			return nil, err
		}
	}
	url, stop, err := sandbox.Start(ctx, sandbox.Options{StatePath: filepath.Join(dir, "sandbox.db"), APIKey: "load", Servers: 2000})
	if err != nil {
		return nil, err
	}
	r.stopSandbox = stop
	interval, create := time.Millisecond, time.Millisecond
	if runJobs {
		interval, create = 1100*time.Millisecond, 5500*time.Millisecond
	}
	if r.key, err = webhook.ConfiguredKey("load", "whsec_"+base64.StdEncoding.EncodeToString([]byte("webhookload-secret-0123456789ab"))); err != nil {
		return nil, err
	}
	for i := range instances {
		st, err := storage.OpenConfigAndMigrate(ctx, o)
		if err != nil {
			return nil, err
		}
		r.stores = append(r.stores, st)
		client := clore.New(clore.Options{BaseURL: url, APIKey: "load", Interval: interval,
			CreateInterval: create, Slots: st})
		svc := commands.New(commands.Options{Store: st, Clore: client, MarketTTL: time.Hour,
			Policy: commands.Policy{Renters: []string{"webhook:load"}, DefaultRole: commands.RoleNone, DefaultHours: 1}})
		if err := svc.RefreshMarket(ctx); err != nil {
			return nil, err
		}
		api := webhook.NewAPI(webhook.APIOptions{Service: svc, Keys: []webhook.Key{r.key}, Dedup: st, AtomicIntake: true})
		srv := httpserver.New(httpserver.Options{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
		api.Mount(srv)
		addr, err := srv.Listen()
		if err != nil {
			return nil, err
		}
		r.apis, r.apiURLs = append(r.apis, srv), append(r.apiURLs, "http://"+addr.String())
		go srv.Serve()
		if i == 0 {
			r.store, r.svc, r.api, r.apiURL = st, svc, srv, r.apiURLs[0]
		}
		if runJobs {
			jctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
			done := make(chan struct{})
			go func() { defer close(done); svc.Run(jctx) }()
			prev := r.stopJobs
			r.stopJobs = func() {
				cancel()
				<-done
				if prev != nil {
					prev()
				}
			}
		}
	}
	if err := r.startBare(); err != nil {
		return nil, err
	}
	return r, r.pickBody(ctx)
}

// createDatabase creates a database of this run's own on the PostgreSQL
// server at serverURL and returns its URL and how to drop it.
func createDatabase(ctx context.Context, serverURL string) (string, func() error, error) {
	u, err := neturl.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("%w: -storage-url: want postgres://…", errUsage)
	}
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return "", nil, fmt.Errorf("-storage-url: %w", err)
	}
	name := fmt.Sprintf("webhookload_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, errors.Join(fmt.Errorf("-storage-url: create database: %w", err), admin.Close(ctx))
	}
	u.Path = "/" + name
	return u.String(), func() error {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := admin.Exec(dctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		return errors.Join(err, admin.Close(dctx))
	}, nil
}

// startBare serves the baseline: read the body once (capped), verify the
// Standard Webhooks signature with the same keys, answer 202.
func (r *rig) startBare() error {
	keys := []webhook.Key{r.key}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, webhook.MaxBodyBytes))
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		if _, err := webhook.Verify(req.Header, body, keys, webhook.VerifyOptions{}); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"queued"}`+"\n")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	r.bare = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
	r.bareURL = "http://" + ln.Addr().String()
	go r.bare.Serve(ln)
	return nil
}

// pickBody finds a GPU model with a free single-GPU offer, so that every
// measured create-order is accepted; it also warms the marketplace cache.
func (r *rig) pickBody(ctx context.Context) error {
	if err := r.svc.RefreshMarket(ctx); err != nil {
		return err
	}
	models, err := r.svc.Market(ctx)
	if err != nil {
		return fmt.Errorf("marketplace: %w", err)
	}
	c := newClient(1)
	for _, m := range models {
		if m.Available == 0 {
			continue
		}
		body, _ := json.Marshal(map[string]any{"gpu_type": m.Model, "hours": 1})
		status, _, err := c.send(ctx, r.apiURL+"/webhook/create-order", r.key, body, true)
		if err != nil {
			return err
		}
		if status == http.StatusAccepted {
			r.body = body
			return nil
		}
	}
	return errors.New("no GPU model of the sandbox accepts a create-order")
}

func (r *rig) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	if r.stopJobs != nil {
		r.stopJobs()
	}
	for _, api := range r.apis {
		errs = append(errs, api.Shutdown(ctx))
	}
	if r.bare != nil {
		errs = append(errs, r.bare.Shutdown(ctx))
	}
	if r.stopSandbox != nil {
		errs = append(errs, r.stopSandbox())
	}
	for _, st := range r.stores {
		errs = append(errs, st.Close())
	}
	if r.dropDB != nil {
		errs = append(errs, r.dropDB())
	}
	errs = append(errs, os.RemoveAll(r.dir))
	return errors.Join(errs...)
}

// client sends signed requests over one keep-alive pool.
type client struct{ hc *http.Client }

func newClient(conns int) client {
	return client{hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, DisableCompression: true, IdleConnTimeout: time.Minute,
	}}}
}

// send posts body signed with a fresh webhook-id; valid=false breaks the
// signature. The latency covers the round trip only, not the signing.
func (c client) send(ctx context.Context, url string, key webhook.Key, body []byte, valid bool) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header = webhook.SignedHeaders(key.Secret, webhook.NewMessageID(), time.Now(), body)
	req.Header.Set("Content-Type", "application/json")
	if !valid {
		req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start), err
}

// runResult is one target under one kind of request.
type runResult struct {
	Run      string         `json:"run"`
	Target   string         `json:"target"`
	Requests int            `json:"requests"`
	PerSec   float64        `json:"requests_per_second"`
	P50      time.Duration  `json:"p50_ns"`
	P99      time.Duration  `json:"p99_ns"`
	Max      time.Duration  `json:"max_ns"`
	Statuses map[string]int `json:"statuses"`
	Errors   int            `json:"errors"`
}

// report is the whole measurement.
type report struct {
	Concurrency     int           `json:"concurrency"`
	JobsRunning     bool          `json:"jobs_running"`
	RunDuration     time.Duration `json:"run_duration_ns"`
	Requests        int           `json:"requests_per_run,omitempty"`
	Runs            []runResult   `json:"runs"`
	SignedRatio     float64       `json:"signed_create_order_ratio_api_to_bare"`
	BadSigRatio     float64       `json:"bad_signature_ratio_api_to_bare"`
	JobsCreated     int           `json:"jobs_created"`
	AcceptedByAPI   int           `json:"accepted_by_api"`
	GOMAXPROCS      int           `json:"gomaxprocs"`
	IntakeCommits   int64         `json:"intake_commits"`
	IntakeUnits     int64         `json:"intake_units"`
	Instances       int           `json:"instances"`
	Database        string        `json:"database"` // "SQLite" or "PostgreSQL"
	SandboxGPUModel string        `json:"gpu_body"`
}

// measure runs the four runs one after the other, each for d.
// plan is how each run is driven: for d, or for n requests when n > 0, by
// conc clients; profile is the path prefix of the CPU profiles of the
// API's signed create-order run (one per slice).
type plan struct {
	d       time.Duration
	n       int
	conc    int
	profile string
	trace   string
}

func (r *rig) measure(ctx context.Context, p plan) (*report, error) {
	profile := p.profile
	rep := &report{Concurrency: p.conc, RunDuration: p.d, Requests: p.n, GOMAXPROCS: runtime.GOMAXPROCS(0), SandboxGPUModel: string(r.body)}
	if p.n > 0 {
		rep.RunDuration = 0
	}
	// Each kind of request drives the API and the bare handler in
	// alternating slices, so that a change of the machine's load during the
	// run (other processes on a shared machine) weighs on both alike.
	kinds := []struct {
		name  string
		valid bool
	}{{"signed create-order", true}, {"bad signature", false}}
	for i, kind := range kinds {
		var api, bare samples
		slice := plan{d: p.d / time.Duration(interleave), n: p.n / interleave, conc: p.conc}
		for k := range interleave {
			if p.n > 0 && k == interleave-1 {
				slice.n = p.n - (interleave-1)*(p.n/interleave)
			}
			stop, err := startProfile(profile, p.trace, i == 0, k)
			if err != nil {
				return nil, err
			}
			api.add(drive(ctx, r.key, paths(r.apiURLs, "/webhook/create-order"), r.body, kind.valid, slice))
			if err := stop(); err != nil {
				return nil, err
			}
			bare.add(drive(ctx, r.key, paths([]string{r.bareURL}, "/webhook/create-order"), r.body, kind.valid, slice))
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		for target, smp := range map[string]samples{"api": api, "bare": bare} {
			res := smp.result()
			res.Run, res.Target = kind.name, target
			rep.Runs = append(rep.Runs, res)
		}
		// api first, then bare
		n := len(rep.Runs)
		if rep.Runs[n-2].Target != "api" {
			rep.Runs[n-2], rep.Runs[n-1] = rep.Runs[n-1], rep.Runs[n-2]
		}
	}
	rep.SignedRatio = rep.Runs[0].PerSec / rep.Runs[1].PerSec
	rep.BadSigRatio = rep.Runs[2].PerSec / rep.Runs[3].PerSec
	rep.AcceptedByAPI = rep.Runs[0].Statuses["202"] + 1 // and the warm-up
	jobs, err := r.store.ResumableJobs(ctx, time.Now())
	if err != nil {
		return nil, err
	}
	rep.JobsCreated = len(jobs)
	for _, st := range r.stores {
		c, u := st.IntakeStats()
		rep.IntakeCommits, rep.IntakeUnits = rep.IntakeCommits+c, rep.IntakeUnits+u
	}
	rep.Instances = len(r.stores)
	rep.Database = "SQLite"
	if r.dropDB != nil {
		rep.Database = "PostgreSQL"
	}
	return rep, nil
}

// startProfile starts the CPU profile of slice k of the API's signed
// create-order run (on, and a prefix given) in prefix.k, so that the
// slices of bare traffic in between stay out of it; stop ends it. With a
// trace path, the first slice is traced (go tool trace) instead.
func startProfile(prefix, tracePath string, on bool, k int) (stop func() error, err error) {
	if tracePath != "" && on && k == 0 {
		f, err := os.Create(tracePath)
		if err != nil {
			return nil, err
		}
		if err := trace.Start(f); err != nil {
			return nil, errors.Join(err, f.Close())
		}
		return func() error { trace.Stop(); return f.Close() }, nil
	}
	if prefix == "" || !on {
		return func() error { return nil }, nil
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", prefix, k))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return func() error { pprof.StopCPUProfile(); return f.Close() }, nil
}

// samples are the raw outcome of driving one target: latencies, statuses,
// transport errors and the time spent.
type samples struct {
	lats     []time.Duration
	statuses map[string]int
	errs     int
	elapsed  time.Duration
}

// add merges o into s.
func (s *samples) add(o samples) {
	s.lats = append(s.lats, o.lats...)
	if s.statuses == nil {
		s.statuses = map[string]int{}
	}
	for k, v := range o.statuses {
		s.statuses[k] += v
	}
	s.errs += o.errs
	s.elapsed += o.elapsed
}

// result sums the samples up.
func (s samples) result() runResult {
	slices.Sort(s.lats)
	res := runResult{Requests: len(s.lats), Statuses: s.statuses, Errors: s.errs}
	if s.elapsed > 0 {
		res.PerSec = float64(len(s.lats)) / s.elapsed.Seconds()
	}
	if n := len(s.lats); n > 0 {
		res.P50, res.P99, res.Max = s.lats[n*50/100], s.lats[min(n-1, n*99/100)], s.lats[n-1]
	}
	return res
}

// drive keeps p.conc clients busy for p.d, or until they sent p.n
// requests, and collects latencies and statuses.
// paths is path on each base URL.
func paths(bases []string, path string) []string {
	out := make([]string, len(bases))
	for i, b := range bases {
		out[i] = b + path
	}
	return out
}

// drive sends p's requests from p.conc clients, client i to urls[i%len].
func drive(ctx context.Context, key webhook.Key, urls []string, body []byte, valid bool, p plan) samples {
	conc := p.conc
	c := newClient(conc)
	defer c.hc.CloseIdleConnections()
	var cancel context.CancelFunc
	if p.n > 0 {
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = context.WithTimeout(ctx, p.d)
	}
	defer cancel()
	var sent atomic.Int64
	more := func() bool { return ctx.Err() == nil && (p.n <= 0 || sent.Add(1) <= int64(p.n)) }
	var (
		mu  sync.Mutex
		all = samples{statuses: map[string]int{}}
		wg  sync.WaitGroup
	)
	start := time.Now()
	for i := range conc {
		url := urls[i%len(urls)]
		wg.Go(func() {
			mine := samples{statuses: map[string]int{}}
			for more() {
				status, lat, err := c.send(ctx, url, key, body, valid)
				if err != nil {
					if ctx.Err() == nil {
						mine.errs++
					}
					continue
				}
				mine.lats = append(mine.lats, lat)
				mine.statuses[fmt.Sprint(status)]++
			}
			mu.Lock()
			defer mu.Unlock()
			all.add(mine)
		})
	}
	wg.Wait()
	all.elapsed = time.Since(start)
	return all
}

func (rep *report) print(w io.Writer) {
	per := rep.RunDuration.String()
	if rep.Requests > 0 {
		per = fmt.Sprintf("%d requests", rep.Requests)
	}
	fmt.Fprintf(w, "webhookload: loopback, %d clients, %s per run, GOMAXPROCS %d\n", rep.Concurrency, per, rep.GOMAXPROCS)
	if rep.JobsRunning {
		fmt.Fprintln(w, "  job workers running meanwhile, Clore calls spaced 1.1 s / create_order 5.5 s")
	}
	fmt.Fprintf(w, "  api  = bot/webhook: verify, decode, policy, then dedup record + job + audit row + answer in one %s transaction (group commit); %d instance(s) on the database\n", rep.Database, rep.Instances)
	fmt.Fprintln(w, "  bare = net/http handler: read body, webhook.Verify, 202")
	fmt.Fprintf(w, "%-20s %-5s %10s %10s %10s %10s  %s\n", "run", "", "req/s", "p50", "p99", "max", "answers")
	for _, r := range rep.Runs {
		answers := ""
		for _, k := range slices.Sorted(maps.Keys(r.Statuses)) {
			answers += fmt.Sprintf("%s×%d ", k, r.Statuses[k])
		}
		if r.Errors > 0 {
			answers += fmt.Sprintf("errors×%d", r.Errors)
		}
		fmt.Fprintf(w, "%-20s %-5s %10.0f %10s %10s %10s  %s\n", r.Run, r.Target, r.PerSec,
			r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond), answers)
	}
	fmt.Fprintf(w, "ratio api/bare: signed create-order %.3f, bad signature %.3f\n", rep.SignedRatio, rep.BadSigRatio)
	// Requests still in flight when a run's clock ran out complete on the
	// server (a claimed delivery is always answered), so there may be up to
	// -concurrency more jobs than 202 answers counted.
	if rep.IntakeCommits > 0 {
		fmt.Fprintf(w, "group commit: %d intake units in %d transactions (%.1f per commit)\n",
			rep.IntakeUnits, rep.IntakeCommits, float64(rep.IntakeUnits)/float64(rep.IntakeCommits))
	}
	fmt.Fprintf(w, "durable: %d jobs for %d create-orders answered 202 (plus up to %d cut off in flight)\n",
		rep.JobsCreated, rep.AcceptedByAPI, rep.Concurrency)
}
