package httpproxy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"firedrill/fault/httpproxy"
)

// BenchmarkPassThrough is a GET through the proxy with no fault active, to
// a trivial upstream: the proxy's own cost per request.
func BenchmarkPassThrough(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"_index":"i","_id":"1","found":true,"_source":{"title":"doc"}}`)
	}))
	defer up.Close()
	p, err := httpproxy.New(httpproxy.Config{Upstream: up.URL})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Listen(context.Background(), "127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for _, tc := range []struct{ name, url string }{{"direct", up.URL}, {"proxy", p.URL()}} {
		b.Run(tc.name, func(b *testing.B) {
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := hc.Get(tc.url + "/i/_doc/1")
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
			})
		})
	}
}
