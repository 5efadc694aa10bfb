package tcp_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"firedrill/fault"
	"firedrill/fault/tcp"
	"firedrill/fault/tcp/tcptest"
)

// journalWatch sits in front of a Toxiproxy API and, at each request that
// changes a proxy (disable, add a toxic), lists journal j: what was
// journaled before Toxiproxy was touched.
type journalWatch struct {
	URL  string
	mu   sync.Mutex
	seen [][]fault.Record
}

func watchJournal(t *testing.T, api string, j fault.Journal) *journalWatch {
	t.Helper()
	u, err := url.Parse(api)
	if err != nil {
		t.Fatal(err)
	}
	w := &journalWatch{}
	rp := httputil.NewSingleHostReverseProxy(u)
	tr := &http.Transport{}
	rp.Transport = tr
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/proxies/") {
			recs, err := j.List()
			if err != nil {
				t.Errorf("list journal: %v", err)
			}
			w.mu.Lock()
			w.seen = append(w.seen, recs)
			w.mu.Unlock()
		}
		rp.ServeHTTP(rw, r)
	}))
	t.Cleanup(func() { srv.Close(); tr.CloseIdleConnections() })
	w.URL = srv.URL
	return w
}

func (w *journalWatch) take() [][]fault.Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.seen
	w.seen = nil
	return s
}

