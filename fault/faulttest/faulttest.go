// Package faulttest holds helpers the injectors' tests share.
package faulttest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"firedrill/fault"
)

// Injected reads firedrill_fault_injected_total{fault=k} from g, failing
// the test when the series does not exist.
func Injected(t testing.TB, g prometheus.Gatherer, k fault.Kind) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "firedrill_fault_injected_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "fault" && l.GetValue() == string(k) {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no firedrill_fault_injected_total{fault=%q}", k)
	return 0
}
