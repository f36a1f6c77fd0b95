package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Start runs a Server on 127.0.0.1 at a free port and returns its base URL
// including /v1 (e.g. "http://127.0.0.1:41234/v1"). stop shuts the HTTP
// server down, waits for it and closes the Server; it is safe to call more
// than once. Cancelling ctx stops the server as well. The http.Server has
// every timeout set; its WriteTimeout is 30 s plus Options.Faults.Latency, so
// a larger latency set later with SetFaults may cut answers off.
func Start(ctx context.Context, opts Options) (url string, stop func() error, err error) {
	srv, err := New(opts)
	if err != nil {
		return "", nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, errors.Join(fmt.Errorf("sandbox: listen: %w", err), srv.Close())
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30*time.Second + opts.Faults.Latency,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	var conns connStates
	hs.ConnState = conns.track
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	var once sync.Once
	var stopErr error
	shutdown := func() {
		once.Do(func() {
			sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
			defer cancel()
			err := hs.Shutdown(sctx)
			if errors.Is(err, context.DeadlineExceeded) && conns.active() == 0 {
				// Only connections that never sent a request are left (an
				// HTTP client's spare dial, which net/http waits 5 s for):
				// closing them loses nothing.
				err = hs.Close()
			}
			if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
				err = errors.Join(err, serveErr)
			}
			if err != nil {
				err = fmt.Errorf("sandbox: stop: %w", err)
			}
			stopErr = errors.Join(err, srv.Close())
		})
	}
	unregister := context.AfterFunc(ctx, shutdown)
	stop = func() error {
		unregister()
		shutdown()
		return stopErr
	}
	return "http://" + ln.Addr().String() + "/v1", stop, nil
}

// stopTimeout bounds the graceful stop of Start's server.
var stopTimeout = 5 * time.Second

// connStates follows the state of the server's connections.
type connStates struct {
	mu sync.Mutex
	m  map[net.Conn]http.ConnState
}

func (c *connStates) track(conn net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[net.Conn]http.ConnState{}
	}
	if s == http.StateClosed || s == http.StateHijacked {
		delete(c.m, conn)
		return
	}
	c.m[conn] = s
}

// active is how many connections are serving a request.
func (c *connStates) active() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.m {
		if s == http.StateActive {
			n++
		}
	}
	return n
}
