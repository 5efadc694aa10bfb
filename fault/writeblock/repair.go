package writeblock

import (
	"context"
	"fmt"
	"os"

	"firedrill/fault"
	"firedrill/search"
)

// Repair resets index.blocks.write on the index a stale write_block record
// names, from its Data alone; the password (PasswordEnv) or API key
// (APIKeyEnv) comes from the environment. A missing index is repaired
// already. It is a fault.Repairer.
func Repair(ctx context.Context, r fault.Record) error {
	if r.Kind != fault.KindWriteBlock {
		return fmt.Errorf("%w: record %s: kind %q has no writeblock repair (only %s)", fault.ErrInvalid, r.ID, r.Kind, fault.KindWriteBlock)
	}
	d := r.Data
	if d["url"] == "" || d["index"] == "" {
		return fmt.Errorf("%w: record %s: a write_block record needs data url and index", fault.ErrInvalid, r.ID)
	}
	cfg := search.Config{URL: d["url"], Username: d["username"], CAFile: d["ca_file"], InsecureSkipVerify: d["insecure_skip_verify"] == "true"}
	if cfg.Username != "" {
		if cfg.Password = os.Getenv(PasswordEnv); cfg.Password == "" {
			return fmt.Errorf("record %s: the engine needs the password of user %q: set %s", r.ID, cfg.Username, PasswordEnv)
		}
	}
	if d["auth"] == "api_key" {
		if cfg.APIKey = os.Getenv(APIKeyEnv); cfg.APIKey == "" {
			return fmt.Errorf("record %s: the engine needs an API key: set %s", r.ID, APIKeyEnv)
		}
	}
	c, err := search.New(cfg)
	if err != nil {
		return fmt.Errorf("%w: record %s: %w", fault.ErrInvalid, r.ID, err)
	}
	defer c.CloseIdleConnections()
	if err := unblock(ctx, c, d["index"]); err != nil {
		return fmt.Errorf("reset %s on index %s at %s: %w", setting, d["index"], cfg, err)
	}
	return nil
}

var _ fault.Repairer = Repair
