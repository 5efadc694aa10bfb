package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"firedrill/drill/bundle"
	"firedrill/fault"
	"firedrill/fault/httpproxy"
	"firedrill/fault/writeblock"
	"firedrill/outbox"
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
		j := fault.Journal{Dir: r.o.StateDir}
		w, err := writeblock.New(writeblock.Config{Search: r.o.Env.searchConfig(r.stack.engineURL), Index: r.info.Index,
			Metrics: fault.NewMetrics(prometheus.NewRegistry()), Journal: &j})
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

// revert ends the fault and runs the scenario's after-steps. The fault's
// proof is what it did: the proxy's injection count, or for a write block
// the writes the engine refused (403 items in the proxy's forward log).
func (r *runner) revert(ctx context.Context, revert fault.Revert) (string, error) {
	note := "reverted"
	if httpproxy.Handles(r.o.Scenario.Fault.Kind) {
		st, err := (httpproxy.Client{Admin: r.stack.adminURL}).Status(ctx)
		if err != nil {
			r.note("the fault proxy's status could not be read, so its injections are unknown: %v", err)
		} else {
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
	r.info.FaultEnd = time.Now().UTC()
	if end := r.info.FaultStart.Add(r.o.Recipe.Duration); end.Before(r.info.FaultEnd) {
		r.info.FaultEnd = end // the window ended on its own (the proxy expires it)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fault.RevertTimeout)
	defer cancel()
	if err := revert(rctx); err != nil {
		return "", fmt.Errorf("REVERT FAILED: %w", err)
	}
	r.reverted = true
	if r.o.Scenario.Fault.Kind == fault.KindWriteBlock {
		n, err := refusedWrites(r.b.Path(bundle.LogsDir, ForwardLogFile), r.info.Index)
		if err != nil {
			r.note("count the writes the block refused: %v", err)
		}
		r.info.Injected = int64(n)
		note = fmt.Sprintf("reverted; the engine refused %d writes while blocked", n)
	}
	for _, step := range r.o.Scenario.Fault.After {
		if step == "replay" {
			// A bulk still in flight may yet be refused and dead-lettered:
			// replay once nothing is processing.
			if err := r.settle(ctx, 30*time.Second); err != nil {
				r.note("replay: %v", err)
			}
			n, err := r.store.Replay(ctx, "", false)
			if err != nil {
				return "", fmt.Errorf("replay dead letters: %w", err)
			}
			note += fmt.Sprintf("; replayed %d dead letters", n)
		}
	}
	return note, nil
}

// settle waits until no event is processing.
func (r *runner) settle(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		st, err := r.store.Stats(ctx)
		if err != nil {
			return err
		}
		if n := st.Counts[outbox.StatusProcessing]; n == 0 {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("%d events still processing after %s", n, limit)
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// refusedWrites counts the bulk items of index the engine answered 403
// (cluster_block_exception), from the proxy's forward log.
func refusedWrites(path, index string) (int, error) {
	n := 0
	err := scanLines(path, func(line []byte) {
		var it httpproxy.ForwardedItem
		if json.Unmarshal(line, &it) == nil && it.Forwarded && it.Status == http.StatusForbidden && strings.EqualFold(it.Index, index) {
			n++
		}
	})
	return n, err
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
