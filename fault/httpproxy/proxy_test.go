package httpproxy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"firedrill/fault"
	"firedrill/fault/faulttest"
	"firedrill/fault/httpproxy"
	"firedrill/search"
	"firedrill/search/searchtest"
)

// engines are the real engines the proxy is tested in front of.
var engines = []struct {
	name string
	url  func(testing.TB) string
}{{"searchd", searchtest.Searchd}, {"opensearch", searchtest.OpenSearchURL}}

type rig struct {
	t      *testing.T
	proxy  *httpproxy.Proxy
	reg    *prometheus.Registry
	engine *search.Client // direct
	via    *search.Client // through the proxy
	index  string
	flog   string
}

func newRig(t *testing.T, upstream string) *rig {
	t.Helper()
	reg := prometheus.NewRegistry()
	flog := filepath.Join(t.TempDir(), "forward.ndjson")
	p, err := httpproxy.New(httpproxy.Config{Upstream: upstream, Metrics: fault.NewMetrics(reg), ForwardLog: flog})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Listen(context.Background(), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close proxy: %v", err)
		}
	})
	r := &rig{t: t, proxy: p, reg: reg, flog: flog,
		engine: client(t, upstream), via: client(t, p.URL()),
		index: fmt.Sprintf("proxy-%d", time.Now().UnixNano())}
	if err := r.engine.CreateIndex(context.Background(), r.index, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.engine.DeleteIndex(context.Background(), r.index) })
	return r
}

func client(t *testing.T, u string) *search.Client {
	c, err := search.New(search.Config{URL: u, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func recipe(t *testing.T, vars map[string]string) fault.Recipe {
	t.Helper()
	if _, ok := vars[fault.VarDuration]; !ok {
		vars[fault.VarDuration] = "60"
	}
	r, err := fault.Resolve(fault.Layer{Source: fault.SourceFlag, Vars: vars})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) activate(spec httpproxy.Spec) {
	r.t.Helper()
	if _, err := r.proxy.Activate(spec); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(r.proxy.Deactivate)
}

func items(index string, from, n int) []search.BulkItem {
	out := make([]search.BulkItem, n)
	for i := range out {
		id := fmt.Sprintf("d%03d", from+i)
		out[i] = search.BulkItem{Op: "index", Index: index, ID: id, Version: 1, VersionType: "external", Doc: map[string]any{"title": id}}
	}
	return out
}

func (r *rig) injected(k fault.Kind) float64 { return faulttest.Injected(r.t, r.reg, k) }

func TestTransparentWithoutFault(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			r := newRig(t, e.url(t))
			ctx := context.Background()
			res, err := r.via.Bulk(ctx, items(r.index, 0, 5), "true")
			if err != nil || res.Errors {
				t.Fatalf("bulk through the proxy: %+v, %v", res, err)
			}
			if n, err := r.engine.Count(ctx, r.index); err != nil || n != 5 {
				t.Fatalf("engine count: %d, %v; want 5", n, err)
			}
			d, err := r.via.Get(ctx, r.index, "d003")
			if err != nil || !d.Found {
				t.Fatalf("get through the proxy: %+v, %v", d, err)
			}
			if _, err := r.via.Get(ctx, r.index+"-missing", "x"); !errors.Is(err, search.ErrIndexNotFound) {
				t.Fatalf("missing index through the proxy: %v, want ErrIndexNotFound", err)
			}
			if got := forwarded(t, r.flog); len(got) != 5 || got[0].ID != "d000" || got[0].Status != 201 || !got[0].Forwarded {
				t.Fatalf("forward log: %+v, want 5 forwarded items answered 201", got)
			}
		})
	}
}

func forwarded(t *testing.T, path string) []httpproxy.ForwardedItem {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []httpproxy.ForwardedItem
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var it httpproxy.ForwardedItem
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			t.Fatalf("forward log line %q: %v", line, err)
		}
		out = append(out, it)
	}
	return out
}

