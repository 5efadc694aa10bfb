package main

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"firedrill/fault/httpproxy"
	"firedrill/search/searchtest"
)

func TestFaultInjectBadInputExitsThree(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"fault", "inject", "http_429"}, nil, "--duration (or FAULT_DURATION_S) is required"},
		{[]string{"fault", "inject", "http_429", "--duration", "5"}, nil, "http_429 needs --proxy ADMIN_URL"},
		{[]string{"fault", "inject", "--duration", "5"}, nil, "name the fault: fault inject KIND|SCENARIO, or FAULT_SCENARIO"},
		{[]string{"fault", "inject", "es_nope", "--duration", "5"}, nil, `unknown fault "es_nope"`},
		{[]string{"fault", "inject", "http_429", "--duration", "5", "--rate", "7"}, nil, `FAULT_RATE="7" (from flag): must be a number from 0 to 1`},
		{[]string{"fault", "inject", "http_429"}, map[string]string{"FAULT_DURATION_S": "-1"}, `FAULT_DURATION_S="-1" (from env): must be a number of seconds > 0`},
		{[]string{"fault", "inject", "http_429", "--duration", "5", "--match", "colour=red"}, nil, `unknown key "colour"`},
		{[]string{"fault", "inject", "write_block", "--duration", "5"}, map[string]string{"FAULT_SCENARIO": "es_429_inject"},
			"FAULT_SCENARIO=es_429_inject (from env) injects http_429, but the command names write_block"},
		{[]string{"fault", "inject", "es_bulk_partial", "--duration", "5"}, map[string]string{"FAULT_SCENARIO": "es_429_inject"},
			"the command names scenario es_bulk_partial but FAULT_SCENARIO=es_429_inject"},
		{[]string{"fault", "inject", "http_5xx", "--duration", "5", "--proxy", "http://127.0.0.1:1", "--status", "404"}, nil, "http_5xx answers a status from 500 to 599"},
		{[]string{"fault", "inject", "http_429", "--duration", "5", "--env", "/nonexistent/env"}, nil, "--env: open /nonexistent/env"},
		{[]string{"fault", "proxy", "--upstream", "ftp://x"}, nil, `upstream "ftp://x" must be an http:// or https:// URL`},
	} {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := tc.args
			if tc.args[1] == "inject" {
				args = slices.Concat(tc.args, []string{"--state-dir", t.TempDir()})
			}
			code, _, stderr := runCLI(ctx, args...)
			if code != 3 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 3 naming %q", code, stderr, tc.want)
			}
		})
	}
}

// TestFaultInjectThroughProxyRevertsOnSIGINT: a real `fault proxy` and a real
// `fault inject` process; SIGINT ends the window at once.
func TestFaultInjectThroughProxyRevertsOnSIGINT(t *testing.T) {
	dir := t.TempDir()
	engine := searchtest.Searchd(t)
	_, plog := child(t, "fault", "proxy", "--upstream", engine, "--addr-file", filepath.Join(dir, "p"), "--admin-addr-file", filepath.Join(dir, "a"))
	proxy := "http://" + waitAddrOr(t, filepath.Join(dir, "p"), plog)
	admin := "http://" + waitAddrOr(t, filepath.Join(dir, "a"), plog)
	inj, ilog := child(t, "fault", "inject", "es_429_inject", "--duration", "60", "--match", "path=_bulk", "--proxy", admin, "--state-dir", dir)
	ac := httpproxy.Client{Admin: admin}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := ac.Status(context.Background())
		if err == nil && st.Active != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fault never became active: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Post(proxy+"/_bulk", "application/x-ndjson", strings.NewReader(`{"index":{"_index":"a","_id":"1"}}`+"\n{}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("during the window: %d Retry-After %q, want 429 and 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if err := inj.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := inj.Wait(); err != nil {
		t.Fatalf("inject after SIGINT: %v; output:\n%s", err, ilog)
	}
	if !strings.Contains(ilog.String(), "(interrupted); matched 1, injected 1") {
		t.Errorf("inject output does not report the interrupted window:\n%s", ilog)
	}
	st, err := ac.Status(context.Background())
	if err != nil || st.Active != nil || len(st.History) != 1 || st.History[0].Injected != 1 {
		t.Fatalf("after SIGINT: %+v, %v; want no fault and one ended window with 1 injection", st, err)
	}
	resp, err = http.Post(proxy+"/_bulk", "application/x-ndjson", strings.NewReader(`{"index":{"_index":"a","_id":"1"}}`+"\n{}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the revert: %d, want 200", resp.StatusCode)
	}
}
