package main

import (
	"context"
	"errors"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"firedrill/outbox"
	"firedrill/outbox/outboxtest"
	"firedrill/search"
	"firedrill/search/searchtest"
)

// waitApplied polls a `fault inject` child's output until the fault is applied.
func waitApplied(t *testing.T, cmd *exec.Cmd, out *output) {
	t.Helper()
	const want = "applied at"
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("no %q in the output:\n%s", want, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func blockedWrite(t *testing.T, c *search.Client, index, id string) int {
	t.Helper()
	res, err := c.Bulk(context.Background(), []search.BulkItem{{Op: "index", Index: index, ID: id, Doc: map[string]any{"x": 1}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	return res.Items[0].Status
}

// TestWriteBlockRevertsOnSIGINTAndAfterSIGKILL: `fault inject write_block`
// as a real process. SIGINT reverts at once; a SIGKILLed injector's block
// is found in the journal and lifted by the next fault command, with a
// warning.
func TestWriteBlockRevertsOnSIGINTAndAfterSIGKILL(t *testing.T) {
	for _, e := range []struct {
		name string
		url  func(testing.TB) string
	}{{"searchd", searchtest.Searchd}, {"opensearch", searchtest.OpenSearchURL}} {
		t.Run(e.name, func(t *testing.T) {
			u := e.url(t)
			c := newSearchClient(t, u)
			index := uniqueIndex(t, c)
			if err := c.CreateIndex(context.Background(), index, nil); err != nil {
				t.Fatal(err)
			}
			state := t.TempDir()
			args := []string{"fault", "inject", "write_block", "--duration", "120", "--search-url", u, "--index", index, "--state-dir", state}

			inj, out := child(t, args...)
			waitApplied(t, inj, out)
			if got := blockedWrite(t, c, index, "a"); got != 403 {
				t.Fatalf("while blocked: status %d, want 403", got)
			}
			if err := inj.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			if err := inj.Wait(); err != nil {
				t.Fatalf("after SIGINT: %v\n%s", err, out)
			}
			if got := blockedWrite(t, c, index, "a"); got != 201 {
				t.Fatalf("after SIGINT: status %d, want 201 (block reverted)", got)
			}

			killed, kout := child(t, args...)
			waitApplied(t, killed, kout)
			if err := killed.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = killed.Wait()
			if got := blockedWrite(t, c, index, "b"); got != 403 {
				t.Fatalf("after SIGKILL: status %d, want 403 (the block outlives its injector)", got)
			}
			code, _, stderr := runCLI(context.Background(), "fault", "inject", "write_block", "--duration", "0.1",
				"--search-url", u, "--index", index, "--state-dir", state)
			if code != 0 || !strings.Contains(stderr, "warning: reverted a write_block fault on") || !strings.Contains(stderr, "index "+index+" left by process") {
				t.Fatalf("next start: exit %d, stderr:\n%s\nwant exit 0 and a warning about the repaired block", code, stderr)
			}
			if got := blockedWrite(t, c, index, "b"); got != 201 {
				t.Fatalf("after the next start: status %d, want 201", got)
			}
			if code, stdout, _ := runCLI(context.Background(), "fault", "status", "--state-dir", state); code != 0 || !strings.Contains(stdout, "no durable fault in force") {
				t.Fatalf("status after repair: exit %d:\n%s", code, stdout)
			}
		})
	}
}

// TestDBLockRevertsOnSIGINT: `fault inject db_lock` as a real process holds
// the outbox table until SIGINT; claims wait meanwhile and succeed after.
func TestDBLockRevertsOnSIGINT(t *testing.T) {
	for _, a := range outboxtest.Adapters(t) {
		t.Run(a.Name, func(t *testing.T) {
			dsn := a.DSN(t)
			s := a.Open(t, dsn, outbox.Options{LockTimeout: 200 * time.Millisecond})
			if _, err := s.Write(context.Background(), []outbox.Change{{EntityID: "x", EntityType: "t", Op: outbox.OpUpsert}}); err != nil {
				t.Fatal(err)
			}
			inj, out := child(t, "fault", "inject", "db_lock", "--duration", "120", "--db", dsn, "--state-dir", t.TempDir())
			waitApplied(t, inj, out)
			if _, err := s.Claim(context.Background(), "w", 10, time.Minute); !errors.Is(err, outbox.ErrLocked) {
				t.Fatalf("claim under the lock: %v, want ErrLocked", err)
			}
			if err := inj.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			if err := inj.Wait(); err != nil {
				t.Fatalf("after SIGINT: %v\n%s", err, out)
			}
			cl, err := s.Claim(context.Background(), "w", 10, time.Minute)
			if err != nil || len(cl.Events) != 1 {
				t.Fatalf("claim after the revert: %d events, %v; want 1", len(cl.Events), err)
			}
		})
	}
}

// TestTCPDownThroughEmbeddedToxiproxy: `fault toxiproxy` in front of the
// test PostgreSQL and `fault inject tcp_down` as real processes; SIGINT
// brings the proxy back.
func TestTCPDownThroughEmbeddedToxiproxy(t *testing.T) {
	pgURL := outboxtest.PGURL(t)
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	addrFile := filepath.Join(t.TempDir(), "api")
	tp, tout := child(t, "fault", "toxiproxy", "--addr-file", addrFile, "--proxy", "pg=127.0.0.1:0="+u.Host)
	api := "http://" + waitAddrOr(t, addrFile, tout)
	m := regexp.MustCompile(`proxy pg listening on (\S+)`).FindStringSubmatch(tout.String())
	if m == nil {
		t.Fatalf("no proxy address in:\n%s", tout)
	}
	via := *u
	via.Host = m[1]
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, via.String())
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close(context.Background()) }()
		return conn.Ping(ctx)
	}
	if err := ping(); err != nil {
		t.Fatalf("through the proxy before the fault: %v", err)
	}
	inj, out := child(t, "fault", "inject", "collector_down", "--duration", "120", "--toxiproxy", api, "--toxiproxy-proxy", "pg", "--state-dir", t.TempDir())
	waitApplied(t, inj, out)
	if err := ping(); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("during tcp_down: %v, want connection refused", err)
	}
	if err := inj.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := inj.Wait(); err != nil {
		t.Fatalf("after SIGINT: %v\n%s", err, out)
	}
	if err := ping(); err != nil {
		t.Fatalf("after the revert: %v", err)
	}
	_ = tp.Process.Signal(syscall.SIGTERM)
	_ = tp.Wait()
}
