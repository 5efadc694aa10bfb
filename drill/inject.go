package drill

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"firedrill/fault"
	"firedrill/fault/httpproxy"
	"firedrill/fault/writeblock"
)

// supported reports whether the harness drives kind.
func supported(k fault.Kind) bool { return httpproxy.Handles(k) || k == fault.KindWriteBlock }

// inject applies the scenario's fault to the stack.
func (r *runner) inject(ctx context.Context) (fault.Revert, error) {
	s := r.o.Scenario
	var inj fault.Injector
	switch k := s.Fault.Kind; {
	case httpproxy.Handles(k):
		spec := httpproxy.Spec{Kind: k, Recipe: r.o.Recipe}
		if err := applyOptions(&spec, s.Fault.Options); err != nil {
			return nil, err
		}
		inj = &httpproxy.Injector{Client: httpproxy.Client{Admin: r.stack.adminURL}, Spec: spec}
	case k == fault.KindWriteBlock:
		r.wbMetrics = fault.NewMetrics(prometheus.NewRegistry())
		j := fault.Journal{Dir: r.o.StateDir}
		w, err := writeblock.New(writeblock.Config{Search: r.o.Env.searchConfig(r.stack.engineURL), Index: r.info.Index, Metrics: r.wbMetrics, Journal: &j})
		if err != nil {
			return nil, err
		}
		inj = w
	default:
		return nil, fmt.Errorf("fault kind %s is not driven by the harness yet", k)
	}
	r.info.FaultStart = time.Now().UTC()
	revert, err := inj.Apply(ctx)
	if err == nil {
		if merr := r.scr.Mark(MarkFaultStart, r.info.FaultStart); merr != nil {
			r.note("mark the fault start: %v", merr)
		}
	}
	return revert, err
}

// revert ends the fault and runs the scenario's after-steps.
func (r *runner) revert(ctx context.Context, revert fault.Revert) (string, error) {
	note := "reverted"
	if httpproxy.Handles(r.o.Scenario.Fault.Kind) {
		if st, err := (httpproxy.Client{Admin: r.stack.adminURL}).Status(ctx); err == nil {
			w := st.Active
			if w == nil && len(st.History) > 0 {
				w = &st.History[len(st.History)-1]
			}
			if w != nil {
				r.info.Injected = w.Injected
				note = fmt.Sprintf("reverted; matched %d, injected %d", w.Matched, w.Injected)
			}
		}
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fault.RevertTimeout)
	defer cancel()
	if err := revert(rctx); err != nil {
		return "", fmt.Errorf("REVERT FAILED: %w", err)
	}
	r.info.FaultEnd = time.Now().UTC()
	if r.wbMetrics != nil {
		r.info.Injected = int64(r.wbMetrics.Count(fault.KindWriteBlock))
		note = fmt.Sprintf("reverted; injected %d", r.info.Injected)
	}
	for _, step := range r.o.Scenario.Fault.After {
		if step == "replay" {
			n, err := r.store.Replay(ctx, "", false)
			if err != nil {
				return "", fmt.Errorf("replay dead letters: %w", err)
			}
			note += fmt.Sprintf("; replayed %d dead letters", n)
		}
	}
	return note, nil
}

func applyOptions(spec *httpproxy.Spec, opts map[string]string) error {
	for k, v := range opts {
		switch k {
		case "status":
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("fault.options.status %q: want a number", v)
			}
			spec.Status = n
		case "retry_after", "latency":
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("fault.options.%s %q: want a duration such as 500ms", k, v)
			}
			if k == "latency" {
				spec.Latency = httpproxy.Duration(d)
			} else {
				spec.RetryAfter = httpproxy.Duration(d)
			}
		case "ack_lost":
			spec.AckLost = v
		}
	}
	return nil
}

// versions names what produced the evidence.
func versions() map[string]string {
	v := map[string]string{"go": runtime.Version(), "firedrill": "devel"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v["firedrill"] = s.Value
			}
		}
	}
	return v
}
