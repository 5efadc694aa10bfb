package fault

// ScenarioKinds maps each scenario of the catalog (DESIGN.md) to the fault
// kind it injects by default. A scenario file may name another kind; this
// table lets `fault inject es_429_inject` and FAULT_SCENARIO work without a
// scenario file. Scenarios whose stimulus is the load itself
// (duplicate_delivery, projection_version) inject nothing and are absent.
var ScenarioKinds = map[string]Kind{
	"es_429_inject":       KindHTTP429,
	"es_write_block_4xx":  KindWriteBlock,
	"es_bulk_partial":     KindBulkItemMixed,
	"es_down_connect":     KindHTTPRefuse,
	"collector_down":      KindTCPDown,
	"db_claim_contention": KindHTTPLatency,
	"stuck_reclaim":       KindProcessKill,
	"db_lock":             KindDBLock,
	"es_ack_lost":         KindAckLost,
}