// TestEveryNth429: with FAULT_EVERY_N=3 on _bulk, exactly requests 3, 6, 9
// get an Elasticsearch 429 with Retry-After; the others are written.
func TestEveryNth429(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			r := newRig(t, e.url(t))
			r.activate(httpproxy.Spec{Kind: fault.KindHTTP429, Recipe: recipe(t, map[string]string{
				fault.VarEveryN: "3", fault.VarMatch: "path=_bulk"})})
			ctx := context.Background()
			var got []string
			for i := range 9 {
				_, err := r.via.Bulk(ctx, items(r.index, i, 1), "")
				var se *search.Error
				switch {
				case err == nil:
					got = append(got, "ok")
				case errors.As(err, &se) && se.Status == 429:
					if se.Type != "es_rejected_execution_exception" || se.RetryAfter != time.Second {
						t.Errorf("429: type %q retry-after %v, want es_rejected_execution_exception and 1s", se.Type, se.RetryAfter)
					}
					got = append(got, "429")
				default:
					t.Fatalf("bulk %d: %v", i, err)
				}
			}
			if want := "ok ok 429 ok ok 429 ok ok 429"; strings.Join(got, " ") != want {
				t.Fatalf("answers: got %v, want %s", got, want)
			}
			if _, err := r.via.Get(ctx, r.index, "d000"); err != nil {
				t.Fatalf("a GET is not matched by path=_bulk: %v", err)
			}
			if got := r.injected(fault.KindHTTP429); got != 3 {
				t.Errorf("firedrill_fault_injected_total{fault=http_429}: got %v, want 3", got)
			}
			st := r.proxy.Status()
			if st.Active == nil || st.Active.Matched != 9 || st.Active.Injected != 3 {
				t.Errorf("status: %+v, want matched 9 injected 3", st.Active)
			}
			for _, id := range []string{"d002", "d005", "d008"} {
				if d, _ := r.engine.Get(ctx, r.index, id); d.Found {
					t.Errorf("%s was answered 429 but written", id)
				}
			}
		})
	}
}

// TestBulkPartialFailuresAreNotWritten: chosen items are cut out before
// forwarding; their 429 and 400 results come back in their positions and
// the rest is written.
func TestBulkPartialFailuresAreNotWritten(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			r := newRig(t, e.url(t))
			r.activate(httpproxy.Spec{Kind: fault.KindBulkItemMixed, Recipe: recipe(t, map[string]string{fault.VarEveryN: "2"})})
			ctx := context.Background()
			res, err := r.via.Bulk(ctx, items(r.index, 0, 10), "true")
			if err != nil {
				t.Fatal(err)
			}
			if !res.Errors || len(res.Items) != 10 {
				t.Fatalf("answer: errors %v, %d items; want errors and 10 items", res.Errors, len(res.Items))
			}
			for i, it := range res.Items {
				want, typ := 201, ""
				switch i {
				case 1, 5, 9:
					want, typ = 429, "es_rejected_execution_exception"
				case 3, 7:
					want, typ = 400, "mapper_parsing_exception"
				}
				if it.ID != fmt.Sprintf("d%03d", i) || it.Status != want || it.ErrorType != typ {
					t.Errorf("item %d: got %s status %d %q, want d%03d %d %q", i, it.ID, it.Status, it.ErrorType, i, want, typ)
				}
				d, err := r.engine.Get(ctx, r.index, it.ID)
				if err != nil {
					t.Fatal(err)
				}
				if d.Found != (want == 201) {
					t.Errorf("item %d (%s): in the engine %v, want %v", i, it.ID, d.Found, want == 201)
				}
			}
			if got := r.injected(fault.KindBulkItemMixed); got != 5 {
				t.Errorf("injected: got %v, want 5", got)
			}
			log := forwarded(t, r.flog)
			notFwd := 0
			for _, it := range log {
				if !it.Forwarded {
					notFwd++
				}
			}
			if len(log) != 10 || notFwd != 5 {
				t.Errorf("forward log: %d lines, %d not forwarded; want 10 and 5", len(log), notFwd)
			}
			// A bulk whose every item is chosen never reaches the engine.
			r.proxy.Deactivate()
			r.activate(httpproxy.Spec{Kind: fault.KindBulkItem400, Recipe: recipe(t, map[string]string{})})
			res, err = r.via.Bulk(ctx, items(r.index, 100, 3), "true")
			if err != nil || len(res.Items) != 3 || res.Items[2].Status != 400 {
				t.Fatalf("all items failed: %+v, %v", res, err)
			}
			if d, _ := r.engine.Get(ctx, r.index, "d100"); d.Found {
				t.Error("an item failed on purpose was written")
			}
		})
	}
}

