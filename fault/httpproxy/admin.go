package httpproxy

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"firedrill/fault"
)

// WindowStatus describes a fault window, in force or ended.
type WindowStatus struct {
	Spec      Spec      `json:"spec"`
	StartedAt time.Time `json:"started_at"`
	ExpiresAt time.Time `json:"expires_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// Matched counts the requests (or bulk items) the match selected;
	// Injected those the fault hit.
	Matched  int64 `json:"matched"`
	Injected int64 `json:"injected"`
}

func (w *window) status() WindowStatus {
	return WindowStatus{Spec: w.spec, StartedAt: w.started.UTC(), ExpiresAt: w.expires.UTC(),
		Matched: w.matched.Load(), Injected: w.injected.Load()}
}

// Status is what GET /status answers.
type Status struct {
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
	Requests int64  `json:"requests"`
	// Active is the fault in force, nil when none.
	Active *WindowStatus `json:"active"`
	// History holds the last ended windows, oldest first.
	History []WindowStatus `json:"history"`
}

// Status reports the proxy's state.
func (p *Proxy) Status() Status {
	st := Status{Listen: p.Addr(), Upstream: p.target.Redacted(), Requests: p.requests.Load()}
	if w := p.active.Load(); w != nil {
		ws := w.status()
		st.Active = &ws
	}
	p.mu.Lock()
	st.History = append([]WindowStatus{}, p.history...)
	p.mu.Unlock()
	return st
}

// AdminHandler serves the proxy's control API, on an address of its own so
// it stays reachable while the proxy refuses connections:
//
//	GET    /status   the Status as JSON
//	GET    /metrics  firedrill_fault_injected_total and the Go runtime (reg)
//	POST   /fault    a Spec as JSON: start a window (409 when one is active)
//	DELETE /fault    end the window in force (no-op when none)
//	GET    /healthz  200
func (p *Proxy) AdminHandler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) { answer(w, http.StatusOK, p.Status()) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		answer(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /fault", func(w http.ResponseWriter, r *http.Request) {
		var spec Spec
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			answer(w, http.StatusBadRequest, map[string]string{"error": "fault spec: " + err.Error()})
			return
		}
		ws, err := p.Activate(spec)
		switch {
		case errors.Is(err, ErrActive):
			answer(w, http.StatusConflict, map[string]string{"error": err.Error()})
		case errors.Is(err, fault.ErrInvalid):
			answer(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		case err != nil:
			answer(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		default:
			answer(w, http.StatusOK, ws)
		}
	})
	mux.HandleFunc("DELETE /fault", func(w http.ResponseWriter, _ *http.Request) {
		p.Deactivate()
		answer(w, http.StatusOK, p.Status())
	})
	return mux
}

func answer(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode"}`)
	}
	writeJSON(w, status, append(b, '\n'))
}
