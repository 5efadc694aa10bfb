package report

import (
	"math"
	"testing"
	"time"
)

func TestOffset(t *testing.T) {
	origin := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		t    time.Time
		want string
	}{
		{"zero time", time.Time{}, "—"},
		{"origin", origin, "+0s"},
		{"whole seconds", origin.Add(12 * time.Second), "+12s"},
		{"fraction", origin.Add(250 * time.Millisecond), "+0.25s"},
		{"before origin", origin.Add(-3 * time.Second), "-3s"},
		{"rounds to the millisecond", origin.Add(1500*time.Microsecond + 400), "+0.002s"},
		{"rounds down", origin.Add(1400 * time.Microsecond), "+0.001s"},
		{"sub-millisecond before origin is zero", origin.Add(-400 * time.Microsecond), "+0s"},
		{"minutes stay seconds", origin.Add(2*time.Minute + 5*time.Second), "+125s"},
		{"other zone", origin.In(time.FixedZone("X", -7*3600)).Add(time.Second), "+1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Offset(origin, tc.t); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		in, text, class, symbol string
	}{
		{"PASS", "PASS", "verdict-pass", "✔"},
		{" pass ", "PASS", "verdict-pass", "✔"},
		{"FAIL", "FAIL", "verdict-fail", "✘"},
		{"Fail", "FAIL", "verdict-fail", "✘"},
		{"INCONCLUSIVE", "INCONCLUSIVE", "verdict-inconclusive", "?"},
		{"", "UNKNOWN", "verdict-unknown", "•"},
		{"  ", "UNKNOWN", "verdict-unknown", "•"},
		{"flaky", "flaky", "verdict-unknown", "•"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := verdictText(tc.in); got != tc.text {
				t.Errorf("verdictText: got %q, want %q", got, tc.text)
			}
			if got := verdictClass(tc.in); got != tc.class {
				t.Errorf("verdictClass: got %q, want %q", got, tc.class)
			}
			if got := verdictSymbol(tc.in); got != tc.symbol {
				t.Errorf("verdictSymbol: got %q, want %q", got, tc.symbol)
			}
		})
	}
}

func TestNum(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0.0"},
		{math.Copysign(0, -1), "0.0"},
		{-0.04, "0.0"},
		{1.25, "1.3"},
		{-7.75, "-7.8"},
		{math.NaN(), "0.0"},
		{math.Inf(1), "0.0"},
	} {
		if got := num(tc.in); got != tc.want {
			t.Errorf("num(%g): got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTextHelpers(t *testing.T) {
	for _, tc := range []struct {
		name, got, want string
	}{
		{"truncate short", truncate("drain", 5), "drain"},
		{"truncate long", truncate("preflight", 5), "pref…"},
		{"truncate runes", truncate("ééééé", 3), "éé…"},
		{"esc markup", esc(`<a href="x">&'`), "&lt;a href=&#34;x&#34;&gt;&amp;&#39;"},
		{"esc invalid", esc("a\x00b\xffc"), "a\uFFFDb\uFFFDc"},
		{"orDash blank", orDash(" \t"), "—"},
		{"orDash", orDash("x"), "x"},
		{"between missing", between(time.Time{}, t0), "—"},
		{"between", between(t0, t0.Add(1234567*time.Microsecond)), "1.235s"},
		{"recovery nil", recovery(nil), "not measured"},
		{"stamp UTC", stamp(t0), "2025-03-14T09:00:00.000Z"},
		{"stamp zero", stamp(time.Time{}), "—"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}
