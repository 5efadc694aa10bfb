package drill

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"firedrill/drill/bundle"
	"firedrill/search"
	"firedrill/telemetry"
)

// Env is where the stack's pieces live: empty fields are embedded (started
// by the harness), set ones are the user's real services.
type Env struct {
	// Name labels the run id's env part: "embedded" or the env file's name.
	Name string
	// DBURL is the outbox database (FIREDRILL_DB_URL); empty: a SQLite file
	// in the run directory.
	DBURL string
	// SearchURL is the engine (FIREDRILL_SEARCH_URL); empty: a searchd node.
	SearchURL string
	// OTLPEndpoint is a collector for the projectors' spans
	// (FIREDRILL_OTLP_ENDPOINT); empty: the harness's own receiver.
	OTLPEndpoint string
	// JaegerQueryURL is where the run's spans are read back from when
	// OTLPEndpoint is a Jaeger (FIREDRILL_JAEGER_QUERY_URL).
	JaegerQueryURL string
	// Credentials of a real engine (FIREDRILL_SEARCH_USERNAME,
	// FIREDRILL_SEARCH_PASSWORD, FIREDRILL_SEARCH_API_KEY,
	// FIREDRILL_SEARCH_CA_FILE). Secrets are never printed or stored.
	SearchUsername, SearchPassword, SearchAPIKey, SearchCAFile string
}

// searchConfig is a client configuration for the engine at url.
func (e Env) searchConfig(url string) search.Config {
	return search.Config{URL: url, Username: e.SearchUsername, Password: e.SearchPassword, APIKey: e.SearchAPIKey,
		CAFile: e.SearchCAFile, Timeout: 30 * time.Second}
}

