package tcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/gorilla/mux"
	"github.com/rs/zerolog"
)

// shutdownTimeout bounds how long Close waits for API requests in flight.
const shutdownTimeout = 5 * time.Second

// Server is a Toxiproxy API server running in this process, on a listener
// it owns, so its address is known and Close is clean (toxiproxy's own
// ApiServer.Listen picks neither and exits the process on error).
type Server struct {
	api    *toxiproxy.ApiServer
	ln     net.Listener
	srv    *http.Server
	served chan error // Serve's result
	stop   func() bool

	once sync.Once
	err  error
}

// StartServer starts a Toxiproxy API server on addr ("" means
// 127.0.0.1:0, a free loopback port). The API has no authentication and
// creates proxies to anywhere: keep it on loopback. The server runs until
// Close or until ctx ends.
func StartServer(ctx context.Context, addr string) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("toxiproxy server: %w", err)
	}
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	s := &Server{
		api:    api,
		ln:     ln,
		srv:    &http.Server{Handler: router(api), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second},
		served: make(chan error, 1),
	}
	go func() { s.served <- s.srv.Serve(ln) }()
	s.stop = context.AfterFunc(ctx, func() { _ = s.shutdown() })
	return s, nil
}

// router routes the API like toxiproxy's ApiServer.Listen (v2.5.0) does,
// minus its access log, browser check and /metrics.
func router(api *toxiproxy.ApiServer) http.Handler {
	r := mux.NewRouter()
	for _, rt := range []struct {
		method, path string
		h            http.HandlerFunc
	}{
		{http.MethodPost, "/reset", api.ResetState},
		{http.MethodGet, "/proxies", api.ProxyIndex},
		{http.MethodPost, "/proxies", api.ProxyCreate},
		{http.MethodPost, "/populate", api.Populate},
		{http.MethodGet, "/proxies/{proxy}", api.ProxyShow},
		{http.MethodPost, "/proxies/{proxy}", api.ProxyUpdate},
		{http.MethodDelete, "/proxies/{proxy}", api.ProxyDelete},
		{http.MethodGet, "/proxies/{proxy}/toxics", api.ToxicIndex},
		{http.MethodPost, "/proxies/{proxy}/toxics", api.ToxicCreate},
		{http.MethodGet, "/proxies/{proxy}/toxics/{toxic}", api.ToxicShow},
		{http.MethodPost, "/proxies/{proxy}/toxics/{toxic}", api.ToxicUpdate},
		{http.MethodDelete, "/proxies/{proxy}/toxics/{toxic}", api.ToxicDelete},
		{http.MethodGet, "/version", api.Version},
	} {
		r.HandleFunc(rt.path, rt.h).Methods(rt.method)
	}
	return r
}

// URL is the API base URL, e.g. http://127.0.0.1:41234.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the API server and every proxy it runs: their listeners are
// closed and every proxied connection is cut. It is safe to call more than
// once. Toxiproxy ends its per-connection goroutines as those connections'
// reads fail, right after; v2.5.0 offers nothing to wait on for them.
func (s *Server) Close() error {
	s.stop()
	return s.shutdown()
}

func (s *Server) shutdown() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		var errs []error
		if err := s.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("toxiproxy server shutdown: %w", err), s.srv.Close())
		}
		if err := <-s.served; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("toxiproxy server: %w", err))
		}
		// Clear stops each proxy: it waits for its accept loop to end and
		// closes its connections. It always returns nil in v2.5.0.
		errs = append(errs, s.api.Collection.Clear())
		s.err = errors.Join(errs...)
	})
	return s.err
}
