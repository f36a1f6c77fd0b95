// Command rentload measures many rents of one GPU model at once against the
// sandbox with Clore's real limits (1 request/s and 1 create_order/5 s per
// key, answered 429 past them; clorebot spaces its calls 1.1 s and 5.5 s):
// how many create_order calls each order costs, how long the last order
// takes, and how many wallets and marketplace calls the rents make. It runs
// -procs command layers (each with its own storage.Store, job workers,
// limiter slots and watch tick, as separate `serve` processes on one
// database would) over one SQLite file, and hands the -rents rent requests
// to them in turn.
//
//	go run ./cmd/rentload -rents 10
//	go run ./cmd/rentload -rents 10 -procs 2
//	go run ./cmd/rentload -rents 50 -procs 2 -timeout 10m
//
// It only talks to a sandbox on 127.0.0.1 and stops after -timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rentload:", err)
		os.Exit(1)
	}
}

// counts are what one run's Clore calls came to, over every process.
type counts struct {
	creates, created, rented, otherRefusals, uncertain atomic.Int64
	wallets, marketplace, myOrders                     atomic.Int64
	mu                                                 sync.Mutex
	firstAt                                            time.Time
	orderAt                                            []time.Duration // since the first request, per order created
	ours                                               map[int64]bool  // servers an order of this run took
	refusals                                           map[string]int  // other refusals by Clore's reason
	selfRented                                         int             // server-already-rented answers on those servers
}

// counting is a process's Clore client, counted.
type counting struct {
	commands.Clore
	c *counts
}

func (k counting) Wallets(ctx context.Context) ([]clore.Wallet, error) {
	k.c.wallets.Add(1)
	return k.Clore.Wallets(ctx)
}

func (k counting) Marketplace(ctx context.Context) ([]clore.Server, error) {
	k.c.marketplace.Add(1)
	return k.Clore.Marketplace(ctx)
}

func (k counting) MyOrders(ctx context.Context, all bool) ([]clore.Order, error) {
	k.c.myOrders.Add(1)
	return k.Clore.MyOrders(ctx, all)
}

