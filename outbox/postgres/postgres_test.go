package postgres_test

import (
	"testing"

	"firedrill/outbox/outboxtest"
)

func TestSuite(t *testing.T) { outboxtest.Run(t, outboxtest.PostgreSQL(t)) }