// TestJournalBeforeApply proves that, with a Journal, Apply records the
// fault — kind, target, and the data Repair needs — before its request to
// Toxiproxy, and that Revert removes the record.
func TestJournalBeforeApply(t *testing.T) {
	upstream := echoServer(t)
	p := tcptest.Start(t, upstream)
	j := fault.Journal{Dir: t.TempDir()}
	w := watchJournal(t, p.API, j)
	for _, k := range tcpKinds {
		t.Run(string(k), func(t *testing.T) {
			cfg := config(p, k)
			cfg.API, cfg.Journal = w.URL, &j
			revert := apply(t, cfg)
			want := fault.Record{Kind: k, Target: "toxiproxy proxy tcptest → " + upstream,
				Data: map[string]string{"api": w.URL, "proxy": p.Name, "toxic": tcp.ToxicName(k)}}
			if k == fault.KindTCPDown {
				delete(want.Data, "toxic") // no toxic: the proxy is disabled
			}
			seen := w.take()
			if len(seen) != 1 {
				t.Fatalf("requests that changed the proxy: got %d, want 1", len(seen))
			}
			if len(seen[0]) != 1 {
				t.Fatalf("records when Toxiproxy was asked to apply: got %d, want 1", len(seen[0]))
			}
			checkRecord(t, seen[0][0], want)
			if err := revert(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			w.take() // the revert's own requests
			if recs, err := j.List(); err != nil || len(recs) != 0 {
				t.Fatalf("journal after revert: got %d records, %v; want none", len(recs), err)
			}
		})
	}
}

func checkRecord(t *testing.T, got, want fault.Record) {
	t.Helper()
	if got.Kind != want.Kind || got.Target != want.Target || len(got.Data) != len(want.Data) {
		t.Fatalf("record: got kind %s target %q data %v, want %s %q %v", got.Kind, got.Target, got.Data, want.Kind, want.Target, want.Data)
	}
	for k, v := range want.Data {
		if got.Data[k] != v {
			t.Fatalf("record data %s: got %q, want %q", k, got.Data[k], v)
		}
	}
	if got.ID == "" || got.OwnerPID == 0 || got.StartedAt.IsZero() {
		t.Fatalf("record: got id %q owner %d started %v, want them filled in", got.ID, got.OwnerPID, got.StartedAt)
	}
}

// TestRecoverRepairsStaleFaults proves journal.Recover with tcp.Repair
// undoes the faults of a process that is gone: all four kinds at once on
// one proxy, from the records alone. The dead process's Reverts then find
// nothing to do.
func TestRecoverRepairsStaleFaults(t *testing.T) {
	p := tcptest.Start(t, echoServer(t))
	j := fault.Journal{Dir: t.TempDir()}
	var reverts []fault.Revert
	for _, k := range []fault.Kind{fault.KindTCPLatency, fault.KindTCPResetPeer, fault.KindTCPTimeout, fault.KindTCPDown} {
		cfg := config(p, k)
		cfg.Journal = &j
		reverts = append(reverts, apply(t, cfg))
	}
	st := proxyState(t, p.API, p.Name)
	if st.Enabled || len(st.ActiveToxics) != 3 {
		t.Fatalf("before recovery: enabled %v, toxics %v; want disabled with 3", st.Enabled, toxicNames(st))
	}

	// The process that applied them dies.
	dead := deadPID(t)
	recs, err := j.List()
	if err != nil || len(recs) != 4 {
		t.Fatalf("journal: got %d records, %v; want 4", len(recs), err)
	}
	for _, r := range recs {
		if err := j.Remove(r.ID); err != nil {
			t.Fatal(err)
		}
		r.OwnerPID, r.OwnerStart = dead, ""
		if _, _, err := j.Add(r); err != nil {
			t.Fatal(err)
		}
	}

	repair := map[fault.Kind]fault.Repairer{}
	for _, k := range tcpKinds {
		repair[k] = tcp.Repair
	}
	done, err := j.Recover(ctxT(t), repair)
	if err != nil || len(done) != 4 {
		t.Fatalf("recover: got %d repaired, %v; want 4", len(done), err)
	}
	st = proxyState(t, p.API, p.Name)
	if !st.Enabled || len(st.ActiveToxics) != 0 {
		t.Fatalf("after recovery: enabled %v, toxics %v; want enabled with none", st.Enabled, toxicNames(st))
	}
	if err := dialEcho(p.Addr); err != nil {
		t.Fatalf("through the proxy after recovery: %v", err)
	}
	if recs, err := j.List(); err != nil || len(recs) != 0 {
		t.Fatalf("journal after recovery: got %d records, %v; want none", len(recs), err)
	}
	for i, revert := range reverts {
		if err := revert(ctxT(t)); err != nil {
			t.Fatalf("revert #%d after recovery: %v", i, err)
		}
	}
}

// TestRepair proves Repair undoes only its record's kind, counts a
// Toxiproxy that is gone as repaired, and refuses a record it cannot read.
func TestRepair(t *testing.T) {
	p := tcptest.Start(t, echoServer(t))
	revertDown := apply(t, config(p, fault.KindTCPDown))
	revertLatency := apply(t, config(p, fault.KindTCPLatency))
	rec := fault.Record{Kind: fault.KindTCPLatency, Data: map[string]string{"api": p.API, "proxy": p.Name}}
	if err := tcp.Repair(ctxT(t), rec); err != nil {
		t.Fatal(err)
	}
	if st := proxyState(t, p.API, p.Name); st.Enabled || len(st.ActiveToxics) != 0 {
		t.Fatalf("after repairing tcp_latency: enabled %v, toxics %v; want still disabled, no toxic", st.Enabled, toxicNames(st))
	}
	for _, revert := range []fault.Revert{revertDown, revertLatency} {
		if err := revert(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}

	srv, err := tcp.StartServer(ctxT(t), "")
	if err != nil {
		t.Fatal(err)
	}
	gone := srv.URL()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		rec  fault.Record
		want string // "" for repaired
	}{
		{"toxiproxy gone", fault.Record{Kind: fault.KindTCPDown, Data: map[string]string{"api": gone, "proxy": "pg"}}, ""},
		{"proxy gone", fault.Record{Kind: fault.KindTCPTimeout, Data: map[string]string{"api": p.API, "proxy": "gone"}}, ""},
		{"no data", fault.Record{ID: "r1", Kind: fault.KindTCPDown}, "record r1 lacks data api and proxy"},
		{"not tcp", fault.Record{Kind: fault.KindDBLock, Data: rec.Data}, `kind "db_lock" is not a TCP fault`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tcp.Repair(ctxT(t), tc.rec)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want repaired", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