// TestMatchByOp: a request-level fault narrowed to deletes leaves bulks
// without a delete alone.
func TestMatchByOp(t *testing.T) {
	r := newRig(t, searchtest.Searchd(t))
	r.activate(httpproxy.Spec{Kind: fault.KindHTTP5xx, Status: 503, Recipe: recipe(t, map[string]string{fault.VarMatch: "path=_bulk;op=delete"})})
	ctx := context.Background()
	if _, err := r.via.Bulk(ctx, items(r.index, 0, 2), ""); err != nil {
		t.Fatalf("bulk without a delete: %v", err)
	}
	del := []search.BulkItem{{Op: "delete", Index: r.index, ID: "d000", Version: 2, VersionType: "external"}}
	_, err := r.via.Bulk(ctx, del, "")
	var se *search.Error
	if !errors.As(err, &se) || se.Status != 503 {
		t.Fatalf("bulk with a delete: %v, want 503", err)
	}
}

// TestAckLost: the write applies but the client never gets the answer.
func TestAckLost(t *testing.T) {
	for _, mode := range []string{"drop", "502"} {
		t.Run(mode, func(t *testing.T) {
			r := newRig(t, searchtest.Searchd(t))
			r.activate(httpproxy.Spec{Kind: fault.KindAckLost, AckLost: mode, Recipe: recipe(t, map[string]string{fault.VarMatch: "path=_bulk"})})
			ctx := context.Background()
			_, err := r.via.Bulk(ctx, items(r.index, 0, 1), "")
			var se *search.Error
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a search error", err)
			}
			if mode == "drop" && se.Kind != search.KindConnect {
				t.Errorf("drop: error kind %v (%v), want a connection error", se.Kind, err)
			}
			if mode == "502" && se.Status != 502 {
				t.Errorf("502: status %d, want 502", se.Status)
			}
			if d, err := r.engine.Get(ctx, r.index, "d000"); err != nil || !d.Found {
				t.Fatalf("the write did not apply: %+v, %v", d, err)
			}
			if log := forwarded(t, r.flog); len(log) != 1 || log[0].Fault != "ack_lost" || log[0].Status != 201 {
				t.Errorf("forward log: %+v, want one item forwarded, answered 201, answer lost", log)
			}
		})
	}
}

