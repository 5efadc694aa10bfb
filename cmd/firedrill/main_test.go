package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets the test binary act as the firedrill binary, so end-to-end
// tests can start it as a real child process and signal it.
func TestMain(m *testing.M) {
	if os.Getenv("FIREDRILL_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// runCLI runs one command line in-process and returns its exit code and output.
func runCLI(ctx context.Context, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	err := run(ctx, args, &out, &errb)
	if err != nil {
		errb.WriteString("firedrill: " + err.Error() + "\n")
	}
	return exitCode(err), out.String(), errb.String()
}

// output collects a child's stdout and stderr; it may be read while the
// child still writes.
type output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

// String returns what the child wrote so far.
func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// Bytes returns a copy of what the child wrote so far.
func (o *output) Bytes() []byte { return []byte(o.String()) }

// child starts the firedrill binary (this test binary) with args.
func child(t *testing.T, args ...string) (*exec.Cmd, *output) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "FIREDRILL_TEST_MAIN=1")
	logs := &output{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, logs
}

func TestBadInputExitsThree(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unknownKey := write("unknown.yaml", "max_attempts: 3\nretries: 5\n")
	badAction := write("bad.yaml", "classes:\n  \"429\": {action: ignore}\n")
	unreadable := filepath.Join(dir, "missing.yaml")
	freshDB := filepath.Join(dir, "fresh.db")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"explode"}, `unknown command "explode"`},
		{"unknown flag", []string{"load", "--bogus"}, "unknown flag: --bogus"},
		{"bad flag value", []string{"load", "--entities", "many"}, `invalid argument "many"`},
		{"bad log level", []string{"--log-level", "loud", "projector", "--db", freshDB}, `--log-level "loud"`},
		{"zero entities", []string{"load", "--entities", "0", "--db", freshDB}, "entities: got 0"},
		{"unknown reason", []string{"outbox", "failed", "--reason", "es_teapot", "--db", freshDB}, `unknown reason "es_teapot"`},
		{"malformed DSN", []string{"db", "migrate", "--db", "postgres://u:hunter2@127.0.0.1:notaport/x"}, "malformed PostgreSQL DSN"},
		{"unsupported DSN", []string{"db", "migrate", "--db", "mysql://u@h/x"}, `scheme "mysql" is not supported`},
		{"unreachable database", []string{"db", "migrate", "--db", "postgres://u:hunter2@127.0.0.1:1/x?connect_timeout=2"}, "database unavailable"},
		{"missing SQLite dir", []string{"outbox", "stats", "--db", "/no/such/dir/x.db"}, "directory /no/such/dir does not exist"},
		{"unreadable policy", []string{"projector", "--db", freshDB, "--policy", unreadable}, "--policy: open " + unreadable},
		{"unknown policy key", []string{"projector", "--db", freshDB, "--policy", unknownKey}, "field retries not found"},
		{"bad policy value", []string{"projector", "--db", freshDB, "--policy", badAction}, `classes.429.action: got "ignore"`},
		{"bulk timeout over lease", []string{"projector", "--db", freshDB, "--lease", "1s", "--bulk-timeout", "2s"}, "must be shorter than the lease"},
		{"bad search URL", []string{"projector", "--db", freshDB, "--search-url", "ftp://x"}, "search engine"},
		{"negative workers", []string{"projector", "--db", freshDB, "--workers", "-1"}, "workers"},
		{"bad refresh", []string{"projector", "--db", freshDB, "--refresh", "bogus"}, `refresh "bogus"`},
		{"bad index name", []string{"projector", "--db", freshDB, "--index", "Upper-{projection}"}, "want a lowercase index name"},
		{"bad OTLP endpoint", []string{"projector", "--db", freshDB, "--otlp-endpoint", "ftp://x"}, "otlp"},
		{"stats on a missing database", []string{"outbox", "stats", "--db", freshDB}, "firedrill db migrate"},
		{"extra argument", []string{"db", "migrate", "now"}, "takes no arguments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			code, _, stderr := runCLI(ctx, tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("got exit %d, stderr %q; want exit 3 mentioning %q", code, stderr, tc.want)
			}
			if strings.Contains(stderr, "hunter2") {
				t.Fatalf("stderr leaks the password: %q", stderr)
			}
			if _, err := os.Stat(freshDB); err == nil {
				t.Fatalf("a refused command created %s", freshDB)
			}
		})
	}
}

func TestListShowsTheCatalog(t *testing.T) {
	code, stdout, stderr := runCLI(context.Background(), "list")
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, stderr)
	}
	for _, id := range []string{"es_429_inject", "es_write_block_4xx", "es_bulk_partial"} {
		if !strings.Contains(stdout, id) {
			t.Errorf("list does not show %s:\n%s", id, stdout)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("id: bad\npriority: P7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(context.Background(), "list", "--scenarios", dir)
	if code != 3 || !strings.Contains(stderr, "bad.yaml:2: priority") {
		t.Fatalf("a bad scenario file: exit %d, %s; want exit 3 naming bad.yaml:2", code, stderr)
	}
}
