package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Check is one readiness probe, such as "storage". Probe returns nil when
// the part is ready, an error wrapping ErrDegraded when it serves in a
// reduced way, any other error when it cannot serve.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
	// Note, when set, is what /readyz shows for a check that passes
	// instead of "ok" (the leader check: "leader" or "follower").
	Note func() string
}

// ErrDegraded, wrapped by a Probe's error, reports a part that still serves
// but not as it should (answering from its last data while its source
// fails, such as the marketplace during a Clore outage): /readyz stays 200
// and its body says "degraded".
var ErrDegraded = errors.New("degraded")

// Options configures the listener. Zero timeouts get safe defaults: no server
// timeout is ever left unset.
type Options struct {
	Addr              string
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	Checks            []Check
	Metrics           http.Handler
	// Middleware, if set, wraps every request after routing is known (the
	// request's Pattern is set once it returns): metrics use it.
	Middleware func(http.Handler) http.Handler
	Logger     *slog.Logger
}

// Server is the process's HTTP listener.
type Server struct {
	mux    *http.ServeMux
	routes []string // every pattern mounted, in order
	srv    *http.Server
	ln     net.Listener
	checks []Check
	log    *slog.Logger
}

// New builds the server and its routes; Listen binds it.
func New(o Options) *Server {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ReadHeaderTimeout, 5*time.Second)
	def(&o.ReadTimeout, 15*time.Second)
	def(&o.WriteTimeout, 30*time.Second)
	def(&o.IdleTimeout, 60*time.Second)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{mux: http.NewServeMux(), checks: o.Checks, log: o.Logger}
	s.Handle("GET /healthz", http.HandlerFunc(s.health))
	s.Handle("GET /health", http.HandlerFunc(s.health))
	s.Handle("GET /readyz", http.HandlerFunc(s.ready))
	if o.Metrics != nil {
		s.Handle("GET /metrics", o.Metrics)
	}
	s.mux.HandleFunc("/", s.noRoute) // not a route: what no route takes (metrics label it "unmatched")
	var handler http.Handler = s.mux
	if o.Middleware != nil {
		handler = o.Middleware(handler)
	}
	s.srv = &http.Server{
		Addr:              o.Addr,
		Handler:           handler,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	return s
}

// Handler is the server's router, for tests and for mounting more routes.
func (s *Server) Handler() http.Handler { return s.mux }

// Handle adds a route (a Go 1.22 ServeMux pattern such as "POST /webhook/command").
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	s.routes = append(s.routes, pattern)
}

// Routes returns the pattern of every route mounted so far, for metrics
// that show each route before its first request.
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

// Listen binds the address and returns it (useful with ":0").
func (s *Server) Listen() (net.Addr, error) {
	ln, err := net.Listen("tcp", s.srv.Addr)
	if err != nil {
		return nil, fmt.Errorf("httpserver: listen on %s: %w", s.srv.Addr, err)
	}
	s.ln = ln
	return ln.Addr(), nil
}

// Serve answers requests until Shutdown; it returns nil after a clean shutdown.
func (s *Server) Serve() error {
	if s.ln == nil {
		return errors.New("httpserver: Serve before Listen")
	}
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("httpserver: serve: %w", err)
	}
	return nil
}

// Shutdown stops intake and waits for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("httpserver: shutdown: %w", err)
	}
	return nil
}

// noRoute answers what no pattern matched: 405 with Allow when the path exists
// for other methods, else 404, both as JSON.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method " + r.Method + " not allowed for " + r.URL.Path})
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "no route for " + r.URL.Path})
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ready runs every check with a short deadline: 503 "not ready" names the
// failing ones; 200 says "ready", or "degraded" naming the degraded ones.
// What a probe's error says stays in the log.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status, state := http.StatusOK, "ready"
	results := make(map[string]string, len(s.checks))
	for _, c := range s.checks {
		err := c.Probe(ctx)
		switch {
		case err == nil && c.Note != nil:
			results[c.Name] = c.Note()
		case err == nil:
			results[c.Name] = "ok"
		case errors.Is(err, ErrDegraded):
			s.log.LogAttrs(ctx, slog.LevelDebug, "readiness check degraded", slog.String("check", c.Name), slog.Any("error", err))
			results[c.Name] = "degraded"
			if status == http.StatusOK {
				state = "degraded"
			}
		default:
			s.log.LogAttrs(ctx, slog.LevelWarn, "readiness check failed", slog.String("check", c.Name), slog.Any("error", err))
			results[c.Name] = "failing"
			status, state = http.StatusServiceUnavailable, "not ready"
		}
	}
	writeJSON(w, status, map[string]any{"status": state, "checks": results})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