func (k counting) CreateOrder(ctx context.Context, r clore.CreateOrderRequest) error {
	c := k.c
	err := k.Clore.CreateOrder(ctx, r)
	c.creates.Add(1)
	switch {
	case err == nil:
		c.created.Add(1)
		c.mu.Lock()
		c.orderAt = append(c.orderAt, time.Since(c.firstAt))
		c.ours[r.RentingServer] = true
		c.mu.Unlock()
	case errors.Is(err, clore.ErrServerAlreadyRented):
		c.rented.Add(1)
		c.mu.Lock()
		if c.ours[r.RentingServer] {
			c.selfRented++
		}
		c.mu.Unlock()
	case clore.OutcomeUnknown(err):
		c.uncertain.Add(1)
	default:
		c.otherRefusals.Add(1)
		var ae *clore.APIError
		reason := err.Error()
		if errors.As(err, &ae) && ae.Message != "" {
			reason = ae.Message
		}
		c.mu.Lock()
		c.refusals[reason]++
		c.mu.Unlock()
	}
	return err
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("rentload", flag.ContinueOnError)
	rents := fs.Int("rents", 10, "concurrent rents of one model (at most 200)")
	procs := fs.Int("procs", 1, "command layers (as serve processes) on one database (1 to 4)")
	gpu := fs.String("gpu", "RTX 3090", "the GPU model every rent asks for")
	timeout := fs.Duration("timeout", 10*time.Minute, "stop after this long (at most 30m)")
	workers := fs.Int("workers", 4, "job workers per process (serve's default is 4)")
	verbose := fs.Bool("v", false, "log the command layers' warnings")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rents < 1 || *rents > 200 || *procs < 1 || *procs > 4 || *timeout <= 0 || *timeout > 30*time.Minute || *workers < 1 {
		return errors.New("flags out of range: -rents 1..200, -procs 1..4, -timeout up to 30m, -workers ≥ 1")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "rentload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	sb, err := sandbox.New(sandbox.Options{StatePath: filepath.Join(dir, "sandbox.db"), APIKey: "k", RateLimit: true,
		ProvisionDelay: 5 * time.Second, InitialBalances: map[string]float64{
			clore.CurrencyUSD: 1e6, clore.CurrencyCLORE: 1e9, clore.CurrencyBTC: 100}})
	if err != nil {
		return err
	}
	defer sb.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/v1"

	level := slog.LevelError
	if *verbose {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	c := &counts{ours: map[int64]bool{}, refusals: map[string]int{}}
	policy := commands.Policy{Renters: []string{"cli:load"}, DefaultHours: 1, MaxHours: 168, MinReliability: 0}
	dbPath := filepath.Join(dir, "clorebot.db")
	var svcs []*commands.Service
	var wg sync.WaitGroup
	runCtx, stopRun := context.WithCancel(ctx)
	defer func() { stopRun(); wg.Wait() }()
	for i := range *procs {
		st, err := storage.OpenAndMigrate(ctx, dbPath)
		if err != nil {
			return err
		}
		defer st.Close()
		cl := clore.New(clore.Options{BaseURL: url, APIKey: "k", Interval: 1100 * time.Millisecond,
			CreateInterval: 5500 * time.Millisecond, Slots: st, Logger: log})
		svc := commands.New(commands.Options{Store: st, Clore: counting{cl, c}, Notifier: nopNotifier{},
			Policy: policy, Logger: log, Workers: *workers, WorkerID: fmt.Sprint("proc", i), MarketTTL: 60 * time.Second})
		if err := svc.RefreshMarket(ctx); err != nil {
			return fmt.Errorf("warming process %d: %w", i, err)
		}
		if err := svc.RefreshOrders(ctx); err != nil {
			return fmt.Errorf("warming process %d: %w", i, err)
		}
		svcs = append(svcs, svc)
		wg.Go(func() { _ = svc.Run(runCtx) })
		wg.Go(func() { tickEvery(runCtx, svc, 60*time.Second) })
	}
	// What the warm-up cost is not the rents'.
	c.wallets.Store(0)
	c.marketplace.Store(0)
	c.myOrders.Store(0)

	c.firstAt = time.Now()
	jobs := make([]string, *rents)
	for i := range *rents {
		svc := svcs[i%len(svcs)]
		r := svc.Handle(ctx, commands.Request{Platform: commands.PlatformCLI, User: "cli:load", Channel: "load",
			Text: fmt.Sprintf("rent %s --hours 1", *gpu), IdempotencyKey: fmt.Sprint("load-", i)})
		if r.JobID == "" {
			return fmt.Errorf("rent %d refused: %s", i, r.Text)
		}
		jobs[i] = r.JobID
	}
	states := waitJobs(ctx, svcs[0], jobs)
	elapsed := time.Since(c.firstAt)
	stopRun()
	wg.Wait()

	c.mu.Lock()
	defer c.mu.Unlock()
	sort.Slice(c.orderAt, func(i, j int) bool { return c.orderAt[i] < c.orderAt[j] })
	last := time.Duration(0)
	if n := len(c.orderAt); n > 0 {
		last = c.orderAt[n-1]
	}
	created := c.created.Load()
	perOrder := 0.0
	if created > 0 {
		perOrder = float64(c.creates.Load()) / float64(created)
	}
	goal := time.Duration(*rents)*5500*time.Millisecond + 10*time.Second
	fmt.Fprintf(out, "rents %d of %q over %d process(es), %d workers each; ran %s (timeout %s)\n", *rents, *gpu, *procs, *workers, elapsed.Round(time.Millisecond), *timeout)
	fmt.Fprintf(out, "orders created:        %d\n", created)
	fmt.Fprintf(out, "create_order calls:    %d (server-already-rented %d, uncertain %d, other refusals %d %v)\n",
		c.creates.Load(), c.rented.Load(), c.uncertain.Load(), c.otherRefusals.Load(), c.refusals)
	fmt.Fprintf(out, "create_order per order: %.2f (goal ≤ 1.1)\n", perOrder)
	fmt.Fprintf(out, "time to the last order: %s (goal ≤ N × 5.5 s + 10 s = %s)\n", last.Round(time.Millisecond), goal)
	fmt.Fprintf(out, "wallets calls:         %d\n", c.wallets.Load())
	fmt.Fprintf(out, "marketplace calls:     %d, my_orders calls: %d\n", c.marketplace.Load(), c.myOrders.Load())
	fmt.Fprintf(out, "server-already-rented on a server this run had taken: %d\n", c.selfRented)
	fmt.Fprintf(out, "jobs by state:         %s\n", states)
	return nil
}

// tickEvery runs the watch tick as serve does, every d, until ctx ends.
func tickEvery(ctx context.Context, svc *commands.Service, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = svc.Tick(ctx)
		}
	}
}

// waitJobs polls the jobs until every one has ended (or ctx ends) and
// returns how many are in each state.
func waitJobs(ctx context.Context, svc *commands.Service, ids []string) string {
	for {
		byState := map[string]int{}
		done := 0
		for _, id := range ids {
			j, err := svc.Job(context.WithoutCancel(ctx), id)
			if err != nil {
				byState["unreadable"]++
				continue
			}
			byState[j.State]++
			if commands.Terminal(j.State) || j.State == commands.JobAwaitingConfirmation {
				done++
			}
		}
		if done == len(ids) || ctx.Err() != nil {
			var parts []string
			for s, n := range byState {
				parts = append(parts, fmt.Sprintf("%s %d", s, n))
			}
			sort.Strings(parts)
			return strings.Join(parts, ", ")
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// nopNotifier drops the progress replies.
type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, commands.Target, commands.Reply) (string, error) {
	return "", nil
}
