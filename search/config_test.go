package search

import (
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	testPassword = "hunter2-s3cret"
	testAPIKey   = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
)

func TestNewValidation(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cfg       Config
		wantField string
	}{
		{"empty URL", Config{}, "Config.URL"},
		{"bad scheme", Config{URL: "ftp://es:9200"}, "Config.URL"},
		{"no scheme", Config{URL: "localhost:9200"}, "Config.URL"},
		{"no host", Config{URL: "http:///prefix"}, "Config.URL"},
		{"bad port with password", Config{URL: "http://elastic:" + testPassword + "@es:port"}, "Config.URL"},
		{"query in URL", Config{URL: "http://es:9200/?pretty"}, "Config.URL"},
		{"user info and Username", Config{URL: "http://a:" + testPassword + "@es:9200", Username: "b", Password: "c"}, "Config.URL"},
		{"Username without Password", Config{URL: "http://es:9200", Username: "elastic"}, "Config.Username"},
		{"URL user without password", Config{URL: "http://elastic@es:9200"}, "Config.Username"},
		{"Password without Username", Config{URL: "http://es:9200", Password: testPassword}, "Config.Password"},
		{"APIKey and Username", Config{URL: "http://es:9200", Username: "elastic", Password: testPassword, APIKey: testAPIKey}, "Config.APIKey"},
		{"negative Timeout", Config{URL: "http://es:9200", Timeout: -1}, "Config.Timeout"},
		{"missing CA file", Config{URL: "https://es:9200", CAFile: filepath.Join(t.TempDir(), "nope.pem")}, "Config.CAFile"},
		{"CA file not PEM", Config{URL: "https://es:9200", CAFile: notPEM}, "Config.CAFile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil {
				t.Fatalf("New: got nil error, want one naming %s", tt.wantField)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.wantField) {
				t.Errorf("error %q: want it to name %s", msg, tt.wantField)
			}
			if msg := err.Error(); strings.Contains(msg, testPassword) || strings.Contains(msg, testAPIKey) {
				t.Errorf("error %q: got a secret, want none", msg)
			}
		})
	}
}

func TestAuthHeaders(t *testing.T) {
	headers := make(chan http.Header, 1)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Clone()
		_, _ = io.WriteString(w, `{"count":3}`)
	})
	host := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name     string
		cfg      Config
		wantUser string // basic auth user; "" for none
		wantAuth string // exact header when not basic
	}{
		{"no auth", Config{URL: srv.URL}, "", ""},
		{"basic from fields", Config{URL: srv.URL, Username: "elastic", Password: testPassword}, "elastic", ""},
		{"basic from URL", Config{URL: "http://elastic:" + testPassword + "@" + host}, "elastic", ""},
		{"api key", Config{URL: srv.URL, APIKey: testAPIKey}, "", "ApiKey " + testAPIKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := newClient(t, tt.cfg).Count(t.Context(), "docs"); err != nil {
				t.Fatalf("Count: got error %v, want nil", err)
			}
			got := <-headers
			r := &http.Request{Header: got}
			user, pass, ok := r.BasicAuth()
			switch {
			case tt.wantUser != "":
				if !ok || user != tt.wantUser || pass != testPassword {
					t.Errorf("basic auth: got %q/%q (ok=%v), want %q and the password", user, pass, ok, tt.wantUser)
				}
			default:
				if a := got.Get("Authorization"); a != tt.wantAuth {
					t.Errorf("Authorization: got %q, want %q", a, tt.wantAuth)
				}
			}
			if ct := got.Get("Accept"); ct != "application/json" {
				t.Errorf("Accept: got %q, want application/json", ct)
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	// A server (or proxy) that echoes the credentials it was sent.
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		_, pass, _ := r.BasicAuth()
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"type":"security_exception","reason":"bad credentials [`+
			r.Header.Get("Authorization")+`] password [`+pass+`]"},"status":401}`)
	})
	host := strings.TrimPrefix(srv.URL, "http://")
	dead := strings.TrimPrefix(closedListenerURL(t), "http://")
	configs := []Config{
		{URL: "http://elastic:" + testPassword + "@" + host},
		{URL: srv.URL, Username: "elastic", Password: testPassword},
		{URL: srv.URL, APIKey: testAPIKey},
		{URL: "http://elastic:" + testPassword + "@" + dead},
		{URL: "http://" + dead, APIKey: testAPIKey},
	}
	for _, cfg := range configs {
		s := cfg.String()
		if strings.Contains(s, testPassword) || strings.Contains(s, testAPIKey) || !strings.Contains(s, "***") {
			t.Errorf("Config.String(): got %q, want secrets shown as ***", s)
		}
		_, err := newClient(t, cfg).Bulk(t.Context(), dummyItems(1), "")
		if err == nil {
			t.Fatalf("%s: got nil error, want one", s)
		}
		msg := err.Error()
		if strings.Contains(msg, testPassword) || strings.Contains(msg, testAPIKey) || strings.Contains(msg, "ZWxhc3RpYzpodW50ZXIy") {
			t.Errorf("Error(): got %q, want no credentials", msg)
		}
		t.Logf("%s -> %s", s, msg)
	}
	if got, want := (Config{URL: "https://elastic:" + testPassword + "@es.example:9200/pre"}).String(), "https://elastic:***@es.example:9200/pre"; got != want {
		t.Errorf("String(): got %q, want %q", got, want)
	}
	if got := (Config{URL: "http://u:" + testPassword + "@es:bad port"}).String(); strings.Contains(got, testPassword) {
		t.Errorf("String() of an invalid URL: got %q, want no password", got)
	}
}

func TestCAFile(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"name":"n1","cluster_name":"c","version":{"number":"2.19.0","distribution":"opensearch"}}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below logs
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}

	info, err := newClient(t, Config{URL: srv.URL, CAFile: caFile}).Info(t.Context())
	if err != nil || info.Distribution != "opensearch" {
		t.Errorf("Info through CAFile: got %+v, %v, want opensearch, nil", info, err)
	}
	if _, err := newClient(t, Config{URL: srv.URL, InsecureSkipVerify: true}).Info(t.Context()); err != nil {
		t.Errorf("Info with InsecureSkipVerify: got %v, want nil", err)
	}
	_, err = newClient(t, Config{URL: srv.URL}).Info(t.Context())
	if e := asError(t, err); e.Kind != KindConnect {
		t.Errorf("Info without the CA: got kind %v (%v), want connect", e.Kind, err)
	}
	if _, err := New(Config{URL: srv.URL, CAFile: caFile + ".missing"}); err == nil || !strings.Contains(err.Error(), "Config.CAFile") {
		t.Errorf("missing CA file: got %v, want an error naming Config.CAFile", err)
	}
}
