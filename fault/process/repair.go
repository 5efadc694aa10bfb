package process

import (
	"context"
	"fmt"
	"strconv"

	"firedrill/fault"
)

// Repair resumes the process a stale process_stop record names, from its
// Data alone: SIGCONT if that pid still runs and, when the record has its
// start time, is still the same process. A process that has exited is
// repaired already. It is a fault.Repairer.
func Repair(ctx context.Context, r fault.Record) error {
	if r.Kind != fault.KindProcessStop {
		return fmt.Errorf("%w: record %s: kind %q has no process repair (only %s)", fault.ErrInvalid, r.ID, r.Kind, fault.KindProcessStop)
	}
	pid, err := strconv.Atoi(r.Data["pid"])
	if err != nil || pid <= 1 {
		return fmt.Errorf("%w: record %s: data pid %q: want a pid > 1", fault.ErrInvalid, r.ID, r.Data["pid"])
	}
	if err := resume(pid, r.Data["start"]); err != nil {
		return fmt.Errorf("resume pid %d: %w", pid, err)
	}
	return nil
}

var _ fault.Repairer = Repair