func TestResetLatencyAndExpiry(t *testing.T) {
	r := newRig(t, searchtest.Searchd(t))
	ctx := context.Background()
	r.activate(httpproxy.Spec{Kind: fault.KindHTTPReset, Recipe: recipe(t, map[string]string{})})
	_, err := r.via.Bulk(ctx, items(r.index, 0, 1), "")
	var se *search.Error
	if !errors.As(err, &se) || se.Kind != search.KindConnect {
		t.Fatalf("reset: got %v, want a connection error", err)
	}
	r.proxy.Deactivate()

	r.activate(httpproxy.Spec{Kind: fault.KindHTTPLatency, Latency: httpproxy.Duration(300 * time.Millisecond),
		Recipe: recipe(t, map[string]string{fault.VarDuration: "0.8"})})
	start := time.Now()
	if _, err := r.via.Bulk(ctx, items(r.index, 0, 1), ""); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("latency: the request took %v, want ≥ 300ms", d)
	}
	// The window of 0.8s ends by itself.
	deadline := time.Now().Add(10 * time.Second)
	for r.proxy.Status().Active != nil {
		if time.Now().After(deadline) {
			t.Fatal("the fault did not expire")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if h := r.proxy.Status().History; len(h) != 2 || h[1].Injected != 1 {
		t.Errorf("history: %+v, want 2 ended windows, the last with 1 injection", h)
	}
}

func TestRefuseConnections(t *testing.T) {
	r := newRig(t, searchtest.Searchd(t))
	addr := r.proxy.Addr()
	r.activate(httpproxy.Spec{Kind: fault.KindHTTPRefuse, Recipe: recipe(t, map[string]string{fault.VarDuration: "0.5"})})
	_, err := net.DialTimeout("tcp", addr, time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial during the window: %v, want connection refused", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after the window: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := r.via.Bulk(context.Background(), items(r.index, 0, 1), ""); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestUpstreamDownIsAConnectionError: a stopped engine behind the proxy looks
// to the client like a stopped engine (connection error), not a 502.
func TestUpstreamDownIsAConnectionError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	_ = ln.Close()
	p, err := httpproxy.New(httpproxy.Config{Upstream: dead})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Listen(context.Background(), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = client(t, p.URL()).Bulk(context.Background(), items("x", 0, 1), "")
	var se *search.Error
	if !errors.As(err, &se) || se.Kind != search.KindConnect {
		t.Fatalf("got %v, want a connection error", err)
	}
}

// TestAuthAndTLSPassThrough: credentials reach an https upstream unchanged.
func TestAuthAndTLSPassThrough(t *testing.T) {
	var gotAuth string
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"count":7}`)
	}))
	defer up.Close()
	p, err := httpproxy.New(httpproxy.Config{Upstream: up.URL, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Listen(context.Background(), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := search.New(search.Config{URL: p.URL(), Username: "elastic", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.Count(context.Background(), "idx")
	if err != nil || n != 7 {
		t.Fatalf("count through the proxy: %d, %v", n, err)
	}
	if gotAuth != "Basic ZWxhc3RpYzpzM2NyZXQ=" {
		t.Fatalf("upstream saw Authorization %q, want the client's basic auth", gotAuth)
	}
}

func TestAdminAPI(t *testing.T) {
	r := newRig(t, searchtest.Searchd(t))
	reg := prometheus.NewRegistry()
	admin := httptest.NewServer(r.proxy.AdminHandler(reg))
	defer admin.Close()
	c := httpproxy.Client{Admin: admin.URL}
	ctx := context.Background()
	for _, tc := range []struct {
		spec httpproxy.Spec
		want string
	}{
		{httpproxy.Spec{Kind: "db_lock", Recipe: recipe(t, map[string]string{})}, `kind "db_lock" is not an HTTP proxy fault`},
		{httpproxy.Spec{Kind: fault.KindHTTP5xx, Status: 404, Recipe: recipe(t, map[string]string{})}, "status 404: http_5xx answers a status from 500 to 599"},
		{httpproxy.Spec{Kind: fault.KindHTTPLatency, Recipe: recipe(t, map[string]string{})}, "latency is required"},
		{httpproxy.Spec{Kind: fault.KindAckLost, AckLost: "maybe", Recipe: recipe(t, map[string]string{})}, `ack_lost "maybe"`},
		{httpproxy.Spec{Kind: fault.KindHTTP429}, "FAULT_DURATION_S is required"},
	} {
		_, err := c.Start(ctx, tc.spec)
		if !errors.Is(err, fault.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("start %s: got %v, want ErrInvalid naming %q", tc.spec.Kind, err, tc.want)
		}
	}
	inj := &httpproxy.Injector{Client: c, Spec: httpproxy.Spec{Kind: fault.KindHTTP429, Recipe: recipe(t, map[string]string{})}}
	revert, err := inj.Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(ctx, inj.Spec); !errors.Is(err, httpproxy.ErrActive) {
		t.Errorf("second start: %v, want ErrActive", err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.Active == nil || st.Active.Spec.Kind != fault.KindHTTP429 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	if err := revert(ctx); err != nil {
		t.Fatal(err)
	}
	if err := revert(ctx); err != nil {
		t.Fatalf("second revert: %v", err)
	}
	if st, _ := c.Status(ctx); st.Active != nil {
		t.Fatalf("after revert: still active %+v", st.Active)
	}
}

// TestPinnedUpstreamConnectionIsRenewed: the engine closing an idle
// connection between two requests costs the client nothing; a request body
// is sent again on the new connection.
func TestPinnedUpstreamConnectionIsRenewed(t *testing.T) {
	var bodies []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, r.Method+" "+r.URL.RequestURI()+" "+string(b))
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"count":1}`)
	}))
	defer up.Close()
	p, err := httpproxy.New(httpproxy.Config{Upstream: up.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Listen(context.Background(), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	hc := &http.Client{}
	send := func(body string) int {
		req, _ := http.NewRequest(http.MethodPost, p.URL()+"/idx/_count?q=a%20b", strings.NewReader(body))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if got := send(`{"a":1}`); got != http.StatusOK {
		t.Fatalf("first: %d", got)
	}
	up.CloseClientConnections() // the engine drops the proxy's idle connection
	if got := send(`{"b":2}`); got != http.StatusOK {
		t.Fatalf("after the engine closed the connection: %d, want 200", got)
	}
	want := []string{`POST /idx/_count?q=a%20b {"a":1}`, `POST /idx/_count?q=a%20b {"b":2}`}
	if strings.Join(bodies, "|") != strings.Join(want, "|") {
		t.Fatalf("upstream saw %q, want %q", bodies, want)
	}
}
