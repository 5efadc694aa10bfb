package searchd_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"firedrill/searchd"
)

// TestMain lets the test binary serve a node as a child process
// (FIREDRILL_SEARCHD_CHILD=DIR), so a test can SIGKILL a real node.
func TestMain(m *testing.M) {
	if dir := os.Getenv("FIREDRILL_SEARCHD_CHILD"); dir != "" {
		serveChild(dir)
		return
	}
	os.Exit(m.Run())
}

func serveChild(dir string) {
	n, err := searchd.Open(searchd.Config{DataDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	_ = http.Serve(ln, n.Handler()) //nolint:gosec // a test child on loopback
}

// TestAcknowledgedWritesSurviveSIGKILL: every write a killed node had
// acknowledged is there, at its version, when the directory is reopened;
// writes in flight at the kill are either whole or absent.
func TestAcknowledgedWritesSurviveSIGKILL(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FIREDRILL_SEARCHD_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child did not print its address: %v", err)
	}
	child := &node{t: t, srv: nil}
	base := "http://" + strings.TrimSpace(addr)
	do := func(method, path, body string) (int, map[string]any) {
		return child.doURL(base, method, path, body)
	}
	if code, out := do("PUT", "/crash", `{"settings":{"index":{"refresh_interval":"-1"}}}`); code != 200 {
		t.Fatalf("create: %d %v", code, out)
	}
	// Acknowledged: 50 bulks of 20 documents each, then deletes of a few.
	acked := map[string]int64{}
	for b := range 50 {
		var body strings.Builder
		for i := range 20 {
			id := fmt.Sprint(b*20 + i)
			body.WriteString(extIndex("crash", id, int64(b+1), "t"+id))
			acked[id] = int64(b + 1)
		}
		if code, out := do("POST", "/_bulk", body.String()); code != 200 || out["errors"] != false {
			t.Fatalf("bulk %d: %d %v", b, code, out)
		}
	}
	if code, out := do("POST", "/_bulk", extDelete("crash", "0", 100)+extDelete("crash", "1", 100)); code != 200 || out["errors"] != false {
		t.Fatalf("deletes: %d %v", code, out)
	}
	delete(acked, "0")
	delete(acked, "1")
	// In flight at the kill: a stream of bulks nobody waits for. The kill comes once the
	// first of them has been answered, so some are surely in flight.
	answered := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for b := 50; ; b++ {
			body := strings.NewReader(extIndex("crash", fmt.Sprintf("late-%d", b), 1, "late"))
			resp, err := http.Post(base+"/_bulk", "application/x-ndjson", body)
			if err != nil {
				return
			}
			_ = resp.Body.Close()
			if b == 50 {
				close(answered)
			}
		}
	}()
	<-answered
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	<-stopped

	nd := openNode(t, dir)
	for id, v := range acked {
		doc := nd.must(200, "GET", "/crash/_doc/"+id, "")
		if num(doc["_version"]) != v {
			t.Fatalf("doc %s: version %v after the kill, want %d", id, doc["_version"], v)
		}
	}
	for _, id := range []string{"0", "1"} {
		nd.must(404, "GET", "/crash/_doc/"+id, "")
		out := nd.must(200, "POST", "/_bulk", extIndex("crash", id, 99, "stale"))
		if item := out["items"].([]any)[0].(map[string]any)["index"].(map[string]any); num(item["status"]) != 409 {
			t.Fatalf("write under the tombstone of %s after the kill: %v, want 409", id, item)
		}
	}
	nd.must(200, "POST", "/crash/_refresh", "")
	c := nd.must(200, "GET", "/crash/_count", "")
	late := nd.must(200, "POST", "/crash/_search", `{"size":0,"query":{"term":{"title":"late"}}}`)
	lateN := num(late["hits"].(map[string]any)["total"].(map[string]any)["value"])
	if got, want := num(c["count"]), int64(len(acked))+lateN; got != want {
		t.Fatalf("count %d after the kill, want %d acknowledged + %d late", got, len(acked), lateN)
	}
}
