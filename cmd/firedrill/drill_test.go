package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"firedrill/drill"
	"firedrill/drill/bundle"
	"firedrill/fault"
	"firedrill/outbox/outboxtest"
	"firedrill/search/searchtest"
)

// The P0 drills run the real binary (this test binary, as children) on the
// embedded stack: SQLite, a searchd child, the fault proxy, projector
// children and the harness's own trace receiver.
var p0 = []string{"es_429_inject", "es_write_block_4xx", "es_bulk_partial"}

// drillEnv makes the harness's children run as firedrill.
func drillEnv(t *testing.T) string {
	t.Helper()
	t.Setenv("FIREDRILL_TEST_MAIN", "1")
	t.Setenv("FIREDRILL_STATE_DIR", t.TempDir())
	return t.TempDir()
}

func readResult(t *testing.T, root, id string) (drill.Result, bundle.Bundle) {
	t.Helper()
	r, err := bundle.Find(root, bundle.DefaultLab, id, "", 0, time.Now())
	if err != nil {
		t.Fatalf("find the run of %s: %v", id, err)
	}
	var res drill.Result
	if err := bundle.ReadJSON(r.Path(bundle.ResultFile), &res); err != nil {
		t.Fatal(err)
	}
	return res, r.Bundle
}

func TestP0DrillsPass(t *testing.T) {
	root := drillEnv(t)
	for _, id := range p0 {
		t.Run(id, func(t *testing.T) {
			code, stdout, stderr := runCLI(context.Background(), "drill", id, "--root", root)
			if code != exitOK {
				t.Fatalf("drill %s: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", id, code, stdout, stderr)
			}
			res, b := readResult(t, root, id)
			if res.Verdict != drill.VerdictPass || !res.Pass || len(res.Checks) < 2 {
				t.Fatalf("got verdict %s with %d checks, want PASS with the scenario's checks: %s", res.Verdict, len(res.Checks), res.Why)
			}
			for _, phase := range []string{"preflight", "start", "baseline", "inject", "load", "hold", "revert", "drain", "after", "collect"} {
				if !strings.Contains(stderr, "== "+phase) {
					t.Errorf("the terminal never showed phase %s", phase)
				}
			}
			for _, f := range []string{bundle.StateFile, bundle.RecipeFile, bundle.ReportFile, drill.ConsistencyFile,
				filepath.Join(bundle.ExportsDir, b.RunID+".tar.gz"), filepath.Join(bundle.ExportsDir, drill.JaegerFile),
				filepath.Join(bundle.TracesDir, drill.SpansFile), filepath.Join(bundle.LogsDir, "projector-0.ndjson")} {
				if st, err := os.Stat(b.Path(f)); err != nil || st.Size() == 0 {
					t.Errorf("bundle file %s missing or empty: %v", f, err)
				}
			}
			st, err := b.ReadState()
			if err != nil || st.State != bundle.StateComplete {
				t.Errorf("got state %+v (%v), want complete", st, err)
			}

			// verify reads the bundle alone: a second verify agrees check by check.
			code, again, _ := runCLI(context.Background(), "verify", id, "--root", root, "--run-id", b.RunID)
			if code != exitOK {
				t.Fatalf("verify again: exit %d\n%s", code, again)
			}
			res2, _ := readResult(t, root, id)
			if len(res2.Checks) != len(res.Checks) {
				t.Fatalf("verify again: got %d checks, want %d", len(res2.Checks), len(res.Checks))
			}
			for i := range res.Checks {
				if res.Checks[i] != res2.Checks[i] {
					t.Errorf("verify again: check %d got %+v, want %+v", i, res2.Checks[i], res.Checks[i])
				}
			}
		})
	}
}

// wrongPolicies break the property each P0 drill proves.
var wrongPolicies = map[string]string{
	"es_429_inject":      "classes:\n  \"429\": {action: done}\n",
	"es_write_block_4xx": "classes:\n  \"4xx\": {action: done}\n",
	"es_bulk_partial":    "classes:\n  \"4xx\": {action: done}\n  \"429\": {action: done}\n",
}

