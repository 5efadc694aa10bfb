package writeblock_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"firedrill/fault"
	"firedrill/fault/writeblock"
	"firedrill/search"
)

func TestValidate(t *testing.T) {
	local := search.Config{URL: "http://127.0.0.1:9200"}
	cases := []struct {
		name string
		cfg  writeblock.Config
		text string // "" when valid
	}{
		{"one index", writeblock.Config{Search: local, Index: "docs"}, ""},
		{"list and pattern", writeblock.Config{Search: local, Index: "docs,logs-*"}, ""},
		{"no index", writeblock.Config{Search: local}, "Index is required"},
		{"all", writeblock.Config{Search: local, Index: "_all"}, "every index"},
		{"star", writeblock.Config{Search: local, Index: "docs,*"}, "every index"},
		{"empty list item", writeblock.Config{Search: local, Index: "docs,,logs"}, "empty name"},
		{"space", writeblock.Config{Search: local, Index: "my docs"}, "not an index name"},
		{"no URL", writeblock.Config{Index: "docs"}, "Config.URL is empty"},
		{"bad scheme", writeblock.Config{Search: search.Config{URL: "ftp://127.0.0.1"}, Index: "docs"}, "not http or https"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.text == "" {
				if err != nil {
					t.Errorf("Validate: got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, fault.ErrInvalid) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("Validate: got %v, want fault.ErrInvalid mentioning %q", err, tc.text)
			}
		})
	}
}

func TestRemoteEngineRefused(t *testing.T) {
	j := &fault.Journal{Dir: t.TempDir()}
	inj, err := writeblock.New(writeblock.Config{Search: search.Config{URL: "http://u:s3cret@search.example.com:9200"}, Index: "docs", Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	_, err = inj.Apply(context.Background())
	if !errors.Is(err, fault.ErrTargetRefused) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Apply: got %v, want fault.ErrTargetRefused without the password", err)
	}
	if recs, err := j.List(); err != nil || len(recs) != 0 {
		t.Errorf("journal: got %+v, %v; want nothing journaled", recs, err)
	}
}

// engine is a fake engine recording the Authorization and body of each
// PUT _settings.
type engine struct {
	srv  *httptest.Server
	mu   sync.Mutex
	auth []string
	body []string
}

func newEngine(t *testing.T) *engine {
	e := &engine{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.auth = append(e.auth, r.Header.Get("Authorization"))
		e.body = append(e.body, string(b))
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"acknowledged":true}`)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *engine) last() (auth, body string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.auth[len(e.auth)-1], e.body[len(e.body)-1]
}

func TestCredentialsComeFromTheEnvironment(t *testing.T) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("elastic:s3cret"))
	cases := []struct {
		name     string
		cfg      func(url string) search.Config
		env      string
		wantAuth string
		wantData map[string]string
	}{
		{"password in the URL", func(u string) search.Config {
			return search.Config{URL: strings.Replace(u, "http://", "http://elastic:s3cret@", 1)}
		}, writeblock.PasswordEnv, basic, map[string]string{"username": "elastic"}},
		{"username and password", func(u string) search.Config {
			return search.Config{URL: u, Username: "elastic", Password: "s3cret"}
		}, writeblock.PasswordEnv, basic, map[string]string{"username": "elastic"}},
		{"API key", func(u string) search.Config {
			return search.Config{URL: u, APIKey: "s3cret"}
		}, writeblock.APIKeyEnv, "ApiKey s3cret", map[string]string{"auth": "api_key"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			j := &fault.Journal{Dir: t.TempDir()}
			inj, err := writeblock.New(writeblock.Config{Search: tc.cfg(e.srv.URL), Index: "docs", Journal: j})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := inj.Apply(context.Background()); err != nil {
				t.Fatal(err)
			}
			if auth, body := e.last(); auth != tc.wantAuth || body != `{"index.blocks.write":true}` {
				t.Errorf("Apply sent: got %q %s, want %q {\"index.blocks.write\":true}", auth, body, tc.wantAuth)
			}
			files, _ := filepath.Glob(filepath.Join(j.Dir, "*.json"))
			for _, f := range files {
				if b, _ := os.ReadFile(f); strings.Contains(string(b), "s3cret") {
					t.Errorf("journal file %s holds the secret:\n%s", f, b)
				}
			}
			rec := staleRecord(t, j)
			for k, v := range tc.wantData {
				if rec.Data[k] != v {
					t.Errorf("record data %s: got %q, want %q", k, rec.Data[k], v)
				}
			}
			if rec.Data["url"] != e.srv.URL {
				t.Errorf("record data url: got %q, want %q", rec.Data["url"], e.srv.URL)
			}
			t.Setenv(tc.env, "")
			if err := writeblock.Repair(context.Background(), rec); err == nil || !strings.Contains(err.Error(), tc.env) {
				t.Errorf("Repair without %s: got %v, want an error naming it", tc.env, err)
			}
			t.Setenv(tc.env, "s3cret")
			if err := writeblock.Repair(context.Background(), rec); err != nil {
				t.Fatalf("Repair: got %v, want nil", err)
			}
			if auth, body := e.last(); auth != tc.wantAuth || body != `{"index.blocks.write":null}` {
				t.Errorf("Repair sent: got %q %s, want %q {\"index.blocks.write\":null}", auth, body, tc.wantAuth)
			}
		})
	}
}

func TestRepairBadRecords(t *testing.T) {
	for _, r := range []fault.Record{
		{Kind: fault.KindDBLock, Data: map[string]string{"url": "http://127.0.0.1:9200", "index": "docs"}},
		{Kind: fault.KindWriteBlock, Data: map[string]string{"index": "docs"}},
		{Kind: fault.KindWriteBlock, Data: map[string]string{"url": "http://127.0.0.1:9200"}},
		{Kind: fault.KindWriteBlock, Data: map[string]string{"url": "ftp://127.0.0.1", "index": "docs"}},
	} {
		if err := writeblock.Repair(context.Background(), r); !errors.Is(err, fault.ErrInvalid) {
			t.Errorf("Repair(%+v): got %v, want fault.ErrInvalid", r, err)
		}
	}
}