// childEnv hands the engine's credentials to a projector through its
// environment (never its command line, which ps shows).
func (e Env) childEnv() []string {
	var out []string
	for k, v := range map[string]string{"FIREDRILL_SEARCH_USERNAME": e.SearchUsername, "FIREDRILL_SEARCH_PASSWORD": e.SearchPassword,
		"FIREDRILL_SEARCH_API_KEY": e.SearchAPIKey} {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// Embedded reports whether the harness starts the engine itself.
func (e Env) Embedded() bool { return e.SearchURL == "" }

// stack is what one run started.
type stack struct {
	b          bundle.Bundle
	bin        string
	children   []*child
	dbURL      string
	engineURL  string // the engine itself
	proxyURL   string // the fault proxy in front of it: what projectors use
	adminURL   string // the proxy's admin API
	projectors []*projectorProc
}

type projectorProc struct {
	c       *child
	metrics string // host:port of /metrics
	worker  string
}

const readyTimeout = 30 * time.Second

func (s *stack) start(ctx context.Context, name string, argv, env []string) (*child, error) {
	c, err := startChild(ctx, name, argv, env, s.b.Path(bundle.LogsDir, name+".ndjson"))
	if err != nil {
		return nil, err
	}
	s.children = append(s.children, c)
	return c, nil
}

// startEngine starts searchd (embedded) and the fault proxy in front of the engine.
func (s *stack) startEngine(ctx context.Context, env Env) error {
	s.engineURL = env.SearchURL
	if env.Embedded() {
		addr := s.b.Path("searchd.addr")
		c, err := s.start(ctx, "searchd", []string{s.bin, "searchd", "--data", s.b.Path("searchd"), "--addr", "127.0.0.1:0", "--addr-file", addr}, nil)
		if err != nil {
			return err
		}
		a, err := waitFile(ctx, c, addr)
		if err != nil {
			return err
		}
		s.engineURL = "http://" + a
	}
	paddr, aaddr := s.b.Path("proxy.addr"), s.b.Path("proxy-admin.addr")
	// The upstream goes through the environment: a URL may carry user:pass,
	// and ps shows command lines.
	argv := []string{s.bin, "fault", "proxy", "--addr-file", paddr,
		"--admin-addr-file", aaddr, "--forward-log", s.b.Path(bundle.LogsDir, ForwardLogFile)}
	penv := []string{"FIREDRILL_SEARCH_URL=" + s.engineURL}
	if env.SearchCAFile != "" {
		penv = append(penv, "FIREDRILL_SEARCH_CA_FILE="+env.SearchCAFile)
	}
	c, err := s.start(ctx, "fault-proxy", argv, penv)
	if err != nil {
		return err
	}
	p, err := waitFile(ctx, c, paddr)
	if err != nil {
		return err
	}
	a, err := waitFile(ctx, c, aaddr)
	if err != nil {
		return err
	}
	s.proxyURL, s.adminURL = "http://"+p, "http://"+a
	if env.Embedded() {
		return waitHTTP(ctx, s.engineURL+"/", readyTimeout)
	}
	return nil
}

// startProjectors starts n projectors wired through the environment
// (DESIGN.md "drilling a user's own worker"): FIREDRILL_DB_URL,
// FIREDRILL_SEARCH_URL (the fault proxy), FIREDRILL_INDEX (the run's
// index), FIREDRILL_WORKER_ID, FIREDRILL_METRICS_ADDR, FIREDRILL_RUN_ID,
// OTEL_EXPORTER_OTLP_ENDPOINT. Our own projector also gets
// --addr-file (no port is picked in advance); another command gets a free
// port picked for it.
func (s *stack) startProjectors(ctx context.Context, sc scenarioStack, e Env, otlp, index, runID string) error {
	for i := range sc.count {
		name := fmt.Sprintf("projector-%d", i)
		worker := runID + "-" + strconv.Itoa(i)
		addrFile := s.b.Path(name + ".addr")
		metricsAddr := "127.0.0.1:0"
		argv := sc.command
		if len(argv) == 0 {
			argv = []string{s.bin, "projector", "--addr-file", addrFile, "--poll-interval", "20ms"}
		} else {
			a, err := freePort(ctx)
			if err != nil {
				return err
			}
			metricsAddr = a
		}
		argv = append(append(append([]string{}, argv...), sc.args...), sc.extra...)
		env := []string{"FIREDRILL_DB_URL=" + s.dbURL, "FIREDRILL_SEARCH_URL=" + s.proxyURL, "FIREDRILL_METRICS_ADDR=" + metricsAddr,
			"FIREDRILL_RUN_ID=" + runID, "FIREDRILL_INDEX=" + index, "FIREDRILL_WORKER_ID=" + worker, "OTEL_EXPORTER_OTLP_ENDPOINT=" + otlp}
		env = append(env, e.childEnv()...)
		c, err := s.start(ctx, name, argv, env)
		if err != nil {
			return err
		}
		a := metricsAddr
		if len(sc.command) == 0 {
			if a, err = waitFile(ctx, c, addrFile); err != nil {
				return err
			}
		}
		if err := waitHTTP(ctx, "http://"+a+"/readyz", readyTimeout); err != nil {
			_ = c.stop(time.Second)
			return fmt.Errorf("%s: %w (its log: %s)", name, err, c.log.Name())
		}
		s.projectors = append(s.projectors, &projectorProc{c: c, metrics: a, worker: worker})
	}
	return nil
}

// freePort picks a free loopback port for a command that cannot report the
// one it bound.
func freePort(ctx context.Context) (string, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}

type scenarioStack struct {
	count   int
	command []string
	args    []string
	extra   []string // FIREDRILL_PROJECTOR_ARGS
}

// waitHTTP polls url until it answers 2xx.
func waitHTTP(ctx context.Context, url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	hc := &http.Client{Timeout: 2 * time.Second}
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %s", telemetry.RedactURL(url), d, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// projectorChildren are the projector processes, in start order.
func (s *stack) projectorChildren() []*child {
	out := make([]*child, 0, len(s.projectors))
	for _, p := range s.projectors {
		out = append(out, p.c)
	}
	return out
}