func TestP0DrillsFailWithAWrongPolicy(t *testing.T) {
	root := drillEnv(t)
	for _, id := range p0 {
		t.Run(id, func(t *testing.T) {
			policy := filepath.Join(t.TempDir(), "wrong.yaml")
			if err := os.WriteFile(policy, []byte(wrongPolicies[id]), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Setenv("FIREDRILL_PROJECTOR_ARGS", "--policy "+policy)
			code, stdout, stderr := runCLI(context.Background(), "drill", id, "--root", root)
			if code != exitFail {
				t.Fatalf("drill %s with a wrong policy: exit %d, want 1 (FAIL)\nstdout:\n%s\nstderr:\n%s", id, code, stdout, stderr)
			}
			res, _ := readResult(t, root, id)
			if res.Verdict != drill.VerdictFail {
				t.Fatalf("got verdict %s, want FAIL: %s", res.Verdict, res.Why)
			}
		})
	}
}

// A scenario whose events cannot drain in time: bulks fail with 503 during
// the window and the projector's policy puts retries an hour away.
const neverDrains = `id: never_drains
priority: P2
description: Bulks answered 503 are retried an hour later, far beyond the drain deadline.
load:
  entities: 20
fault:
  kind: http_5xx
  duration_s: "2"
  match: path=_bulk
phases:
  hold_s: 0
  drain_deadline_s: 1
checks:
  - name: nothing lost
    kind: consistency
    field: lost
    expect: "== 0"
`

func TestDrainThatNeverFinishesFailsAtItsDeadline(t *testing.T) {
	root := drillEnv(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "never_drains.yaml"), []byte(neverDrains), 0o644); err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(t.TempDir(), "slow.yaml")
	if err := os.WriteFile(policy, []byte("classes:\n  \"5xx\": {action: retry, reason: es_5xx, backoff: {initial: \"1h\", max: \"1h\", jitter: 0}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FIREDRILL_PROJECTOR_ARGS", "--policy "+policy)
	code, stdout, stderr := runCLI(context.Background(), "drill", "never_drains", "--root", root, "--scenarios", dir)
	if code != exitFail {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	res, _ := readResult(t, root, "never_drains")
	if res.Verdict != drill.VerdictFail || res.Checks[0].Pass {
		t.Fatalf("got %s with drain check %+v, want FAIL on the drain", res.Verdict, res.Checks[0])
	}
}

func TestKilledHarnessLeavesNoChildAndAnIncompleteRun(t *testing.T) {
	root := drillEnv(t)
	cmd, out := child(t, "run", "es_429_inject", "--root", root)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "== load") {
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			t.Fatalf("the run never reached its load phase:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	runs, err := bundle.List(root, bundle.DefaultLab, "es_429_inject")
	if err != nil || len(runs) != 1 {
		t.Fatalf("got %d runs (%v), want 1", len(runs), err)
	}
	dir := runs[0].Dir()
	if n := processesMentioning(t, dir); n == 0 {
		t.Fatal("no child process of the run found before the kill: the test cannot prove anything")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline = time.Now().Add(10 * time.Second)
	for processesMentioning(t, dir) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("children of the killed harness still run")
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, err := runs[0].ReadState()
	if err != nil {
		t.Fatal(err)
	}
	if st.State == bundle.StateComplete || st.InProgress() {
		t.Fatalf("got state %q (in progress %v), want a run that is neither complete nor in progress", st.State, st.InProgress())
	}
	// verify calls it nothing but INCONCLUSIVE, and records it incomplete.
	code, stdout, _ := runCLI(context.Background(), "verify", "es_429_inject", "--root", root, "--run-id", runs[0].RunID)
	if code != exitInconclusive && code != exitUsage {
		t.Fatalf("verify of a killed run: exit %d, want 2 or 3\n%s", code, stdout)
	}
	if st, err := runs[0].ReadState(); err != nil || st.State != bundle.StateIncomplete {
		t.Fatalf("after verify: got state %q (%v), want incomplete", st.State, err)
	}
}

// processesMentioning counts live processes whose command line names dir.
func processesMentioning(t *testing.T, dir string) int {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), dir) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
		if err == nil && !strings.Contains(string(stat), ") Z ") { // zombies are dead
			n++
		}
	}
	return n
}

func TestResultJSONShape(t *testing.T) {
	root := drillEnv(t)
	code, stdout, stderr := runCLI(context.Background(), "drill", "es_429_inject", "--root", root, "--label", "golden")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	_, b := readResult(t, root, "es_429_inject")
	raw, err := os.ReadFile(b.Path(bundle.ResultFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenario", "run_id", "lab_id", "env", "verdict", "pass", "why", "checks", "phases", "time_to_recover_s", "recipe", "versions"} {
		if _, ok := m[k]; !ok {
			t.Errorf("_result.json has no %q (DESIGN.md names it)", k)
		}
	}
	if !strings.HasPrefix(b.RunID, "golden-es_429_inject-embedded-") {
		t.Errorf("got run id %s, want golden-es_429_inject-embedded-<time>-<hex>", b.RunID)
	}
}

// TestP0DrillsOnRealServices runs the P0 drills against the real
// PostgreSQL 15 and OpenSearch 2.19 node that .ci/run starts, named in an
// env file as a user would: the same harness, proxy and checks as on the
// embedded stack.
func TestP0DrillsOnRealServices(t *testing.T) {
	pg := outboxtest.PostgreSQL(t).DSN(t)
	engine := searchtest.OpenSearchURL(t)
	root := drillEnv(t)
	envFile := filepath.Join(t.TempDir(), "real.env")
	body := "# the test's real services\nFIREDRILL_DB_URL=" + pg + "\nFIREDRILL_SEARCH_URL=" + engine + "\n"
	if err := os.WriteFile(envFile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range p0 {
		t.Run(id, func(t *testing.T) {
			code, stdout, stderr := runCLI(context.Background(), "drill", id, "--root", root, "--env", envFile)
			if code != exitOK {
				t.Fatalf("drill %s --env real.env: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", id, code, stdout, stderr)
			}
			res, b := readResult(t, root, id)
			if res.Env != "real" || !strings.Contains(b.RunID, "-real-") {
				t.Errorf("got env %q in run %s, want real (the env file's name)", res.Env, b.RunID)
			}
			if strings.Contains(stderr, "password") {
				t.Errorf("the terminal shows a password:\n%s", stderr)
			}
		})
	}
}

// TestDrillWithRealJaeger sends the projectors' spans to a real Jaeger
// (scripts/jaeger, started by .ci/run) and judges the trace check from the
// spans the harness reads back through Jaeger's query API.
func TestDrillWithRealJaeger(t *testing.T) {
	otlp, query := os.Getenv("FIREDRILL_TEST_JAEGER_OTLP_URL"), os.Getenv("FIREDRILL_TEST_JAEGER_QUERY_URL")
	if otlp == "" || query == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("FIREDRILL_TEST_JAEGER_OTLP_URL and FIREDRILL_TEST_JAEGER_QUERY_URL are unset (CI=true: the Jaeger test never skips)")
		}
		t.Skip(`no Jaeger: start one with eval "$(scripts/jaeger start)"`)
	}
	root := drillEnv(t)
	envFile := filepath.Join(t.TempDir(), "jaeger.env")
	if err := os.WriteFile(envFile, []byte("FIREDRILL_OTLP_ENDPOINT="+otlp+"\nFIREDRILL_JAEGER_QUERY_URL="+query+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(context.Background(), "drill", "es_429_inject", "--root", root, "--env", envFile)
	if code != exitOK {
		t.Fatalf("drill with Jaeger: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	res, b := readResult(t, root, "es_429_inject")
	if _, err := os.Stat(b.Path(bundle.TracesDir, drill.JaegerSpansFile)); err != nil {
		t.Fatalf("the run's spans were not read back from Jaeger: %v", err)
	}
	if _, err := os.Stat(b.Path(bundle.TracesDir, drill.SpansFile)); err == nil {
		t.Fatal("the embedded receiver ran although FIREDRILL_OTLP_ENDPOINT named Jaeger")
	}
	for _, c := range res.Checks {
		if c.Kind == "trace" && (!c.Pass || c.Observed == "0") {
			t.Errorf("trace check from Jaeger's spans: %+v", c)
		}
	}
}

func TestDrillCommandsRejectBadInput(t *testing.T) {
	root := drillEnv(t)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown scenario", nil, []string{"run", "nope"}, `no such scenario "nope"`},
		{"scenario disagrees with FAULT_SCENARIO", map[string]string{"FAULT_SCENARIO": "es_bulk_partial"}, []string{"run", "es_429_inject"}, "FAULT_SCENARIO=es_bulk_partial"},
		{"rate out of range", nil, []string{"run", "es_429_inject", "--rate", "2"}, "FAULT_RATE"},
		{"hold longer than the window", nil, []string{"run", "es_429_inject", "--duration", "0.5"}, "phases.hold_s"},
		{"from a directory that is no run", nil, []string{"run", "es_429_inject", "--from", t.TempDir()}, "--from"},
		{"from with a recipe flag", nil, []string{"run", "es_429_inject", "--from", t.TempDir(), "--rate", "0.5"}, "drop --rate"},
		{"drill without a scenario", nil, []string{"drill"}, "one scenario id or --all"},
		{"verify with no run", nil, []string{"verify", "es_429_inject"}, "no matching run"},
		{"bad label", nil, []string{"run", "es_429_inject", "--label", "../x"}, "--label"},
		{"unreadable env file", nil, []string{"run", "es_429_inject", "--env", "/nonexistent.env"}, "--env"},
		{"unreachable database", map[string]string{"FIREDRILL_DB_URL": "postgres://u:secret@127.0.0.1:1/db?connect_timeout=2"}, []string{"run", "es_429_inject"}, "FIREDRILL_DB_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := runCLI(context.Background(), append(tt.args, "--root", root)...)
			if code != exitUsage {
				t.Fatalf("exit %d, want 3\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not name %q:\n%s", tt.want, stderr)
			}
			if strings.Contains(stderr+stdout, "secret") {
				t.Errorf("a password reached the terminal:\n%s", stderr)
			}
		})
	}
}

func TestRunFromBundleRepeatsTheRecipe(t *testing.T) {
	root := drillEnv(t)
	if code, _, stderr := runCLI(context.Background(), "run", "es_429_inject", "--root", root, "--duration", "2.5", "--every-n", "3", "--label", "first"); code != exitOK {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	first, err := bundle.Find(root, bundle.DefaultLab, "es_429_inject", "", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAULT_EVERY_N", "7") // ignored: --from repeats the recorded recipe
	if code, _, stderr := runCLI(context.Background(), "run", "es_429_inject", "--root", root, "--from", first.Dir(), "--label", "again"); code != exitOK {
		t.Fatalf("--from run: exit %d\n%s", code, stderr)
	}
	runs, err := bundle.List(root, bundle.DefaultLab, "es_429_inject")
	if err != nil || len(runs) != 2 {
		t.Fatalf("got %d runs (%v), want 2", len(runs), err)
	}
	var a, b map[string]map[string]string
	if err := bundle.ReadJSON(first.Path(bundle.RecipeFile), &a); err != nil {
		t.Fatal(err)
	}
	again := runs[0]
	if again.RunID == first.RunID {
		again = runs[1]
	}
	if err := bundle.ReadJSON(again.Path(bundle.RecipeFile), &b); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"FAULT_DURATION_S", "FAULT_EVERY_N", "FAULT_MATCH", "FAULT_SCENARIO"} {
		if a[k]["value"] != b[k]["value"] {
			t.Errorf("%s: got %q in the --from run, want %q as recorded", k, b[k]["value"], a[k]["value"])
		}
	}
	if b["FAULT_EVERY_N"]["value"] != "3" {
		t.Errorf("FAULT_EVERY_N: got %q, want 3 (the first run's flag)", b["FAULT_EVERY_N"]["value"])
	}
}

func TestInterruptedRunRevertsItsFault(t *testing.T) {
	root := drillEnv(t)
	state := os.Getenv("FIREDRILL_STATE_DIR")
	cmd, out := child(t, "run", "es_write_block_4xx", "--root", root, "--state-dir", state)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "== hold") {
		if time.Now().After(deadline) {
			t.Fatalf("the run never reached its hold phase:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if cmd.ProcessState.ExitCode() == 0 {
		t.Fatalf("an interrupted run exited 0 (%v):\n%s", err, out)
	}
	recs, err := fault.Journal{Dir: filepath.Join(state, "faults")}.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Fatalf("the write block is still journaled after the interrupted run: %+v\n%s", recs, out)
	}
	runs, err := bundle.List(root, bundle.DefaultLab, "es_write_block_4xx")
	if err != nil || len(runs) != 1 {
		t.Fatalf("got %d runs (%v)", len(runs), err)
	}
	if runs[0].State.State != bundle.StateIncomplete {
		t.Errorf("got state %q, want incomplete", runs[0].State.State)
	}
}

// TestDrillOfACustomWorkerCommand drills a worker started from
// stack.command, wired only through its environment (DESIGN.md: drilling a
// user's own worker). The worker here is firedrill's projector run as a
// plain command, without any of the flags the harness gives its own.
func TestDrillOfACustomWorkerCommand(t *testing.T) {
	root := drillEnv(t)
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../../scenarios/es_429_inject.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(string(src), "id: es_429_inject", "id: custom_worker", 1)
	yaml = strings.Replace(yaml, "stack:\n  projectors: 1\n", "stack:\n  projectors: 2\n  command: [\""+bin+"\", projector, --poll-interval, 20ms]\n", 1)
	if !strings.Contains(yaml, "command:") {
		t.Fatal("could not set stack.command in the scenario")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "custom_worker.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(context.Background(), "drill", "custom_worker", "--root", root, "--scenarios", dir)
	if code != exitOK {
		t.Fatalf("drill of a custom command: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	_, b := readResult(t, root, "custom_worker")
	var info drill.RunFile
	if err := bundle.ReadJSON(b.Path(drill.RunInfoFile), &info); err != nil {
		t.Fatal(err)
	}
	if info.Projectors != 2 {
		t.Errorf("got %d projectors, want 2", info.Projectors)
	}
}
