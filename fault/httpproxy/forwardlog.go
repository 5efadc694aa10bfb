package httpproxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// ForwardedItem is one line of the forward log.
type ForwardedItem struct {
	Time    time.Time `json:"t"`
	Index   string    `json:"index"`
	ID      string    `json:"id"`
	Op      string    `json:"op"`
	Version int64     `json:"version,omitempty"`
	// Forwarded is false for an item the proxy failed on purpose.
	Forwarded bool `json:"forwarded"`
	// Status is the item's answer (the upstream's, or the synthesised one);
	// 0 when the whole request failed.
	Status int `json:"status"`
	// Fault names the fault that hit the item, if any.
	Fault string `json:"fault,omitempty"`
}

type forwardLog struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

func openForwardLog(path string) (*forwardLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("forward log: %w", err)
	}
	return &forwardLog{f: f, w: bufio.NewWriter(f)}, nil
}

func (l *forwardLog) write(items []ForwardedItem) {
	l.mu.Lock()
	defer l.mu.Unlock()
	enc := json.NewEncoder(l.w)
	for _, it := range items {
		_ = enc.Encode(it)
	}
	_ = l.w.Flush()
}

func (l *forwardLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ferr := l.w.Flush()
	cerr := l.f.Close()
	if ferr != nil {
		return ferr
	}
	return cerr
}

// logItems records a bulk: synth holds the items failed on purpose (by
// request position), answered the upstream's results of the others in order.
func (p *Proxy) logItems(items []bulkItem, synth map[int]json.RawMessage, answered []json.RawMessage, win *window) {
	if p.flog == nil {
		return
	}
	now := time.Now().UTC()
	out := make([]ForwardedItem, 0, len(items))
	next := 0
	for i, it := range items {
		fi := ForwardedItem{Time: now, Index: it.index, ID: it.id, Op: it.op, Version: it.version, Forwarded: true}
		if s, ok := synth[i]; ok {
			fi.Forwarded, fi.Status = false, itemStatus(s)
			if win != nil {
				fi.Fault = string(win.spec.Kind)
			}
		} else {
			if next < len(answered) {
				fi.Status = itemStatus(answered[next])
			}
			next++
		}
		out = append(out, fi)
	}
	p.flog.write(out)
}

// logItemsAs records a forwarded bulk whose answer a fault then lost.
func (p *Proxy) logItemsAs(items []bulkItem, answered []json.RawMessage, faultName string) {
	now := time.Now().UTC()
	out := make([]ForwardedItem, 0, len(items))
	for i, it := range items {
		fi := ForwardedItem{Time: now, Index: it.index, ID: it.id, Op: it.op, Version: it.version, Forwarded: true, Fault: faultName}
		if i < len(answered) {
			fi.Status = itemStatus(answered[i])
		}
		out = append(out, fi)
	}
	p.flog.write(out)
}
