package sqlite_test

import (
	"testing"

	"firedrill/outbox/outboxtest"
)

func TestSuite(t *testing.T) { outboxtest.Run(t, outboxtest.SQLite()) }
