package traces_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"firedrill/drill/traces"
)

// TestMain fails the package when a goroutine outlives the tests: the
// receiver's server and connections, and the OpenTelemetry SDK's batch
// processor and HTTP client, must all be gone.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startReceiver listens on a free loopback port, writing to a file in a
// directory that does not exist yet; it is closed when t ends.
func startReceiver(t testing.TB) (*traces.Receiver, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "_traces", "spans.otlp.ndjson")
	r, err := traces.NewReceiver(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("close receiver: %v", err)
		}
	})
	if err := r.Listen(ctxT(t), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return r, path
}

// post sends body to url and returns the status, content type and body.
func post(t testing.TB, url, contentType, encoding string, body []byte) (int, string, []byte) {
	t.Helper()
	status, ct, out, err := postErr(ctxT(t), url, contentType, encoding, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, ct, out
}

// postErr is post for goroutines other than the test's.
func postErr(ctx context.Context, url, contentType, encoding string, body []byte) (int, string, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), out, err
}
