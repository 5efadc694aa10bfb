package dblock

import (
	"errors"
	"strings"
	"testing"

	"firedrill/fault"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		text string // "" when valid
	}{
		{"sqlite path", Config{DSN: "/tmp/outbox.db"}, ""},
		{"sqlite: prefix", Config{DSN: "sqlite:/tmp/outbox.db", Table: "search_index"}, ""},
		{"postgres URL", Config{DSN: "postgres://u:pw@127.0.0.1/d"}, ""},
		{"key=value", Config{DSN: "host=/run/postgresql dbname=d"}, ""},
		{"qualified table", Config{DSN: "postgres://u@127.0.0.1/d", Table: "app.search_outbox_events"}, ""},
		{"empty", Config{}, "DSN"},
		{"scheme", Config{DSN: "redis://127.0.0.1"}, `scheme "redis"`},
		{"port", Config{DSN: "postgres://u:pw@127.0.0.1:x/d"}, "malformed PostgreSQL DSN"},
		{"quoted table", Config{DSN: "x.db", Table: `"events"`}, "Table"},
		{"three parts", Config{DSN: "x.db", Table: "a.b.c"}, "Table"},
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
			if err != nil && strings.Contains(err.Error(), ":pw@") {
				t.Errorf("Validate: error leaks the password: %v", err)
			}
		})
	}
}

func TestWithoutPassword(t *testing.T) {
	cases := []struct{ in, want string }{
		{"postgres://app:s3cret@db:5432/x?sslmode=disable", "postgres://app@db:5432/x?sslmode=disable"},
		{"postgres://app@db/x?password=s3cret&sslmode=disable", "postgres://app@db/x?sslmode=disable"},
		{"postgres://app@db/x?sslpassword=s3cret", "postgres://app@db/x"},
		{"postgres://db/x", "postgres://db/x"},
		{"host=db user=app password=s3cret dbname=x", "host=db user=app dbname=x"},
		{"host=db password='s3 cret' dbname=x", "host=db dbname=x"},
		{`password='s3 cr\'et' host=db`, "host=db"},
		{"host=db sslpassword=s3cret PASSWORD = s3cret dbname=x", "host=db dbname=x"},
		{"/tmp/outbox.db", "/tmp/outbox.db"},
	}
	for _, tc := range cases {
		if got := withoutPassword(tc.in); got != tc.want || strings.Contains(got, "s3") {
			t.Errorf("withoutPassword(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}
