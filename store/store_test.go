package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"firedrill/outbox"
)

func TestRedactHidesPasswords(t *testing.T) {
	cases := []struct{ in, want string }{
		{"postgres://app:s3cret@db:5432/x?sslmode=disable", "postgres://app:xxxxx@db:5432/x?sslmode=disable"},
		{"postgres://app@db/x?password=s3cret", "postgres://app@db/x?password=xxxxx"},
		{"host=db user=app password=s3cret dbname=x", "host=db user=app password=xxxxx dbname=x"},
		{"host=db password='s3 cret' dbname=x", "host=db password=xxxxx dbname=x"},
		{`host=db password='s3 cr\'et' dbname=x`, "host=db password=xxxxx dbname=x"},
		{"postgres://app:s3cret@db:notaport%zz/x", "postgres://(unparseable DSN hidden)"},
		{"/tmp/outbox.db", "/tmp/outbox.db"},
	}
	for _, tc := range cases {
		got := Redact(tc.in)
		if got != tc.want || strings.Contains(got, "s3") {
			t.Errorf("Redact(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		dsn  string
		kind Kind
		err  string
	}{
		{"postgres://u@h/d", KindPostgres, ""},
		{"postgresql://u@h/d", KindPostgres, ""},
		{"host=h dbname=d", KindPostgres, ""},
		{"sqlite:/tmp/a.db", KindSQLite, ""},
		{"file:/tmp/a.db", KindSQLite, ""},
		{"a.db", KindSQLite, ""},
		{"mysql://u@h/d", "", `scheme "mysql" is not supported`},
		{"", "", "empty database DSN"},
	}
	for _, tc := range cases {
		kind, _, err := Parse(tc.dsn)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, outbox.ErrInvalid) {
				t.Errorf("Parse(%q): got %v, want ErrInvalid with %q", tc.dsn, err, tc.err)
			}
			continue
		}
		if err != nil || kind != tc.kind {
			t.Errorf("Parse(%q): got %s, %v; want %s", tc.dsn, kind, err, tc.kind)
		}
	}
}

func TestOpenBadInputs(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		dsn  string
		want error
		text string
	}{
		{"postgres://u:pw@127.0.0.1:notaport/d", outbox.ErrInvalid, "malformed PostgreSQL DSN"},
		{"postgres://u:topsecret@127.0.0.1:1/d?connect_timeout=2", outbox.ErrUnavailable, "127.0.0.1:1"},
		{"/no/such/dir/outbox.db", outbox.ErrUnavailable, "directory /no/such/dir does not exist"},
	}
	for _, tc := range cases {
		_, err := Open(ctx, tc.dsn, outbox.Options{})
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("Open(%q): got %v, want %v mentioning %q", tc.dsn, err, tc.want, tc.text)
		}
		if err != nil && (strings.Contains(err.Error(), "topsecret") || strings.Contains(err.Error(), ":pw@")) {
			t.Errorf("Open(%q): error leaks the password: %v", tc.dsn, err)
		}
	}
}
